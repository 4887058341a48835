"""Attacks from the spec on names and text (issue 10, item 10): invisible characters.

protocol.md section 5 lets a member announce any display name (presence ``nm``) and name a
circle with anything at or above U+0020 but U+007F. "bob" plus an invisible suffix (a tag
character, a variation selector, a Hangul filler, a soft hyphen, ...) was shown as "bob",
and, being a different string, without the key that the TUI shows beside a name that looks
like a contact's. And ``--json`` printed C1 and bidi controls raw into the terminal.

Now every control, format (Cf), line/paragraph separator (Zl, Zp), surrogate and
default-ignorable code point is written as a visible ``\\uXXXX``; names are compared for
look-alikes after dropping those, NFKC and case-folding; and every JSON line the CLI prints
is pure ASCII.
"""

from __future__ import annotations

import json
import subprocess
import unicodedata
from pathlib import Path

import pytest

from protocol.display import name_key, safe, safe_name
from protocol.identity import Identity, peer_id
from smallsocial_tui.app.model import State
from smallsocial_tui.nodeproc import cli_env, run_cli
from smallsocial_tui.text import short_key

pytestmark = pytest.mark.timeout(120)

# Default_Ignorable_Code_Point, from Unicode's DerivedCoreProperties.txt (written out here,
# not taken from the code under test).
DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
]  # fmt: skip


def _invisible() -> list[str]:
    out = {chr(o) for lo, hi in DEFAULT_IGNORABLE for o in range(lo, hi + 1)}
    for o in range(0x110000):
        if unicodedata.category(chr(o)) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            out.add(chr(o))
    return sorted(out)


INVISIBLE = _invisible()
BOB = Identity.from_seed(b"\x02" * 32).public_key
MALLORY = Identity.from_seed(b"\x66" * 32).public_key
LOOKALIKES = [
    "bob\U000e0001",  # LANGUAGE TAG
    "bob\U000e0062\U000e007f",  # tag "b", CANCEL TAG
    "bob\u2060",  # WORD JOINER
    "b\u00adob",  # SOFT HYPHEN
    "bob\ufe0f",  # VARIATION SELECTOR-16
    "bob\U000e0100",  # VARIATION SELECTOR-17
    "bob\u3164",  # HANGUL FILLER (a letter, Lo, drawn as nothing)
    "bob\u034f",  # COMBINING GRAPHEME JOINER
    "bob\u180e",  # MONGOLIAN VOWEL SEPARATOR
    "bob\u2028",  # LINE SEPARATOR
    "\u202ebob",  # RIGHT-TO-LEFT OVERRIDE
    "ｂｏｂ",  # fullwidth: the same name after NFKC
    "BOB",
    " bob ",
]


def test_safe_shows_every_invisible_code_point_visibly() -> None:
    assert len(INVISIBLE) > 4000
    for ch in INVISIBLE:
        for shown in (safe(f"a{ch}b"), safe(f"a{ch}b", keep_newlines=True), safe_name(f"a{ch}b", 64)):
            assert ch not in shown or (ch == "\n" and shown == f"a{ch}b"), (hex(ord(ch)), shown)
            assert "\\u" in shown or "\\U" in shown or ch == "\n", hex(ord(ch))
    # The one exception: an emoji's presentation selector in message text (visible anyway).
    assert safe("\u2764\ufe0f") == "\u2764\ufe0f"
    assert safe_name("\u2764\ufe0f") == "\u2764\\ufe0f" and safe("b\ufe0f") == "b\\ufe0f"


@pytest.mark.parametrize("name", LOOKALIKES)
def test_a_name_that_looks_like_a_contact_is_shown_with_its_key(name: str) -> None:
    st = State()
    st.me, st.name = Identity.from_seed(b"\x01" * 32).public_key, "alice"
    st.contacts = {BOB: "bob"}
    st.names = {MALLORY: name}
    shown = st.who(MALLORY)
    assert short_key(peer_id(MALLORY)) in shown, (name, shown)
    assert name_key(name) == "bob"
    for ch in INVISIBLE:
        assert ch not in shown
    # and one that only looks like my own name
    st.names = {MALLORY: "ali\u200bce\U000e0020"}
    assert short_key(peer_id(MALLORY)) in st.who(MALLORY)
    # a name that is really different is shown without the key
    st.names = {MALLORY: "bobby"}
    assert st.who(MALLORY) == "bobby"


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    p = run_cli(args, cli_env(data, "alice"), text=False)
    assert p.returncode == 0 and b"Traceback" not in p.stderr, (args, p.stderr)
    return p


def _pure_ascii(out: bytes) -> None:
    assert all(0x20 <= b < 0x7F or b == 0x0A for b in out), [hex(b) for b in out if not 0x20 <= b < 0x7F]


def test_json_output_is_pure_ascii_and_means_the_same(tmp_path: Path) -> None:
    nasty = "club\x85\u202e\u2066x\u00e9\U000e0041\x7f"[:-1]  # circle names refuse U+007F
    text = "hi \x7f\x9b31m \u202eevil\u2069 \U000e0062ob caf\u00e9 \u2764\ufe0f"
    _cli(tmp_path, "id", "--name", "alice\u200b")
    _cli(tmp_path, "circle", "new", nasty)
    listed = _cli(tmp_path, "circle", "list", "--json").stdout
    _pure_ascii(listed)
    assert json.loads(listed)[0]["name"] == nasty
    sent = _cli(tmp_path, "send", nasty, text, "--json").stdout
    _pure_ascii(sent)
    log = _cli(tmp_path, "log", nasty, "--json").stdout
    _pure_ascii(log)
    assert [json.loads(line)["text"] for line in log.splitlines()] == [text]
    # the text forms escape every invisible character too
    for args in (("circle", "list"), ("log", nasty)):
        shown = _cli(tmp_path, *args).stdout.decode()
        for ch in "\x85\u202e\u2066\U000e0041\U000e0062\x7f\x9b\u2069":
            assert ch not in shown, (args, hex(ord(ch)))
