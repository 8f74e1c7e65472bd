"""TUI tests run on SQLite only: the screens talk to the service layer, whose own tests cover
PostgreSQL; driving every screen twice would double the suite's time for no new coverage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'bccrm.db'}"
