"""The edge never touches the database: its tests run once, not once per backend."""

from pathlib import Path

import pytest


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'unused.db'}"
