"""The configuration file (DESIGN.md), validated with pydantic at start-up.

A file that cannot be used raises ConfigError with one message naming the file and every place
that is wrong (`sources.iof.secrets[0]: environment variable IOF_WEBHOOK_SECRET is not set`).
The sections and what every source shares are gateway.settings; each provider brings its own
source model (gateway.providers), and `sources:` is validated by the union of those models, told
apart by `provider:`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    GetPydanticSchema,
    IPvAnyNetwork,
    PlainValidator,
    PrivateAttr,
    Tag,
    ValidationError,
)

from gateway.errors import ConfigError
from gateway.providers import REGISTRY
from gateway.settings import (
    Admin,
    Audit,
    KafkaSettings,
    Limits,
    Listen,
    Model,
    NoneAuth,
    SourceConfig,
    Storage,
)

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# The union's members that only report a mistake; their tags cannot be a provider's name.
BAD_NAME, NOT_A_MAPPING, UNKNOWN_PROVIDER = "!name", "!mapping", "!provider"
_BAD_NAME = object()  # stands in for a source whose name is unusable: that is its one message


def _named(sources: Any) -> Any:
    # Names are YAML keys, so `123:` is the name "123", not a type error.
    if not isinstance(sources, dict):
        return sources  # pydantic says what is wrong with it
    return {str(name): raw if SOURCE_NAME.match(str(name)) else _BAD_NAME
            for name, raw in sources.items()}


def _provider_of(raw: Any) -> str:
    """The tag of the union member that validates a source: its provider's name, or a mistake."""
    if raw is _BAD_NAME:
        return BAD_NAME
    if isinstance(raw, SourceConfig):  # a model, not a file (a Config built in code)
        return raw.provider
    if not isinstance(raw, dict):
        return NOT_A_MAPPING
    provider = raw.get("provider")
    return provider if isinstance(provider, str) and provider in REGISTRY else UNKNOWN_PROVIDER


def _refuse(message: str) -> PlainValidator:
    def refuse(raw: Any) -> None:
        raise ValueError(message)

    return PlainValidator(refuse)


def _unknown(provider: Any) -> None:
    what = f"unknown provider {provider!r}" if provider else "`provider:` is missing"
    raise ValueError(f"{what} (known: {', '.join(sorted(REGISTRY))})")


class _UnknownProvider(BaseModel):
    """A source whose provider is not known gets one message, at `provider`, whatever else it has."""

    provider: Annotated[Any, AfterValidator(_unknown)] = Field(None, validate_default=True)


_MEMBERS: tuple[Any, ...] = (
    *(Annotated[provider.config, Tag(name)] for name, provider in REGISTRY.items()),
    Annotated[Any, _refuse("a source name is lower-case letters, digits, - and _ "
                           "(it is a URL path)"), Tag(BAD_NAME)],
    Annotated[Any, _refuse("expected a mapping with `provider:`"), Tag(NOT_A_MAPPING)],
    Annotated[_UnknownProvider, Tag(UNKNOWN_PROVIDER)],
)
# One dict lookup on the tag picks the model; mypy sees the base class every member extends.
# (`Union[...]` of a tuple: `|` cannot spell a union built at run time.)
_UNION: Any = Annotated[Union[_MEMBERS], Discriminator(_provider_of)]  # noqa: UP007
AnySource = Annotated[SourceConfig, GetPydanticSchema(lambda _, handler: handler(_UNION))]


class Config(Model):
    """A configuration as validated: what every part of the gateway reads."""

    listen: Listen = Listen()
    kafka: KafkaSettings = KafkaSettings()
    storage: Storage = Storage()
    admin: Admin = Admin()
    audit: Audit = Audit()
    limits: Limits = Limits()
    trusted_proxies: list[IPvAnyNetwork] = []  # peers whose X-Forwarded-For is believed
    sources: Annotated[dict[str, AnySource], Field(min_length=1), BeforeValidator(_named)]
    # Private, so a file cannot set them: where it was read from, what check-config and serve warn.
    _path: Path | None = PrivateAttr(None)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def warnings(self) -> list[str]:
        return self._warnings


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read the configuration file: {reason}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None
    return parse_config(data, path)


def parse_config(data: Any, path: Path | None = None) -> Config:
    where = str(path) if path else "configuration"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the file must be a YAML mapping with at least `sources:`")
    context: dict[str, Any] = {}
    try:
        config = Config.model_validate(data, context=context)
    except ValidationError as exc:
        # The producer options are named too when the rest is wrong: every problem at once.
        kafka = _valid_kafka(data.get("kafka", {}))
        raise _invalid(where, _describe(exc) + _kafka_options(kafka)) from None
    problems = _kafka_options(config.kafka)
    if problems:
        raise _invalid(where, problems)
    config._path = path
    config._warnings = [f"sources.{name}: auth type none: anyone can post events"
                        for name, source in config.sources.items()
                        if isinstance(getattr(source, "auth", None), NoneAuth)]
    if context.get("literal_secrets"):
        config._warnings.append(
            "a secret is written literally in the file; prefer env: or file: references")
    return config


def _invalid(where: str, problems: list[str]) -> ConfigError:
    return ConfigError(f"{where}: invalid configuration\n" + "\n".join(f"  {p}" for p in problems))


def _valid_kafka(raw: Any) -> KafkaSettings | None:
    try:
        return KafkaSettings.model_validate(raw, context={})
    except ValidationError:
        return None  # its problems are among the configuration's


def _kafka_options(kafka: KafkaSettings | None) -> list[str]:
    # Imported here, not at the top: a client's option names come with the client library, and
    # confluent-kafka is an optional install.
    if kafka is None:
        return []
    if kafka.client == "confluent-kafka":
        try:
            from gateway.publish.confluent import OPTIONS
        except ImportError:
            return ["kafka.client: confluent-kafka is not installed (pip install confluent-kafka)"]
        return [f"kafka.{key}: not supported with client confluent-kafka" for key in
                kafka.producer_options if key not in OPTIONS]
    from gateway.publish.kafka import PRODUCER_OPTIONS

    return [f"kafka.{key}: not a kafka producer option" for key in kafka.producer_options
            if key not in PRODUCER_OPTIONS]


def _describe(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        place = _place(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        elif error["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{place}: {message}")
    return lines


def _place(loc: tuple[int | str, ...]) -> str:
    if len(loc) > 2 and loc[0] == "sources":
        loc = loc[:2] + loc[3:]  # the union's tag (the provider's name) is no key of the file
    text = ""
    for part in loc:
        if isinstance(part, int):  # a list index; a source named `123` stays a name
            text += f"[{part}]"
        elif part not in ("none", "api_key", "basic") or not text.endswith("auth"):
            text += f".{part}" if text else part
    return text
