"""``bccrm doctor``: check what a running bccrm needs and say what is wrong."""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from gateway.app import App
from gateway.crm.db import SchemaOutOfDate, check_schema
from gateway.smtp.server import IDENT


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(app: App) -> list[Check]:
    return [_database(app), _spool(app), _port(app)]


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
