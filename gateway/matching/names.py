"""Person names for contact matching: folding, canonical tokens, similarity and blocking keys.

Everything here is pure and bounded: inputs are cut to ``MAX_NAME_CHARS`` characters and names
to ``MAX_TOKENS`` tokens, so a hostile display name cannot make matching slow.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from functools import lru_cache

from rapidfuzz import fuzz

MAX_NAME_CHARS = 300
MAX_TOKENS = 6
MAX_QUERY_TOKENS = 4
MAX_KEY_TOKEN_CHARS = 60  # keeps every key within 64 characters
MAX_ADDRESS_PART = 20
SINGLE_TOKEN_CAP = 0.75
INITIAL_MATCH = 0.9
EXHAUSTIVE_PAIRING = 4  # unmatched tokens up to which every pairing is tried (4P4 = 24)

# Letters that Unicode decomposition leaves alone.
_SPECIAL_LETTERS = str.maketrans({"ł": "l", "ß": "ss", "ø": "o", "æ": "ae", "đ": "d", "œ": "oe"})
_ADDRESS_SEPARATORS = re.compile(r"[._-]+")
_NON_LETTERS = re.compile(r"[\W\d_]+")
# Names recur (the same contacts are candidates again and again): folding is cached.
CACHE_SIZE = 65_536

# Formal first name (folded) -> its diminutives (folded).
_DIMINUTIVES: dict[str, tuple[str, ...]] = {
    # Polish
    "katarzyna": ("kasia", "kasienka", "kaska", "kasiunia"),
    "malgorzata": ("gosia", "malgosia", "gosienka", "malgosienka"),
    "anna": ("ania", "anka", "anusia", "aneczka"),
    "joanna": ("asia", "joasia", "aska"),
    "barbara": ("basia", "baska"),
    "aleksandra": ("ola", "olenka"),
    "aleksander": ("olek", "oles"),
    "magdalena": ("magda", "madzia"),
    "ewa": ("ewka", "ewunia"),
    "agnieszka": ("aga", "agusia"),
    "urszula": ("ula", "ulka"),
    "dorota": ("dorotka", "dora"),
    "zofia": ("zosia", "zoska"),
    "elzbieta": ("ela", "elka", "elunia"),
    "krystyna": ("krysia",),
    "jadwiga": ("jadzia",),
    "hanna": ("hania", "hanka"),
    "maria": ("marysia", "maryska"),
    "zuzanna": ("zuzia",),
    "danuta": ("danusia", "danka"),
    "izabela": ("iza",),
    "monika": ("monia",),
    "tomasz": ("tomek", "tomus"),
    "jakub": ("kuba", "kubus"),
    "bartlomiej": ("bartek", "bartus"),
    "wojciech": ("wojtek",),
    "michal": ("michas", "misiek"),
    "pawel": ("pawelek",),
    "krzysztof": ("krzysiek", "krzys"),
    "jerzy": ("jurek",),
    "stanislaw": ("staszek", "stas"),
    "grzegorz": ("grzesiek", "grzes"),
    "piotr": ("piotrek",),
    "maciej": ("maciek",),
    "lukasz": ("lukaszek",),
    "franciszek": ("franek",),
    "andrzej": ("jedrek",),
    "antoni": ("antek",),
    "witold": ("witek",),
    "slawomir": ("slawek",),
    "radoslaw": ("radek",),
    "przemyslaw": ("przemek",),
    "ryszard": ("rysiek",),
    "tadeusz": ("tadek",),
    "kazimierz": ("kazik",),
    "zbigniew": ("zbyszek",),
    "miroslaw": ("mirek",),
    "wlodzimierz": ("wlodek",),
    "dariusz": ("darek",),
    "jaroslaw": ("jarek",),
    "henryk": ("heniek",),
    "wieslaw": ("wiesiek",),
    # English
    "robert": ("bob", "rob", "robby", "robbie", "bobby"),
    "william": ("bill", "will", "billy", "willy"),
    "elizabeth": ("liz", "beth", "betty", "lizzy", "lizzie"),
    "michael": ("mike", "mick", "mikey"),
    "thomas": ("tom", "tommy"),
    "james": ("jim", "jimmy"),
    "david": ("dave",),
    "daniel": ("dan", "danny"),
    "katherine": ("kate", "katie", "cathy", "kathy"),
    "jennifer": ("jen", "jenny"),
    "christopher": ("chris",),
    "alexander": ("alex",),
    "samuel": ("sam", "sammy"),
    "joseph": ("joe", "joey"),
    "benjamin": ("ben", "benny"),
    "nicholas": ("nick", "nicky"),
    "anthony": ("tony",),
    "steven": ("steve",),
    "matthew": ("matt",),
    "andrew": ("andy", "drew"),
    "peter": ("pete",),
    "richard": ("rick", "dick", "ricky"),
    "edward": ("ted", "ed", "eddie", "edek"),
    "susan": ("sue", "susie"),
    "margaret": ("maggie", "meg", "peggy"),
    "jessica": ("jess", "jessie"),
    "rebecca": ("becky",),
    "nathan": ("nate",),
    "gregory": ("greg",),
    "timothy": ("tim",),
    "kenneth": ("ken",),
    "ronald": ("ron",),
    "donald": ("don",),
    "jacob": ("jake",),
    "joshua": ("josh",),
    "deborah": ("debbie",),
    "victoria": ("vicky",),
    # German
    "johannes": ("hans", "hannes"),
    "josef": ("sepp", "jupp"),
    "stefanie": ("steffi",),
    "ulrich": ("uli",),
    "friedrich": ("fritz",),
    "gabriele": ("gabi",),
    "andreas": ("andi",),
}

NICKNAMES: dict[str, str] = {
    short: formal for formal, shorts in _DIMINUTIVES.items() for short in shorts
}
"""Folded diminutive -> folded formal first name."""

HONORIFICS: frozenset[str] = frozenset(
    {"dr", "mgr", "inz", "prof", "hab", "mr", "mrs", "ms", "miss", "pan", "pani", "herr", "frau"}
    | {"sir", "phd", "msc", "mba", "jr", "sr", "ii", "iii"}
)
"""Folded tokens that are titles, not names."""


@lru_cache(maxsize=CACHE_SIZE)
def fold(text: str) -> str:
    """Lower-case ASCII-ish letters separated by single spaces: "Łukasz Żółw-Nowak" -> "lukasz
    zolw nowak". Diacritics are dropped and every non-letter becomes a separator."""
    letters = text[:MAX_NAME_CHARS].lower()
    if not letters.isascii():
        decomposed = unicodedata.normalize("NFKD", letters)
        letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        letters = letters.translate(_SPECIAL_LETTERS)
    return " ".join(_NON_LETTERS.sub(" ", letters).split())


