"""Untrusted text is shown literally: no escape sequences, bidi overrides or invisible characters."""

from __future__ import annotations

from protocol.display import safe, safe_name, short_key


def test_controls_and_bidi_are_made_visible() -> None:
    assert safe("red \x1b[31mtext") == "red \\u001b[31mtext"
    assert safe("abc\u202edef") == "abc\\u202edef"
    assert safe("zero\u200bwidth") == "zero\\u200bwidth"
    assert safe("two\nlines") == "two\\u000alines"
    assert safe("two\nlines", keep_newlines=True) == "two\nlines"
    assert safe("[/b] ünïcode ✓ 🎉") == "[/b] ünïcode ✓ 🎉"


def test_names_are_cut_and_keys_shortened_one_way() -> None:
    assert safe_name("x" * 100) == "x" * 31 + "…"
    key = "12D3KooWBwysBenJ7awDsMb26atxf3StKbRF5skCRZtCxP4KoiZM"
    assert short_key(key) == "12D3KooW…4KoiZM"
