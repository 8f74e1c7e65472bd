"""The plugin host: a typed facade over pluggy's plugin manager.

Plugins are found through the ``bccrm`` entry-point group — bccrm's own (``plugins/``) exactly
like third-party ones — and filtered by ``[plugins] enabled/disabled``. ``check_pending`` runs
at start, so a misspelt hook name (``bccrm_email_loged``) stops bccrm at boot instead of
silently never firing. In-pipeline hooks are called one implementation at a time, each
failure logged and counted, never passed on to the message.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pluggy
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import Config
from gateway.config_reader import ConfigError
from gateway.crm import utcnow
from gateway.errors import log_failure
from gateway.hooks import (
    ENRICH_FIELDS,
    ENTRY_POINT_GROUP,
    EVENT_HOOKS,
    PROJECT,
    ContactDraft,
    Evidence,
    PluginContext,
    Specs,
)

if TYPE_CHECKING:
    from gateway.pipeline.context import MessageContext
    from gateway.privacy.rules import Rule

log = logging.getLogger("bccrm.plugins")
ENTRY_POINTS_ENV = "BCCRM_ENTRY_POINTS"


class PluginError(Exception):
    """A plugin cannot be loaded or configured; the message names it."""


@dataclass(frozen=True)
class Installed:
    name: str
    plugin: object  # a module (or any object) with @hookimpl functions
    version: str = ""
    builtin: bool = False


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...]
    enabled: bool
    builtin: bool


def installed_plugins() -> list[Installed]:
    """Every plugin installed in the ``bccrm`` entry-point group; none when the environment
    says ``BCCRM_ENTRY_POINTS=off`` (the test suite sets it, so tests never load whatever
    happens to be installed — they register the plugins they test)."""
    if os.environ.get(ENTRY_POINTS_ENV, "on") == "off":
        return []
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        version = dist.version if dist is not None else ""
        builtin = ep.value.split(":")[0].startswith("plugins.")
        found.append(Installed(ep.name, ep.load(), version, builtin))
    return found


class PluginHost:
    """The enabled plugins of one bccrm process, configured and checked."""

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        plugins: Iterable[Installed] | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.now = now
        self.failures: Counter[str] = Counter()  # "<plugin>.<hook>" → failed calls
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(Specs)
        self._installed = {p.name: p for p in (installed_plugins() if plugins is None else plugins)}
        self._check_names()
        self._hooks: dict[str, tuple[str, ...]] = {}
        for item in self._installed.values():
            self._register(item)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or "?"
            raise PluginError(f"plugin {name!r}: {exc}".replace(repr(exc.plugin), name)) from None
        for name in list(self._installed):
            if not config.plugins.is_enabled(name):
                self.pm.unregister(name=name)
        self.contexts = {name: self._context(name) for name in self.enabled}
        self._configure()
        self._channels = {name: self._channels_of(name) for name in self.enabled}
        self._rules: list[Rule] | None = None

    # -- loading ----------------------------------------------------------------------------

    def _check_names(self) -> None:
        named = set(self.config.plugins.disabled) | set(self.config.plugins.enabled or ())
        unknown = sorted(named - set(self._installed))
        if unknown:
            have = ", ".join(sorted(self._installed)) or "none"
            raise PluginError(
                f"[plugins] names {', '.join(unknown)}, which is not installed (installed: {have})"
            )

    def _register(self, item: Installed) -> None:
        try:
            self.pm.register(item.plugin, name=item.name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin {item.name!r}: {exc}") from None
        callers = self.pm.get_hookcallers(item.plugin) or []
        self._hooks[item.name] = tuple(sorted(c.name for c in callers))

    def _context(self, name: str) -> PluginContext:
        return PluginContext(
            name=name,
            config=self.config,
            sessions=self.sessions,
            now=self.now,
            log=logging.getLogger(f"bccrm.plugins.{name}"),
        )

    def _configure(self) -> None:
        for name, impl in self.implementations("bccrm_configure"):
            try:
                self.call(impl, context=self.contexts[name])
            except (ValueError, ConfigError) as exc:
                raise PluginError(f"plugin {name!r}: {exc}") from None

    def _channels_of(self, name: str) -> tuple[str, ...]:
        impls = [impl for n, impl in self.implementations("bccrm_channels") if n == name]
        if not impls:
            return ("",)
        return tuple(str(c) for c in (self.call(impls[0], context=self.contexts[name]) or []))

    # -- facts --------------------------------------------------------------------------------

    @property
    def enabled(self) -> list[str]:
        return [name for name in self._installed if self.pm.has_plugin(name)]

    def infos(self) -> list[PluginInfo]:
        """Every installed plugin, enabled or not, by name."""
        return [
            PluginInfo(
                name,
                item.version,
                self._hooks.get(name, ()),
                self.pm.has_plugin(name),
                item.builtin,
            )
            for name, item in sorted(self._installed.items())
        ]

    def channels(self, name: str) -> tuple[str, ...]:
        return self._channels.get(name, ())

    def listening(self) -> frozenset[str]:
        """The event kinds an enabled plugin receives: it implements the kind's hook and has
        a channel to receive it on, or (a new contact) it enriches contacts. The others the
        dispatcher would delete unread (see :class:`gateway.outbox.Dispatcher`)."""
        kinds = {
            kind
            for kind, hook in EVENT_HOOKS.items()
            if any(self.channels(name) for name, _impl in self.implementations(hook))
        }
        if self.implementations("bccrm_enrich_contact"):
            kinds.add("contact_created")
        return frozenset(kinds)

    def implementations(self, hook: str) -> list[tuple[str, Any]]:
        """``(plugin name, HookImpl)`` of every enabled plugin implementing ``hook``, in
        registration order."""
        caller = getattr(self.pm.hook, hook)
        found = []
        for impl in caller.get_hookimpls():
            name = self.pm.get_name(impl.plugin)
            if name is not None:
                found.append((name, impl))
        return found[::-1]  # pluggy keeps them last-registered first

    @staticmethod
    def call(impl: Any, **kwargs: Any) -> Any:
        """Call one implementation with the arguments it names (a subset of the spec's)."""
        names = (*impl.argnames, *impl.kwargnames)
        return impl.function(**{name: kwargs[name] for name in names if name in kwargs})

    # -- hooks ----------------------------------------------------------------------------------

    def message_parsed(self, ctx: MessageContext) -> None:
        for name, impl in self.implementations("bccrm_message_parsed"):
            self._isolated(name, "bccrm_message_parsed", impl, ctx=ctx)

    def privacy_rules(self) -> list[Rule]:
        """Every plugin's extra privacy rules, asked once."""
        if self._rules is None:
            rules: list[Rule] = []
            for name, impl in self.implementations("bccrm_privacy_rules"):
                try:
                    rules.extend(self.call(impl, context=self.contexts[name]) or [])
                except Exception as exc:
                    raise PluginError(
                        f"plugin {name!r}: bccrm_privacy_rules failed: {type(exc).__name__}"
                    ) from exc
            self._rules = rules
        return self._rules

    def enrich(self, contact: ContactDraft, evidence: Evidence) -> dict[str, str]:
        """Suggestions from every enrichment plugin, first one per field wins; unknown fields
        and empty values are dropped."""
        merged: dict[str, str] = {}
        for name, impl in self.implementations("bccrm_enrich_contact"):
            found = self._isolated(
                name, "bccrm_enrich_contact", impl, contact=contact, evidence=evidence
            )
            if not isinstance(found, Mapping):
                continue
            for key, value in found.items():
                if key in ENRICH_FIELDS and isinstance(value, str) and value.strip():
                    merged.setdefault(key, value.strip())
        return merged

    def tick(self, now: datetime) -> None:
        for name, impl in self.implementations("bccrm_tick"):
            self._isolated(name, "bccrm_tick", impl, now=now)

    def _isolated(self, name: str, hook: str, impl: Any, **kwargs: Any) -> Any:
        """Call one implementation; a failure is logged (class name only: the text may quote
        mail) and counted, and never reaches the caller."""
        try:
            return self.call(impl, context=self.contexts[name], **kwargs)
        except Exception as exc:
            self.failures[f"{name}.{hook}"] += 1
            log_failure(log, logging.WARNING, f"plugin {name}: {hook} failed", exc)
            return None
