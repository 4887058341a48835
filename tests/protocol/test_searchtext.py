"""Search text as FTS5 queries: what each rule makes, and that no typed text breaks FTS5's syntax."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import searchtext
from protocol.searchtext import SearchTextError, fts_query, segments


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='unicode61 remove_diacritics 2')")
    db.executemany(
        "INSERT INTO t (text) VALUES (?)",
        [("the Café opens at nine",), ("he said AND left",), ('quote "NEAR(x y)" here',), ("hello world",)],
    )
    return db


def match(db: sqlite3.Connection, text: str) -> list[str]:
    return [r[0] for r in db.execute("SELECT text FROM t WHERE t MATCH ? ORDER BY rowid", (fts_query(text),))]


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("hello", '"hello"*'),
        ("hello ", '"hello"'),
        ("hello wor", '"hello" "wor"*'),
        ('"opens at" nine', '"opens at" "nine"*'),
        ('nine "opens at"', '"nine" "opens at"'),
        ('say "unfinished phrase', '"say" "unfinished phrase"'),
        ('a"b', '"a""b"*'),  # a quote inside a word is part of it (FTS5 splits the tokens)
        ("nul\x00byte", '"nul" "byte"*'),
        ("it's", '"it\'s"*'),
        ("AND OR NOT", '"AND" "OR" "NOT"*'),
        ("?! hello", '"hello"*'),
        ("  many   spaces  ", '"many" "spaces"'),
    ],
)
def test_queries(typed: str, query: str) -> None:
    assert fts_query(typed) == query


def test_rules_against_fts5(fts: sqlite3.Connection) -> None:
    assert match(fts, "cafe") == ["the Café opens at nine"]  # case and accents folded
    assert match(fts, "CAF") == ["the Café opens at nine"]  # the last word a prefix
    assert match(fts, '"caf"') == []  # not when quoted
    assert match(fts, "caf ") == []  # nor when the text ends with a space
    assert match(fts, '"opens at"') == ["the Café opens at nine"]
    assert match(fts, '"at opens"') == []  # a phrase keeps its order
    assert match(fts, "nine cafe") == ["the Café opens at nine"]  # every word, any order
    assert match(fts, "nine hello") == []
    assert match(fts, "AND") == ["he said AND left"]  # operators are words
    assert match(fts, "NEAR(x") == ['quote "NEAR(x y)" here']


@pytest.mark.parametrize("typed", ["", " ", "?!", '"', '""', '" "', "*", "(", ")", "-- ...", "^", "💥"])
def test_nothing_to_search_for_is_one_sentence(typed: str) -> None:
    with pytest.raises(
        SearchTextError, match=r"^Search for at least one word with a letter or a digit in it\.$"
    ):
        fts_query(typed)


def test_too_long_is_refused() -> None:
    fts_query("a" * 500)
    with pytest.raises(SearchTextError, match=r"^Search for at most 500 characters"):
        fts_query("a" * 501)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_no_typed_text_breaks_fts5(text: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO t (text) VALUES (?)", (text,))
    try:
        q = fts_query(text)
    except SearchTextError:
        return
    db.execute("SELECT count(*) FROM t WHERE t MATCH ?", (q,)).fetchone()  # never an OperationalError


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=12))
def test_any_word_finds_itself(word: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO t (text) VALUES (?)", (f"x {word} y",))
    assert db.execute("SELECT count(*) FROM t WHERE t MATCH ?", (fts_query(word),)).fetchone()[0] == 1


def test_segments_and_clean() -> None:
    s = f"a {searchtext.OPEN}b{searchtext.CLOSE} c {searchtext.OPEN}d{searchtext.CLOSE}"
    assert segments(s) == (("a ", False), ("b", True), (" c ", False), ("d", True))
    assert segments("") == ()
    assert searchtext.clean(f"x{searchtext.OPEN}y{searchtext.CLOSE}z") == "x y z"
