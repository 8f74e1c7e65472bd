"""The parser against the fixture corpus in tests/data/parsing: 96 realistic messages in five
languages whose expected output was written from the specification, not from the parser
(tests/data/parsing/README.md). Per-field accuracy must stay at or above the issue's target;
the misses are printed so a drop can be read off the test output."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gateway.parsing.analysis import analyze, to_json

CORPUS = Path(__file__).resolve().parents[2] / "data" / "parsing"
ORG = ("example.com", "example.pl")
TARGET = 0.95
SCORED = [
    "forwarded",
    "original_sender.email",
    "direction",
    "signature.name",
    "signature.title",
    "signature.company",
    "signature.phones",
]
ALSO = [
    "reply_text",
    "original_date",
    "participants",
    "thread.normalized_subject",
    "tokens",
    "bulk",
    "auto_generated",
    "bounce",
    "language",
    "original_sender.name",
]


def field(document: dict[str, Any] | None, path: str) -> Any:
    value: Any = document
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if path == "reply_text":
        return " ".join((value or "").split())  # compared after collapsing whitespace
    if path == "participants":
        return sorted((p["email"], p["role"]) for p in value or [])
    if path.startswith("signature.") and value in ("", None, []):
        return None  # an empty field may be written as "" or left out
    return value


@cache
def results() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    pairs = []
    for eml in sorted(CORPUS.glob("*.eml")):
        expected = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
        got = to_json(analyze(eml.read_bytes(), ORG, "PL", ("log@crm.example.com",)))
        pairs.append((eml.stem, got, expected))
    return pairs


def test_corpus_is_large_and_covers_five_languages() -> None:
    languages = {expected["language"] for _, _, expected in results()}
    assert len(results()) >= 80
    assert languages == {"pl", "en", "de", "fr", "es"}


@pytest.mark.parametrize("path", SCORED + ALSO)
def test_field_accuracy(path: str) -> None:
    misses = [
        (name, field(got, path), field(expected, path))
        for name, got, expected in results()
        if field(got, path) != field(expected, path)
    ]
    accuracy = 1 - len(misses) / len(results())
    detail = "\n".join(
        f"{name}: got {got!r:.120} expected {exp!r:.120}" for name, got, exp in misses
    )
    assert accuracy >= TARGET, f"{path}: {accuracy:.1%}\n{detail}"