@lru_cache(maxsize=CACHE_SIZE)
def _raw_tokens(name: str) -> tuple[str, ...]:
    """Folded tokens without honorifics, "Last, First" reordered; no nickname mapping."""
    name = name[:MAX_NAME_CHARS]
    if name.count(",") == 1:
        last, first = name.split(",")
        name = f"{first} {last}"
    tokens = [token for token in fold(name).split() if token not in HONORIFICS]
    return tuple(tokens[:MAX_TOKENS])


@lru_cache(maxsize=CACHE_SIZE)
def name_tokens(name: str) -> tuple[str, ...]:
    """Canonical tokens of a person's name: folded, without titles, diminutives replaced by the
    formal name ("Kasia" -> "katarzyna"), initials kept; "Last, First" is read as "First Last"."""
    return tuple(NICKNAMES.get(token, token) for token in _raw_tokens(name))


def canonical(name: str) -> str:
    """The canonical tokens as one string, for C-speed comparisons (rapidfuzz)."""
    return " ".join(name_tokens(name))


def _token_similarity(a: str, b: str) -> tuple[float, int]:
    """Similarity of two tokens and its kind: 2 exact, 1 initial, 0 fuzzy."""
    if a == b:
        return 1.0, 2
    if len(a) == 1 or len(b) == 1:
        initial, full = (a, b) if len(a) == 1 else (b, a)
        if len(full) > 1 and full.startswith(initial):
            return INITIAL_MATCH, 1
        return 0.0, 0
    return fuzz.ratio(a, b) / 100, 0


def _best_pairing(short: tuple[str, ...], long: tuple[str, ...]) -> list[tuple[float, int, str]]:
    """Pairs every token of ``short`` with a distinct token of ``long`` as (similarity, kind,
    token of ``short``). Identical tokens pair with each other; the rest take the pairing with
    the highest total similarity (then the best worst pair, then the most exact pairs).

    The choice depends only on the pairs, never on the side the tokens came from, so the result
    is symmetric; at most 4P4 = 24 pairings are tried, longer names pair greedily."""
    common = Counter(short) & Counter(long)
    pairs: list[tuple[float, int, str]] = [(1.0, 2, token) for token in common.elements()]
    rest_short = sorted((Counter(short) - common).elements())
    rest_long = sorted((Counter(long) - common).elements())
    table = [[(*_token_similarity(a, b), a) for b in rest_long] for a in rest_short]
    if len(rest_long) > EXHAUSTIVE_PAIRING:
        return pairs + _greedy_pairing(table)
    best: list[tuple[float, int, str]] = []
    best_key: tuple[float, float, int, int] | None = None
    for chosen in itertools.permutations(range(len(rest_long)), len(rest_short)):
        tried = [table[i][j] for i, j in enumerate(chosen)]
        values = [value for value, _, _ in tried]
        kinds = [kind for _, kind, _ in tried]
        key = (round(sum(values), 9), min(values, default=1.0), kinds.count(2), kinds.count(1))
        if best_key is None or key > best_key:
            best, best_key = tried, key
    return pairs + best


