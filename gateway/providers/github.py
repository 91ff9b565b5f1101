"""GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body (GitHub's docs,
"Validating webhook deliveries"). The legacy SHA-1 `X-Hub-Signature` is not accepted.

The event name is the `X-GitHub-Event` header, joined with the payload's `action` where there is
one (`issues` + `opened` -> `issues.opened`; `push` has none), so `events: ["issues.*", "push"]`
works. The envelope id is `X-GitHub-Delivery` (GitHub keeps it when a delivery is redelivered).
Both headers are outside the signature, as GitHub signs the body only; see docs/providers.md.
`ping` (sent when a webhook is created) is answered 200 "ignored" unless `publish_ping: true`.
"""

from __future__ import annotations

import json
import re
import uuid

import msgspec

from gateway.headers import Headers
from gateway.providers.base import Fields, Payload, Provider, text
from gateway.providers.published import published
from gateway.settings import SignedSourceConfig
from gateway.verify import Verifier, guarded
from gateway.verify.hmac import HmacSpec

SIGNATURE = HmacSpec(header="X-Hub-Signature-256", prefix="sha256=", require_prefix=True)
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
_EVENT_NAME = re.compile(r"^[a-z0-9_]{1,64}$")  # GitHub's names are snake_case: `pull_request`


class Config(SignedSourceConfig):
    publish_ping: bool = False


class Account(msgspec.Struct):
    login: str
    id: int


class Repository(msgspec.Struct):
    id: int
    full_name: str
    name: str | None = None
    private: bool | None = None
    owner: Account | None = None


class Installation(msgspec.Struct):
    id: int


class Event(msgspec.Struct):
    """What every GitHub webhook payload may carry; each event adds its own objects."""

    action: str | None = None
    repository: Repository | None = None
    organization: Account | None = None
    sender: Account | None = None
    installation: Installation | None = None


def verifier(cfg: Config) -> Verifier:
    keys = [secret.reveal() for secret in cfg.secrets]
    return guarded("hmac-sha256",
                   lambda headers, body, now: SIGNATURE.check(headers, body, now, keys))


def event_type(payload: Payload, headers: Headers) -> str | None:
    name = headers.get(EVENT_HEADER)
    if name is None or not _EVENT_NAME.match(name):
        return None
    action = payload.get("action")
    return f"{name}.{action}" if isinstance(action, str) and action else name


def extract(payload: Payload, headers: Headers) -> Fields:
    return Fields(
        type=event_type(payload, headers),
        id=headers.get(DELIVERY_HEADER) or None,
        # The repository (else the organization): one repository's events stay in order.
        subject=text(payload, "repository", "full_name") or text(payload, "organization", "login"),
    )


def ignores(cfg: Config, kind: str) -> bool:
    return kind == "ping" and not cfg.publish_ping


_EVENT_OF_SAMPLE = {"zen": "ping", "pusher": "push", "issue": "issues",
                    "pull_request": "pull_request"}


def sign(cfg: Config, body: bytes, now: float) -> dict[str, str]:
    try:  # the event header follows the sample's shape; any other body is sent as a ping
        payload = json.loads(body)
    except ValueError:
        payload = None
    keys = payload if isinstance(payload, dict) else {}
    event = next((name for key, name in _EVENT_OF_SAMPLE.items() if key in keys), "ping")
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + SIGNATURE.sign(cfg.secrets[0].reveal(), body, Headers()),
    }


_OCTOCAT = {"login": "octocat", "id": 1, "type": "User"}
_REPOSITORY = {"id": 1296269, "name": "Hello-World", "full_name": "octocat/Hello-World",
               "private": False, "owner": _OCTOCAT,
               "html_url": "https://github.com/octocat/Hello-World"}


def _issues_opened(now: float) -> bytes:
    number = int(now) % 10000
    return json.dumps({
        "action": "opened",
        "issue": {"url": f"https://api.github.com/repos/octocat/Hello-World/issues/{number}",
                  "number": number, "title": "Found a bug", "state": "open", "user": _OCTOCAT},
        "repository": _REPOSITORY,
        "sender": _OCTOCAT,
    }).encode()


def _push(now: float) -> bytes:
    after = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    return json.dumps({
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": after,
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "repository": _REPOSITORY,
        "sender": _OCTOCAT,
    }).encode()


def _ping(now: float) -> bytes:
    return json.dumps({
        "zen": "Keep it logically awesome.",
        "hook_id": int(now) % 100000000,
        "hook": {"type": "Repository", "active": True, "events": ["issues", "push"]},
        "repository": _REPOSITORY,
        "sender": _OCTOCAT,
    }).encode()


PROVIDER = Provider(
    name="github",
    config=Config,
    verifier=verifier,
    extract=extract,
    sign=sign,
    samples={"issues.opened": _issues_opened, "push": _push, "ping": _ping},
    payload=published(Event, "A GitHub webhook body as the gateway publishes it: the event type is "
                      "the X-GitHub-Event header (+ `action`)."),
    credential_headers=lambda cfg: (SIGNATURE.header, "X-Hub-Signature"),
    ignores=ignores,
)
