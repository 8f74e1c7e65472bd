"""``[plugins]`` (which plugins run, how their deliveries are retried) and ``[plugin.<name>]``
(each plugin's own settings, validated by that plugin when the host starts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config_reader import ConfigError, Reader


@dataclass(frozen=True)
class PluginsConfig:
    # None: every installed plugin except those in ``disabled``; a list: only those.
    enabled: tuple[str, ...] | None = None
    disabled: tuple[str, ...] = ()
    # Deliveries a plugin asked to retry (RetryLater) are tried this often, waiting
    # retry_base seconds, doubling each time up to retry_max, then marked failed.
    max_attempts: int = 10
    retry_base: float = 30.0
    retry_max: float = 3600.0
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    base_dir: Path = Path()

    def is_enabled(self, name: str) -> bool:
        if name in self.disabled:
            return False
        return self.enabled is None or name in self.enabled

    def reader(self, name: str) -> Reader:
        """A reader over ``[plugin.<name>]`` for the plugin to validate (empty if absent)."""
        return Reader(self.settings.get(name, {}), f"plugin.{name}")


def parse_plugins(r: Reader, tables: object, base_dir: Path) -> PluginsConfig:
    d = PluginsConfig()
    enabled = r.strings("enabled", ()) if "enabled" in r.data else None
    cfg = PluginsConfig(
        enabled=tuple(enabled) if enabled is not None else None,
        disabled=tuple(r.strings("disabled", ())),
        max_attempts=r.get(
            "max_attempts", int, d.max_attempts, lambda v: 1 <= v <= 100, "must be 1..100"
        ),
        retry_base=r.get(
            "retry_base", float, d.retry_base, lambda v: v >= 0, "must not be negative"
        ),
        retry_max=r.get("retry_max", float, d.retry_max, lambda v: v >= 0, "must not be negative"),
        settings=_tables(tables),
        base_dir=base_dir,
    )
    r.finish()
    return cfg


def _tables(tables: object) -> dict[str, dict[str, Any]]:
    if tables is None:
        return {}
    if not isinstance(tables, Mapping) or not all(isinstance(v, Mapping) for v in tables.values()):
        raise ConfigError("plugin: expected tables such as [plugin.webhook]")
    return {str(name): dict(values) for name, values in tables.items()}
