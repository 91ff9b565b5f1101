"""The provider registry: adding a provider is its module, its fixtures, and one line here."""

from __future__ import annotations

from gateway.providers import azakaw, compliancely, iof, tlas
from gateway.providers.base import Provider

REGISTRY: dict[str, Provider] = {
    p.name: p
    for p in (
        iof.PROVIDER,
        compliancely.PROVIDER,
        tlas.PROVIDER,
        azakaw.PROVIDER,
    )
}
