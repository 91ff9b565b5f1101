"""One exception tree: every exception class the package defines derives from GatewayError (drawn
in gateway/errors.py's docstring)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import gateway
from gateway.errors import GatewayError

# Not in the tree yet (gateway/errors.py would say so): each leaves this list when it joins.
OUTSIDE: set[str] = set()


def defined_exceptions() -> dict[str, type[BaseException]]:
    found = {}
    for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if module.name.startswith("gateway.__main__"):
            continue
        loaded = importlib.import_module(module.name)
        for name, value in vars(loaded).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.name):
                found[f"{module.name}.{name}"] = value
    return found


def test_every_gateway_exception_derives_from_the_base() -> None:
    found = defined_exceptions()
    assert "gateway.errors.StoreError" in found and "gateway.reload.ReloadError" in found
    outside = {name for name, cls in found.items() if not issubclass(cls, GatewayError)}
    assert outside <= OUTSIDE, f"not derived from GatewayError: {sorted(outside - OUTSIDE)}"


def test_the_list_of_exceptions_outside_the_tree_is_not_stale() -> None:
    found = defined_exceptions()
    assert {name for name in OUTSIDE if name in found and not issubclass(found[name], GatewayError)} == OUTSIDE


def test_every_exception_in_the_tree_is_drawn_in_the_docstring() -> None:
    import gateway.errors

    drawn = gateway.errors.__doc__ or ""
    for name, cls in defined_exceptions().items():
        assert cls.__name__ in drawn, f"{name} is missing from gateway/errors.py's docstring"
