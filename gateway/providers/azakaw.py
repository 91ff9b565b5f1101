"""azakaw (seed 004): one webhook per tenant, authenticated by `none`, an API key or HTTP Basic.

azakaw signs nothing, so each source must spell out its `auth:`; `type: none` is accepted only
when written (and warned about). Events carry no id: the envelope id is the SHA-256 of the body.
`Type` is PascalCase and is snake-cased: `RiskAssessmentCalculated` -> `risk_assessment_calculated`.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from typing import Literal

import msgspec

from gateway.headers import Headers
from gateway.providers.base import Fields, Payload, Provider, text
from gateway.providers.published import EVENT_TYPE, published
from gateway.settings import ApiKeyAuth, Auth, BasicAuth, NoneAuth, SourceConfig
from gateway.verify import Verifier, credentials

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class Config(SourceConfig):
    tenant: str
    auth: Auth


class Approver(msgspec.Struct):
    Id: str
    Name: str | None = None
    Email: str | None = None
    Roles: list[str] = []


class RiskAssessmentCalculated(msgspec.Struct, tag_field="Type", tag="RiskAssessmentCalculated"):
    RiskAssessmentId: str
    SubmissionId: str
    Risk: Literal["Low", "Medium", "High"] | str
    ClientRating: Literal["Retail", "Professional", "N/A"] | str


class ProfileStatusUpdated(msgspec.Struct, tag_field="Type", tag="ProfileStatusUpdated"):
    RiskAssessmentId: str
    SubmissionId: str
    Status: str
    ApprovedBy: Approver | None = None


Event = RiskAssessmentCalculated | ProfileStatusUpdated


@functools.lru_cache(maxsize=256)  # a handful of types, each seen again and again: one regex run each
def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def verifier(cfg: Config) -> Verifier:
    auth = cfg.auth
    if isinstance(auth, ApiKeyAuth):
        return credentials.api_key(auth.header, [k.reveal() for k in auth.key], auth.scheme)
    if isinstance(auth, BasicAuth):
        return credentials.basic(auth.username.encode(), [p.reveal() for p in auth.password])
    assert isinstance(auth, NoneAuth)
    return credentials.none()


def extract(payload: Payload, headers: Headers) -> Fields:
    kind = text(payload, "Type")
    return Fields(type=snake(kind) if kind else None, subject=text(payload, "SubmissionId"))


def sign(cfg: Config, body: bytes, now: float) -> dict[str, str]:
    auth = cfg.auth
    if isinstance(auth, ApiKeyAuth):
        key = auth.key[0].reveal().decode()
        return {auth.header: f"{auth.scheme} {key}" if auth.scheme else key}
    if isinstance(auth, BasicAuth):
        return credentials.basic_header(auth.username.encode(), auth.password[0].reveal())
    return {}


def credential_headers(cfg: Config) -> tuple[str, ...]:
    return (cfg.auth.header,) if isinstance(cfg.auth, ApiKeyAuth) else ()


def _risk_assessment(now: float) -> bytes:
    return json.dumps({
        "Type": "RiskAssessmentCalculated",
        "RiskAssessmentId": str(uuid.uuid4()),
        "SubmissionId": str(uuid.uuid4()),
        "Risk": "Low",
        "ClientRating": "Retail",
    }).encode()


def _profile_status(now: float) -> bytes:
    return json.dumps({
        "Type": "ProfileStatusUpdated",
        "RiskAssessmentId": str(uuid.uuid4()),
        "SubmissionId": str(uuid.uuid4()),
        "Status": "Approved",
        "ApprovedBy": {"Id": str(uuid.uuid4()), "Name": "Noelani Alfreda Boone William",
                       "Email": "tazixog@yopmail.com", "Roles": ["MLRO"]},
    }).encode()


PROVIDER = Provider(
    name="azakaw",
    config=Config,
    verifier=verifier,
    extract=extract,
    sign=sign,
    samples={"risk_assessment_calculated": _risk_assessment,
             "profile_status_updated": _profile_status},
    payload=published(Event, "An azakaw webhook body as the gateway publishes it: the event type in "
                      "`Type`.", Type=EVENT_TYPE),
    credential_headers=credential_headers,
)
