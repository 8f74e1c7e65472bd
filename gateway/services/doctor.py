"""``bccrm doctor``: check what a running bccrm needs and say what is wrong."""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from gateway.app import App
from gateway.crm import Setting
from gateway.crm.db import SchemaOutOfDate, check_schema
from gateway.privacy.keys import KEY_SETTING
from gateway.smtp.server import IDENT


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(app: App) -> list[Check]:
    checks = [_database(app), _spool(app), _port(app)]
    if checks[0].ok:
        checks.append(_hash_key(app))
    return checks


def _hash_key(app: App) -> Check:
    """Where the key of the suppression list's hashes is. A generated key works but sits in
    the database next to the hashes it protects: a notice, not a failure."""
    if app.config.privacy.hash_key:
        return Check("privacy hash key", True, "[privacy] hash_key is set")
    with app.sessions() as session:
        stored = session.scalar(select(Setting.key).where(Setting.key == KEY_SETTING))
    where = "generated and kept in the database" if stored else "will be generated at first use"
    return Check(
        "privacy hash key",
        True,
        f"{where}; set [privacy] hash_key (a file or an environment variable) to keep it apart",
    )


def _database(app: App) -> Check:
    try:
        check_schema(app.engine)
    except SchemaOutOfDate as exc:
        return Check("database", False, str(exc))
    except SQLAlchemyError as exc:
        return Check(
            "database",
            False,
            f"cannot connect ({type(exc).__name__}); check "
            "[database] url and that the server is running",
        )
    return Check("database", True, f"{app.engine.dialect.name}, schema up to date")


def _spool(app: App) -> Check:
    try:
        app.spool.ensure()
        probe = app.spool.tmp / f".doctor-{os.getpid()}"
        probe.write_bytes(b"probe")
        probe.unlink()
    except OSError as exc:
        return Check("spool", False, f"{app.spool.root}: not writable ({exc.strerror})")
    depth = app.spool.depth()
    return Check(
        "spool",
        True,
        f"{app.spool.root}: writable; {depth['new']} waiting, {depth['quarantine']} quarantined",
    )


def _port(app: App) -> Check:
    """Free, or held by a bccrm that answers with its banner (doctor on a live node)."""
    host, port = app.config.gateway.host, app.config.gateway.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.closing(socket.socket(family, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if _is_bccrm(host, port):
                return Check("listen", True, f"{host}:{port}: bccrm is listening")
            return Check(
                "listen",
                False,
                f"{host}:{port}: cannot bind ({exc.strerror}) and what listens there is not bccrm",
            )
    return Check("listen", True, f"{host}:{port} is free")


def _is_bccrm(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            return IDENT.encode() in conn.recv(512)
    except OSError:
        return False
