"""Name folding, canonical tokens, similarity, blocking keys and names from addresses."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway.matching.names import (
    HONORIFICS,
    NICKNAMES,
    address_matches_name,
    blocking_keys,
    fold,
    name_from_address,
    name_similarity,
    name_tokens,
    query_keys,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Łukasz Żółw", "lukasz zolw"),
        ("ŁUKASZ", "lukasz"),
        ("Małgorzata Wąsowska-Źdźbło", "malgorzata wasowska zdzblo"),
        ("Straße", "strasse"),
        ("Søren Ærø", "soren aero"),
        ("Đorđe", "dorde"),
        ("José Müller", "jose muller"),
        ("O'Brien, J.", "o brien j"),
        ('"Anna"  Kowalska (2)', "anna kowalska"),
        ("  ", ""),
        ("123-456", ""),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


def test_fold_bounds_input() -> None:
    assert fold("a" * 1000) == "a" * 300


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Anna Kowalska", ("anna", "kowalska")),
        ("Kowalska, Anna", ("anna", "kowalska")),
        ("dr inż. Anna Kowalska", ("anna", "kowalska")),
        ("Prof. dr hab. Jan Nowak", ("jan", "nowak")),
        ("Mr John Smith Jr.", ("john", "smith")),
        ("Pani Kasia Nowak", ("katarzyna", "nowak")),
        ("Gosia Wiśniewska", ("malgorzata", "wisniewska")),
        ("Tomek Kuba Bartek", ("tomasz", "jakub", "bartlomiej")),
        ("Bob Smith", ("robert", "smith")),
        ("Liz Taylor", ("elizabeth", "taylor")),
        ("Sepp Maier", ("josef", "maier")),
        ("A. Kowalska", ("a", "kowalska")),
        ("Anna Kowalska-Nowak", ("anna", "kowalska", "nowak")),
        ("Kowalska, Anna, PhD", ("kowalska", "anna")),  # two commas: order kept
        ("a b c d e f g h", ("a", "b", "c", "d", "e", "f")),
        ("Dr", ()),
        ("", ()),
    ],
)
def test_name_tokens(name: str, expected: tuple[str, ...]) -> None:
    assert name_tokens(name) == expected


def test_comma_order_gives_the_same_multiset() -> None:
    assert sorted(name_tokens("Kowalska, Anna")) == sorted(name_tokens("Anna Kowalska"))


@pytest.mark.parametrize(
    ("short", "formal"),
    [
        ("kasia", "katarzyna"),
        ("gosia", "malgorzata"),
        ("malgosia", "malgorzata"),
        ("ania", "anna"),
        ("asia", "joanna"),
        ("basia", "barbara"),
        ("ola", "aleksandra"),
        ("zosia", "zofia"),
        ("kuba", "jakub"),
        ("wojtek", "wojciech"),
        ("krzysiek", "krzysztof"),
        ("jedrek", "andrzej"),
        ("bill", "william"),
        ("peggy", "margaret"),
        ("ted", "edward"),
        ("hans", "johannes"),
        ("uli", "ulrich"),
    ],
)
def test_nicknames(short: str, formal: str) -> None:
    assert NICKNAMES[short] == formal


def test_nickname_table_is_folded_and_flat() -> None:
    assert 80 <= len(NICKNAMES) <= 200
    for short, formal in NICKNAMES.items():
        assert fold(short) == short
        assert fold(formal) == formal
        assert formal not in NICKNAMES  # no chains: one lookup reaches the formal name
        assert short not in HONORIFICS
    assert "marek" not in NICKNAMES
    assert "jacek" not in NICKNAMES


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        # identical after folding, reordering, titles or nicknames
        ("Łukasz Żółw", "Lukasz Zolw", 1.0, 1.0),
        ("Kasia Nowak", "Katarzyna Nowak", 1.0, 1.0),
        ("Kowalska, Anna", "Anna Kowalska", 1.0, 1.0),
        ("Kowalska Anna", "Anna Kowalska", 1.0, 1.0),
        ("dr inż. Anna Kowalska", "Anna Kowalska", 1.0, 1.0),
        ("Bob Smith", "Robert Smith", 1.0, 1.0),
        ("Tomek Wiśniewski", "Tomasz Wisniewski", 1.0, 1.0),
        # initials and extra parts: close, not certain
        ("A. Kowalska", "Anna Kowalska", 0.88, 0.92),
        ("Anna K.", "Anna Kowalska", 0.88, 0.92),
        ("Anna Maria Kowalska", "Anna Kowalska", 0.88, 0.92),
        ("Anna Kowalska-Nowak", "Anna Kowalska", 0.88, 0.92),
        ("J. R. Smith", "John Robert Smith", 0.8, 0.9),
        # typos and gender variants
        ("Jan Kowalski", "Jan Kowalska", 0.7, 0.94),
        ("Anna Kowalksa", "Anna Kowalska", 0.7, 0.95),
        ("Jon Smith", "John Smith", 0.7, 0.95),
        # different people
        ("Anna Kowalska", "Anna Nowak", 0.0, 0.69),
        ("Małgorzata Kowalska", "Małgorzata Nowak", 0.0, 0.69),
        ("Anna Kowalska", "Piotr Nowak", 0.0, 0.3),
        ("A. Kowalska", "Piotr Kowalski", 0.0, 0.3),
        ("A. K.", "Anna Kowalska", 0.0, 0.6),
        # a single token proves little
        ("Anna", "Anna", 0.75, 0.75),
        ("Kasia", "Katarzyna", 0.75, 0.75),
        ("Anna", "Anna Kowalska", 0.0, 0.75),
        # nothing to compare
        ("", "Anna Kowalska", 0.0, 0.0),
        ("Dr.", "Anna Kowalska", 0.0, 0.0),
        ("", "", 0.0, 0.0),
    ],
)
def test_name_similarity(a: str, b: str, low: float, high: float) -> None:
    forward, backward = name_similarity(a, b), name_similarity(b, a)
    assert forward == backward
    assert low <= forward <= high


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("A. Kowalska", "Anna Kowalska", 0.9),
        ("Anna Maria Kowalska", "Anna Kowalska", 0.9),
        ("A. Kowalska", "Anna Maria Kowalska", 0.85),
        ("J. R. Smith", "John Robert Smith", 0.85),
        ("J. R. Smith", "John Robert Smith Jones", 0.8),
        ("Jan Kowalski", "Jan Kowalska", 0.875),
    ],
)
def test_name_similarity_exact_values(a: str, b: str, expected: float) -> None:
    assert name_similarity(a, b) == expected


names = st.lists(
    st.sampled_from(["Anna", "A.", "Kowalska", "Nowak", "Kasia", "Jan", "Kowalski", "Ewa", "Ł"]),
    max_size=5,
).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(names, names)
def test_name_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    value = name_similarity(a, b)
    assert value == name_similarity(b, a)
    assert 0.0 <= value <= 1.0


def test_blocking_keys() -> None:
    assert blocking_keys("Anna", "Kowalska") == {"kowalska|a", "kowa~a"}
    assert blocking_keys("Kasia", "Nowak") == {"nowak|k", "nowa~k"}
    assert blocking_keys("Anna", "Kowalska-Nowak") == {
        "kowalska|a",
        "kowa~a",
        "nowak|a",
        "nowa~a",
    }
    assert blocking_keys("", "Nowak") == {"nowak|", "nowa~"}
    assert blocking_keys("Anna Kowalska", "") == {"kowalska|a", "kowa~a"}
    assert blocking_keys("Anna", "") == frozenset()
    assert blocking_keys("Anna", "O") == frozenset()
    assert blocking_keys("Łukasz", "Żółw") == {"zolw|l", "zolw~l"}


def test_blocking_keys_are_short() -> None:
    keys = blocking_keys("Anna", "x" * 250)
    assert keys
    assert all(len(key) <= 64 for key in keys)
    assert all(len(key) <= 64 for key in query_keys("Anna " + "x" * 250))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Anna Kowalska", {"kowalska|a", "kowa~a", "anna|k", "anna~k"}),
        ("Kowalska, Anna", {"kowalska|a", "kowa~a", "anna|k", "anna~k"}),
        ("A. Kowalska", {"kowalska|a", "kowa~a"}),
        ("Kasia Nowak", {"nowak|k", "nowa~k", "katarzyna|n", "kata~n"}),
        ("Anna", set()),
        ("", set()),
    ],
)
def test_query_keys(name: str, expected: set[str]) -> None:
    assert query_keys(name) == expected


def test_query_keys_consider_four_tokens() -> None:
    keys = query_keys("Anna Maria Ewa Zofia Kowalska")
    assert "zofia|a" in keys
    assert not any(key.startswith("kowa") for key in keys)


word = st.text(alphabet="abcdefghijklmnoprstuwyzłąęóśżźćńABCKLMNŁŚŻ", min_size=2, max_size=12)
part = st.lists(word, min_size=1, max_size=2).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(part, part)
def test_query_keys_find_blocking_keys_in_any_order(first: str, last: str) -> None:
    first_tokens, last_tokens = name_tokens(first), name_tokens(last)
    assume(first_tokens and last_tokens)
    assume(all(len(token) >= 2 for token in first_tokens + last_tokens))
    stored = blocking_keys(first, last)
    assert stored & query_keys(f"{first} {last}")
    assert stored & query_keys(f"{last}, {first}")
    assert stored & query_keys(f"{last} {first}")


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("anna.kowalska@example.com", "anna kowalska"),
        ("Anna_Kowalska@example.com", "anna kowalska"),
        ("anna-kowalska@example.com", "anna kowalska"),
        ("a.kowalska@example.com", "a kowalska"),
        ("anna.maria.kowalska@example.com", "anna maria kowalska"),
        ("anna.kowalska+crm@example.com", "anna kowalska"),
        ("akowalska@example.com", ""),
        ("jk1987@example.com", ""),
        ("jan.k1987@example.com", ""),
        ("info@example.com", ""),
        ("anna.@example.com", ""),
        ("a.bardzodlugienazwiskoponad@example.com", ""),
        ("", ""),
    ],
)
def test_name_from_address(email: str, expected: str) -> None:
    assert name_from_address(email) == expected


@pytest.mark.parametrize(
    ("email", "name", "expected"),
    [
        ("anna.kowalska@x.pl", "Anna Kowalska", True),
        ("annakowalska@x.pl", "Anna Kowalska", True),
        ("akowalska@x.pl", "Anna Kowalska", True),
        ("kowalska.anna@x.pl", "Anna Kowalska", True),
        ("annak@x.pl", "Anna Kowalska", True),
        ("a.kowalska@x.pl", "Kowalska, Anna", True),
        ("lukasz.zolw@x.pl", "Łukasz Żółw", True),
        ("kasia.nowak@x.pl", "Kasia Nowak", True),  # raw tokens
        ("bob.smith@x.com", "Bob Smith", True),
        ("robert.smith@x.com", "Bob Smith", True),  # canonical tokens
        ("anna.nowak@x.pl", "Anna Kowalska-Nowak", True),
        ("anna.kowalska@x.pl", "dr Anna Kowalska", True),
        ("piotr.nowak@x.pl", "Anna Kowalska", False),
        ("akowalski@x.pl", "Anna Kowalska", False),
        ("info@x.pl", "Anna Kowalska", False),
        ("anna@x.pl", "Anna", False),
        ("anna@x.pl", "Anna Kowalska", False),
        ("", "Anna Kowalska", False),
    ],
)
def test_address_matches_name(email: str, name: str, expected: bool) -> None:
    assert address_matches_name(email, name) is expected
