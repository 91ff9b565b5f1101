"""JSON Pointer (RFC 6901) as configured mappings use it: the RFC's own examples, and mistakes
caught when the configuration is read rather than when an event arrives."""

from __future__ import annotations

import re

import pytest

from gateway import pointer

# RFC 6901 section 5, the document and every pointer it lists.
DOCUMENT = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5,
            'k"l': 6, " ": 7, "m~n": 8}
RFC_EXAMPLES = [
    ("", DOCUMENT), ("/foo", ["bar", "baz"]), ("/foo/0", "bar"), ("/", 0), ("/a~1b", 1),
    ("/c%d", 2), ("/e^f", 3), ("/g|h", 4), ("/i\\j", 5), ('/k"l', 6), ("/ ", 7), ("/m~0n", 8),
]


@pytest.mark.parametrize(("text", "expected"), RFC_EXAMPLES,
                         ids=[t or "<whole>" for t, _ in RFC_EXAMPLES])
def test_the_rfc_examples_resolve(text: str, expected: object) -> None:
    assert pointer.resolve(DOCUMENT, pointer.parse(text)) == expected


@pytest.mark.parametrize("text", ["/missing", "/foo/2", "/foo/-", "/foo/01", "/foo/x",
                                  "/foo/0/deeper", "/a~1b/c"])
def test_a_pointer_that_leads_nowhere_is_none_not_an_error(text: str) -> None:
    assert pointer.resolve(DOCUMENT, pointer.parse(text)) is None


def test_tilde_one_then_zero_is_not_double_unescaped() -> None:
    # RFC 6901: `~01` is `~1` (the literal key), not `/`.
    assert pointer.parse("/~01") == ("~1",)


@pytest.mark.parametrize(("text", "says"), [
    ("data/id", "must start with `/`"),
    ("#/data/id", "URI fragment"),
    ("/data~2id", "`~` must be followed by 0 or 1"),
    ("/data~", "`~` must be followed by 0 or 1"),
])
def test_unparsable_pointers_are_explained(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))) as raised:
        pointer.parse(text)
    assert says in str(raised.value)
