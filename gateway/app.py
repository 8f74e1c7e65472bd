"""Composition root: builds the engine, spool, pipeline and worker from one Config."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import Config
from gateway.crm.db import check_schema, make_engine, session_factory
from gateway.outbox import Dispatcher
from gateway.pipeline import DEFAULT_STAGES, MessageProcessor, Pipeline
from gateway.plugin_host import PluginHost
from gateway.spool import Spool
from gateway.worker import Worker


@dataclass
class App:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    spool: Spool
    _plugins: PluginHost | None = None

    @property
    def plugins(self) -> PluginHost:
        """The enabled plugins, loaded and configured on first use (a command that never
        processes mail never imports them)."""
        if self._plugins is None:
            self._plugins = PluginHost(self.config, self.sessions)
        return self._plugins

    def processor(self) -> MessageProcessor:
        return MessageProcessor(
            Pipeline.from_names(DEFAULT_STAGES, self.config), self.sessions, plugins=self.plugins
        )

    def worker(self) -> Worker:
        return Worker(
            self.spool,
            self.processor(),
            self.sessions,
            self.config.worker,
            dns_retry_window=self.config.dkim.retry_window,
            dispatcher=Dispatcher(self.plugins),
        )

    def close(self) -> None:
        self.engine.dispose()


def build_app(config: Config) -> App:
    engine = make_engine(config.database)
    return App(
        config=config,
        engine=engine,
        sessions=session_factory(engine),
        spool=Spool(config.spool.path),
    )


def open_app(config: Config) -> App:
    """The app for a command or the admin UI: built, with the schema checked first so a
    database that needs ``bccrm db upgrade`` fails with that advice, not a SQL error."""
    app = build_app(config)
    try:
        check_schema(app.engine)
    except Exception:
        app.close()
        raise
    return app


def login_actor() -> str:
    """Who runs a command or the admin UI, for the audit log: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"cli:uid{os.getuid()}"
