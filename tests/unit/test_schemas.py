"""schemas/ is generated from the code's own types (`webhook-gateway schemas --out schemas`): the
committed files must equal what the code generates, and real envelopes must validate against them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from gateway import schemas
from tests.fixtures import load

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ACCEPTED = [f for f in load() if "envelope" in f.expect]


def test_committed_schemas_match_the_code() -> None:
    generated = schemas.generate()
    committed = {str(p.relative_to(SCHEMAS)) for p in SCHEMAS.rglob("*.json")}
    assert committed == set(generated), "run `make schemas` (webhook-gateway schemas --out schemas)"
    for name, schema in generated.items():
        on_disk = (SCHEMAS / name).read_text()
        assert on_disk == schemas.render(schema), f"schemas/{name} drifted: run `make schemas`"


def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.mark.parametrize("fixture", ACCEPTED, ids=lambda f: f.id)
def test_golden_envelope_validates(fixture) -> None:
    _validator("envelope.schema.json").validate(fixture.expect["envelope"])


@pytest.mark.parametrize("fixture", [f for f in ACCEPTED if (SCHEMAS / "providers" / f"{f.provider}.schema.json").exists()],
                         ids=lambda f: f.id)
def test_documented_payload_validates_against_its_provider_schema(fixture) -> None:
    _validator(f"providers/{fixture.provider}.schema.json").validate(fixture.expect["envelope"]["data"])


def test_envelope_schema_rejects_what_is_not_an_envelope() -> None:
    validator = _validator("envelope.schema.json")
    envelope = dict(ACCEPTED[0].expect["envelope"])
    del envelope["id"]
    assert not validator.is_valid(envelope)
