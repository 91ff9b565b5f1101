"""docs/providers.md against the code: the catalogue table has one row per preset, carrying the
preset's `docs` link and its `checked` and `handshake_doc` text exactly as the code has them; the
first table has a row per built-in; the preset counts in docs/providers.md and README.md are
`len(PRESETS)`. So the docs cannot fall behind the catalogue silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.providers import REGISTRY
from gateway.providers.catalogue import PRESETS
from gateway.providers.preset import Preset

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "providers.md").read_text()
README = (ROOT / "README.md").read_text()
CATALOGUE = "## The catalogue: providers known by name"
BUILT_INS = sorted(set(REGISTRY) - {preset.name for preset in PRESETS})


def section(heading: str) -> str:
    """The text under a `## ` heading, up to the next one."""
    start = DOC.index(heading) + len(heading)
    end = DOC.find("\n## ", start)
    return DOC[start:] if end < 0 else DOC[start:end]


def cells(row: str) -> list[str]:
    """A table row's cells. No cell of these tables holds a `|` (a code string that did would
    need escaping in Markdown, and this test would say so by failing to match it)."""
    return [cell.strip() for cell in row.strip().strip("|").split(" | ")]


def rows(text: str) -> list[list[str]]:
    """The rows of the tables in `text`, each table's header first (its `|---|` line left out)."""
    return [cells(line) for line in text.splitlines() if line.startswith("| ")]


CATALOGUE_ROWS = rows(section(CATALOGUE))
SCHEME_ROWS = rows(section("## Supported schemes"))
HEADER = ["`provider:`", "scheme", "envelope id", "type", "subject", "handshake",
          "checked against"]


def test_the_catalogue_table_has_the_columns_this_test_reads() -> None:
    assert CATALOGUE_ROWS[0] == HEADER


def rows_naming(name: str) -> list[list[str]]:
    return [row for row in CATALOGUE_ROWS if row[0].startswith(f"[`{name}`](")]


@pytest.mark.parametrize("preset", PRESETS, ids=[preset.name for preset in PRESETS])
def test_every_preset_has_one_row_as_the_code_says(preset: Preset) -> None:
    found = rows_naming(preset.name)
    assert len(found) == 1, f"docs/providers.md: {len(found)} catalogue rows for {preset.name}"
    row = dict(zip(HEADER, found[0], strict=True))
    assert row["`provider:`"] == f"[`{preset.name}`]({preset.docs})", "the row links its docs"
    assert preset.checked, f"{preset.name}: the preset says how it was checked (`checked=`)"
    assert preset.checked in row["checked against"], "the `checked=` string, verbatim"
    assert row["handshake"] == (preset.handshake_doc or "-"), "the `handshake_doc=` string"


def test_every_catalogue_row_is_a_preset() -> None:
    named = [re.match(r"\[`([^`]+)`\]\(", row[0]) for row in CATALOGUE_ROWS[1:]]
    assert all(named), "every row's first cell names its preset as [`name`](docs URL)"
    names = [match[1] for match in named if match]
    assert sorted(names) == sorted(preset.name for preset in PRESETS)


@pytest.mark.parametrize("name", BUILT_INS)
def test_every_built_in_has_a_row_in_the_first_table(name: str) -> None:
    assert [row for row in SCHEME_ROWS if row[0] == f"`{name}`"], \
        f"docs/providers.md: no row for the built-in {name} under 'Supported schemes'"


def test_the_preset_counts_are_the_catalogues() -> None:
    count = len(PRESETS)
    assert re.findall(r"(\d+) more are\s+presets known by name", DOC) == [str(count)], \
        "docs/providers.md's first paragraph counts the presets"
    assert re.findall(r"\| (\d+) more by name \|", README) == [str(count)], \
        "README.md's providers table counts the presets"
