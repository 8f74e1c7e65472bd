"""Typed access to TOML tables for :mod:`gateway.config`: every key is checked for type and
range, and a key nobody asked for is an error (a typo must not silently become a default)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the problem."""


class Reader:
    """Typed access to one TOML table that remembers which keys were used."""

    def __init__(self, data: Mapping[str, Any], prefix: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{prefix or 'config'}: must be a table")
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def section(self, key: str) -> Reader:
        self.used.add(key)
        return Reader(self.data.get(key, {}), self.name(key))

    def get(
        self,
        key: str,
        kind: type[T],
        default: T,
        valid: Callable[[T], bool] | None = None,
        problem: str = "",
    ) -> T:
        """The value of ``key``: checked for type first, then with ``valid``."""
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self.name(key)}: expected {kind.__name__}, got {value!r}")
        if valid is not None and not valid(value):
            raise ConfigError(f"{self.name(key)}: {problem}")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, list(default))
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{self.name(key)}: expected a list of strings")
        return tuple(value)

    def secret(self, key: str, default: str, base_dir: Path | None = None) -> str:
        """A string given inline, as ``{ env = "NAME" }`` or as ``{ file = "path" }``."""
        self.used.add(key)
        value = self.data.get(key, default)
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping) and set(value) == {"env"}:
            if (found := os.environ.get(str(value["env"]))) is None:
                raise ConfigError(f"{self.name(key)}: environment variable {value['env']} unset")
            return found
        if isinstance(value, Mapping) and set(value) == {"file"}:
            try:
                path = Path(str(value["file"]))
                if base_dir is not None and not path.is_absolute():
                    path = base_dir / path
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"{self.name(key)}: cannot read {value['file']}: {exc.strerror}"
                ) from None
        raise ConfigError(
            f'{self.name(key)}: expected a string, {{ env = "NAME" }} or {{ file = "path" }}'
        )

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self.name(unknown[0])}: unknown option")
