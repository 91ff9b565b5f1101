"""Driving Debian's headless Chromium and reading what it rendered: shared by the page tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs"
needs_chromium = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")),
    reason=f"no chromium at {CHROMIUM}: `make test` installs Debian's package (apt-get install chromium)")


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=90)


def dump_dom(profile: Path, url: str) -> str:
    """The DOM after the page loaded (and after any script it ran: an injected one would show)."""
    dom = chromium(profile, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout


def screenshot(profile: Path, url: str, shot: Path, size: str) -> None:
    """Taken, then kept in docs/ when it is missing there or UPDATE_DOCS_SCREENSHOT is set."""
    taken = chromium(profile, f"--screenshot={shot}", f"--window-size={size}", "--hide-scrollbars", url)
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    kept = DOCS / shot.name
    if not kept.exists() or os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(shot, kept)  # docs/operations.md shows it


class Tables(HTMLParser):
    """Rows of every table with an id ({table id: [[cell text, ...], ...]}), each row's `data-*`
    attributes beside it, and the bars of every chart ({svg id: [(data-key, data-count), ...]})."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.row_attrs: dict[str, list[dict[str, str | None]]] = {}
        self.bars: dict[str, list[tuple[str, int]]] = {}
        self.text: dict[str, str] = {}  # text of elements with an id other than tables
        self._table: str | None = None
        self._svg: str | None = None
        self._cell: list[str] | None = None
        self._element: tuple[str, str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("id"):
            self._table = found["id"]
            self.tables[self._table] = []
            self.row_attrs[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
            self.row_attrs[self._table].append({k: v for k, v in found.items() if k.startswith("data-")})
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "svg" and found.get("id"):
            self._svg = found["id"]
            self.bars[self._svg] = []
        elif tag == "rect" and self._svg is not None:
            self.bars[self._svg].append((found.get("data-key") or "", int(found.get("data-count") or 0)))
        elif found.get("id") and self._element is None and self._table is None:
            self._element = (tag, found["id"] or "", [])

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._element is not None:
            self._element[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "svg":
            self._svg = None
        elif self._element is not None and tag == self._element[0]:
            self.text[self._element[1]] = "".join(self._element[2]).strip()
            self._element = None


def parse(html: str) -> Tables:
    page = Tables()
    page.feed(html)
    return page
