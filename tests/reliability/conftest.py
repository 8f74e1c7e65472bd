"""Fixtures and the scenario table of the reliability suite.

Two profiles, chosen by ``BCCRM_RELIABILITY``: ``quick`` (the default; what ``make test`` and
CI run: every scenario, with small counts and a short soak) and ``full`` (``make reliability``:
bigger counts, the 2-minute soak, more fuzzing examples), which also prints the table of
scenarios and outcomes that README's reliability section quotes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, fresh_database
from tests.reliability.harness import Node

PROFILE = os.environ.get("BCCRM_RELIABILITY", "quick")
FULL = PROFILE == "full"
TABLE_ENV = "BCCRM_RELIABILITY_TABLE"  # a file to write the table to (make reliability sets it)


def sized(quick: int, full: int) -> int:
    """A count for this profile."""
    return full if FULL else quick


NodeFactory = Callable[..., Node]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[NodeFactory]:
    """``make_node(backend, sections)``: a node on a fresh database, stopped at the end."""
    with ExitStack() as stack:
        count = 0

        def make(
            backend: str = "sqlite",
            sections: Mapping[str, Any] | None = None,
            *,
            via: Callable[[str], str] | None = None,
            **kwargs: Any,
        ) -> Node:
            """``via`` rewrites the database URL (to go through a proxy)."""
            nonlocal count
            count += 1
            root = tmp_path / f"node{count}"
            root.mkdir()
            url = stack.enter_context(fresh_database(backend, root))
            if via is not None:
                url = via(url)
            node = Node(root, url, sections, **kwargs)
            stack.callback(node.stop)
            return node

        yield make


@pytest.fixture
def node(make_node: NodeFactory, backend: str) -> Node:
    """A running node (edge + worker) on each database."""
    return make_node(backend).start()


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Note the scenario's outcome in a few words for the table (``250 ×200, 421 ×0``)."""

    def note(text: str) -> None:
        request.node.user_properties.append(("outcome", text))

    return note


# -- the table ------------------------------------------------------------------------------

_ROWS: list[dict[str, Any]] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    marker = item.get_closest_marker("scenario")
    if marker is not None and (report.when == "call" or report.failed or report.skipped):
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec else {}
        _ROWS.append(
            {
                "list": marker.args[0],
                "case": marker.args[1],
                "backend": params.get("backend")
                or ("postgresql" if item.get_closest_marker("postgres") else "sqlite"),
                "result": "skipped" if report.skipped else report.outcome,
                "outcome": "; ".join(str(v) for k, v in item.user_properties if k == "outcome"),
                "seconds": report.duration,
            }
        )
    return report


def table() -> str:
    """Markdown: one row per case, a column per database."""
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    for row in _ROWS:
        entry = cases.setdefault((row["list"], row["case"]), {"outcome": "", "seconds": 0.0})
        mark = {"passed": "pass", "failed": "FAIL", "skipped": "skip"}[row["result"]]
        entry[row["backend"]] = mark
        entry["seconds"] += row["seconds"]
        if row["outcome"] and not entry["outcome"]:
            entry["outcome"] = row["outcome"]
    lines = [
        "| list | case | SQLite | PostgreSQL | outcome | time |",
        "|---|---|---|---|---|---|",
    ]
    for (list_, case), entry in cases.items():
        lines.append(
            f"| {list_} | {case} | {entry.get('sqlite', '–')} | {entry.get('postgresql', '–')} "
            f"| {entry['outcome']} | {entry['seconds']:.1f} s |"
        )
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS or not (FULL or os.environ.get(TABLE_ENV)):
        return
    text = table()
    terminalreporter.section(f"reliability scenarios ({PROFILE} profile)")
    terminalreporter.write_line(text)
    if path := os.environ.get(TABLE_ENV):
        Path(path).write_text(
            f"<!-- {PROFILE} profile, {time.strftime('%Y-%m-%d')} -->\n{text}\n", encoding="utf-8"
        )