def _greedy_pairing(table: list[list[tuple[float, int, str]]]) -> list[tuple[float, int, str]]:
    """Best pairs first: bounded work for long names that share few tokens (hostile ones)."""
    ranked = sorted(
        ((cell, i, j) for i, row in enumerate(table) for j, cell in enumerate(row)),
        key=lambda item: (-item[0][0], -item[0][1], item[0][2], item[1], item[2]),
    )
    used_i: set[int] = set()
    used_j: set[int] = set()
    chosen: list[tuple[float, int, str]] = []
    for cell, i, j in ranked:
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            chosen.append(cell)
    return chosen


@lru_cache(maxsize=CACHE_SIZE)
def name_similarity(a: str, b: str) -> float:
    """How likely two names denote the same person, in [0, 1]; symmetric.

    The base is rapidfuzz's token-sort ratio of the canonical tokens. When every token of the
    shorter name (at least two tokens, one a full word) pairs with an identical token or a
    matching initial of the longer one, the value is 0.9 for one imperfection (an initial, or
    extra tokens in the longer name) and 0.05 less for each further one, down to 0.8: "A.
    Kowalska" / "Anna Kowalska" and "Anna Maria Kowalska" / "Anna Kowalska" give 0.9.
    Otherwise the result never exceeds the weakest token pairing, so a different surname with
    the same first name stays low. A single-token name caps the result at 0.75."""
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return 0.0
    short, long = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    pairs = _best_pairing(short, long)
    worst = min(value for value, _, _ in pairs)
    exact = sum(1 for _, kind, _ in pairs if kind == 2)
    initials = sum(1 for _, kind, _ in pairs if kind == 1)
    exact_words = sum(1 for _, kind, token in pairs if kind == 2 and len(token) > 1)
    if len(short) >= 2 and exact + initials == len(short) and exact_words > 0:
        imperfections = initials + (1 if len(long) > len(short) else 0)
        result = 1.0 if imperfections == 0 else max(0.8, round(0.95 - 0.05 * imperfections, 2))
    else:
        base = fuzz.token_sort_ratio(" ".join(ta), " ".join(tb)) / 100
        result = min(base, worst)
    if len(short) == 1:
        result = min(result, SINGLE_TOKEN_CAP)
    return result


def _keys(surname: str, initial: str) -> set[str]:
    surname = surname[:MAX_KEY_TOKEN_CHARS]
    return {f"{surname}|{initial}", f"{surname[:4]}~{initial}"}


def blocking_keys(first: str, last: str) -> frozenset[str]:
    """Index keys of a contact: "surname|initial" and "four-letter-prefix~initial" for every
    surname token of two or more letters. With no last name, the last token of a multi-token
    first name is taken as the surname."""
    first_tokens, last_tokens = name_tokens(first), name_tokens(last)
    if not last_tokens and len(first_tokens) >= 2:
        first_tokens, last_tokens = first_tokens[:-1], first_tokens[-1:]
    initial = first_tokens[0][0] if first_tokens else ""
    keys: set[str] = set()
    for surname in last_tokens:
        if len(surname) >= 2:
            keys |= _keys(surname, initial)
    return frozenset(keys)


def query_keys(name: str) -> frozenset[str]:
    """Keys to look up for a display name whose order is unknown: every token (two or more
    letters) of the first four is tried as the surname with every other token's initial."""
    tokens = name_tokens(name)[:MAX_QUERY_TOKENS]
    keys: set[str] = set()
    for i, j in itertools.permutations(range(len(tokens)), 2):
        if len(tokens[j]) >= 2:
            keys |= _keys(tokens[j], tokens[i][0])
    return frozenset(keys)


def _local_part(email: str) -> str:
    local = email.rpartition("@")[0] if "@" in email else email
    return local[:MAX_NAME_CHARS].split("+", 1)[0]


def name_from_address(email: str) -> str:
    """A name guessed from an address's local part: "anna.kowalska@x" -> "anna kowalska"; ""
    unless it has two to four letter-only parts (each at most 20 letters) split by . _ or -."""
    local = _local_part(email).lower()
    parts = [part for part in _ADDRESS_SEPARATORS.split(local) if part]
    if not 2 <= len(parts) <= MAX_QUERY_TOKENS:
        return ""
    if any(not part.isalpha() or len(part) > MAX_ADDRESS_PART for part in parts):
        return ""
    return " ".join(parts)


def _address_forms(tokens: tuple[str, ...]) -> set[str]:
    first = tokens[0]
    forms: set[str] = set()
    for last in {tokens[-1], "".join(tokens[1:]), "".join(tokens[-2:])}:
        forms |= {first + last, last + first, first[0] + last, first + last[0]}
    return forms


def address_matches_name(email: str, name: str) -> bool:
    """Whether the address's local part spells the name: annakowalska, kowalskaanna, akowalska,
    annak, anna.kowalska (separators ignored), from canonical or raw folded tokens."""
    local = fold(_local_part(email)).replace(" ", "")
    if len(local) < 3:
        return False
    for tokens in {name_tokens(name), _raw_tokens(name)}:
        if len(tokens) >= 2 and local in _address_forms(tokens):
            return True
    return False
