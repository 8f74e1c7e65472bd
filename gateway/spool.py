"""Durable file queue between the SMTP edge and the workers.

Layout under the spool directory::

    tmp/          entries being written (never read by workers)
    new/          durable entries waiting for a worker
    cur/          entries claimed by a live worker (each held with flock)
    quarantine/   entries that failed ``max_attempts`` times, with a ``.error.json`` beside them

An entry is one file: a first line ``BCCRM1 <json envelope>`` followed by the raw message bytes
exactly as received (DKIM verification needs the original bytes, never a re-serialisation).
Writing is the Maildir/Postfix discipline: write into ``tmp/``, ``fsync`` the file, ``rename``
into ``new/``, ``fsync`` the directory. Only then may the edge answer 250.

Entry names are ``<id>`` or ``<id>.a<N>`` where N counts attempts already made. A worker claims
an entry by taking an exclusive ``flock`` on it and renaming it into ``cur/`` with the attempt
count raised *before* processing, so a worker killed mid-message still counts the attempt and a
poison message cannot crash workers forever. (A worker claiming a batch flushes the directory
once for all of its claims, with :meth:`Spool.sync`, and once for their removals.) A claimed
entry whose lock is free belongs to a dead worker and is put back. As in Postfix's deferred
queue, a file's mtime is the earliest time of its next attempt.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gateway import faults
from gateway.faults import fault_point

log = logging.getLogger("bccrm.spool")

# A partial entry untouched this long was abandoned by a killed writer (edge, mailgate, ingest).
ABANDONED_AFTER = 3600.0

MAGIC = b"BCCRM1 "
SUBDIRS = ("tmp", "new", "cur", "quarantine")


class SpoolError(Exception):
    """The spool could not store or move an entry (disk full, I/O error, permissions)."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_

    @property
    def disk_full(self) -> bool:
        # EFBIG: a file-size limit (RLIMIT_FSIZE, a quota on the file) stops the write too.
        return self.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@dataclass(frozen=True)
class Envelope:
    """What the transport knew about a message, stored beside its raw bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str = ""
    helo: str = ""
    received_at: float = field(default_factory=time.time)
    transport: str = "smtp"
    # Transport proofs, established by the edge: the peer is in trusted_networks, the client
    # authenticated as a user (SMTP AUTH), or it used a user's secret logging address.
    trusted_peer: bool = False
    tls: bool = False
    auth_user: str | None = None
    token_user: str | None = None
    # Set when an admin released the message from quarantine (their address or "cli:<login>").
    released_by: str | None = None

    def to_json(self) -> bytes:
        # Not dataclasses.asdict: it deep-copies and is the slowest step of the edge's hot path.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["rcpt_tos"] = list(self.rcpt_tos)
        return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_json(cls, raw: bytes) -> Envelope:
        data: dict[str, Any] = json.loads(raw)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["rcpt_tos"] = tuple(known.get("rcpt_tos", ()))
        return cls(**known)


@dataclass
class Claim:
    """An entry held by this worker. Close it with :meth:`Spool.finish`, ``retry`` or
    ``quarantine``; if the process dies instead, the lock is released by the kernel."""

    entry_id: str
    attempt: int
    path: Path
    handle: BinaryIO
    envelope: Envelope
    raw: bytes
    unreadable: bool = False


def new_entry_id() -> str:
    """Sortable by arrival (hex nanoseconds) and unique across processes (random suffix)."""
    return f"{time.time_ns():016X}{secrets.token_hex(3).upper()}"


def _split_name(name: str) -> tuple[str, int]:
    entry_id, dot, rest = name.partition(".a")
    return entry_id, (int(rest) if dot and rest.isdigit() else 0)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EntryWriter:
    """A spool entry being received: :meth:`write` pieces, then :meth:`commit` or :meth:`abort`.

    A failure leaves no file behind. Write errors are remembered and reported by ``commit`` so a
    streaming caller can keep reading the client's data and answer once, at the end. After an
    fsync error the descriptor is abandoned, never retried: on Linux a failed fsync may have
    dropped the dirty pages (the "fsyncgate" problem), so a retry could report false success.
    """

    def __init__(self, spool: Spool, envelope: Envelope) -> None:
        self.spool = spool
        self.entry_id = new_entry_id()
        self.path = spool.tmp / self.entry_id
        self.error: OSError | None = None
        self.size = 0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot create spool file: {exc.strerror}", exc.errno) from exc
        self.handle = os.fdopen(fd, "wb", buffering=1 << 16)
        self._write(MAGIC + envelope.to_json() + b"\n")

    def _write(self, data: bytes) -> None:
        if self.error is None:
            try:
                self.handle.write(data)
            except OSError as exc:
                self.error = exc

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._write(data)

    def commit(self) -> str:
        """fsync, rename into ``new/``, fsync the directory; return the entry id."""
        try:
            if self.error is not None:
                raise self.error
            self.handle.flush()
            self.spool.fsync(self.handle.fileno())
            self.handle.close()
            fault_point("spool-before-rename")
            os.rename(self.path, self.spool.new / self.entry_id)
            _fsync_dir(self.spool.new)
        except OSError as exc:
            self.abort()
            with contextlib.suppress(OSError):
                (self.spool.new / self.entry_id).unlink()
            raise SpoolError(f"cannot write spool file: {exc.strerror}", exc.errno) from exc
        return self.entry_id

    def abort(self) -> None:
        """Forget the entry (client gone, limits exceeded, write failed)."""
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


class Spool:
    """The spool directory; safe for one edge and several workers on the same node."""

    # The write layer's fsync; a seam for fault injection (EIO, ENOSPC) in tests.
    fsync: Callable[[int], None] = staticmethod(faults.fsync)

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp, self.new, self.cur, self.quarantine_dir = (root / d for d in SUBDIRS)

    def ensure(self) -> None:
        """Create the directory tree (mode 0700: it holds other people's mail)."""
        for path in (self.root, self.tmp, self.new, self.cur, self.quarantine_dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- writing (edge, mailgate, ingest) ------------------------------------------------

    def store(self, raw: bytes, envelope: Envelope) -> str:
        """Durably store one message and return its id; raise :class:`SpoolError` on failure."""
        writer = self.open_entry(envelope)
        writer.write(raw)
        return writer.commit()

    def open_entry(self, envelope: Envelope) -> EntryWriter:
        """Start an entry that is written in pieces (the edge streams DATA into it)."""
        return EntryWriter(self, envelope)

    def free_bytes(self) -> int:
        """Free space on the spool's file system, for the 452 4.3.1 check."""
        stats = os.statvfs(self.root)
        return stats.f_bavail * stats.f_frsize

    # -- claiming (workers) ---------------------------------------------------------------

    def pending(self, now: float | None = None) -> list[str]:
        """Names in ``new/`` whose next-attempt time has come, oldest first."""
        now = time.time() if now is None else now
        names = []
        with os.scandir(self.new) as it:
            for item in it:
                with contextlib.suppress(FileNotFoundError):
                    if item.stat().st_mtime <= now:
                        names.append(item.name)
        return sorted(names)

    def claim(self, name: str, durable: bool = True) -> Claim | None:
        """Take entry ``name`` from ``new/``; ``None`` if another worker was faster.

        The claim's attempt count is on disk when this returns; with ``durable=False`` only
        after the caller's :meth:`sync` (one directory flush for a batch of claims).
        """
        try:
            handle = (self.new / name).open("rb")
        except FileNotFoundError:
            return None
        except OSError as exc:  # e.g. a file an admin copied in as another user
            log.error("cannot open spool entry %s (%s); leaving it", name[:40], exc.strerror)
            return None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            entry_id, attempts = _split_name(name)
            target = self.cur / f"{entry_id}.a{attempts + 1}"
            os.rename(self.new / name, target)
            if durable:
                _fsync_dir(self.cur)
        except FileNotFoundError:
            handle.close()
            return None
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        try:
            envelope, raw = self._read(handle)
        except (ValueError, UnicodeError, TypeError):
            # The worker quarantines it (and audits that), like any message it cannot process.
            return Claim(
                entry_id, attempts + 1, target, handle, Envelope("", ()), b"", unreadable=True
            )
        return Claim(entry_id, attempts + 1, target, handle, envelope, raw)

    @staticmethod
    def _read(handle: BinaryIO) -> tuple[Envelope, bytes]:
        first = handle.readline()
        if not first.startswith(MAGIC):
            raise ValueError("not a bccrm spool entry")
        return Envelope.from_json(first[len(MAGIC) :]), handle.read()

    def finish(self, claim: Claim, durable: bool = True) -> None:
        """The message is committed to the database: remove the entry (for good after the
        caller's :meth:`sync` when ``durable=False``; until then a power cut may bring it
        back, and the worker finds it a duplicate of the email it already is)."""
        claim.path.unlink()
        if durable:
            _fsync_dir(self.cur)
        claim.handle.close()

    def sync(self) -> None:
        """Flush the claims and removals made with ``durable=False`` to disk."""
        _fsync_dir(self.cur)

    def retry(self, claim: Claim, delay: float, count_attempt: bool = True) -> None:
        """Put the entry back for a later attempt, ``delay`` seconds from now.

        ``count_attempt=False`` is for failures that are not the message's fault (the database
        is down): they must not push a good message towards quarantine.
        """
        attempts = claim.attempt if count_attempt else claim.attempt - 1
        name = f"{claim.entry_id}.a{attempts}" if attempts else claim.entry_id
        target = self.new / name
        os.rename(claim.path, target)
        next_at = time.time() + delay
        os.utime(target, (next_at, next_at))
        _fsync_dir(self.new)
        claim.handle.close()

    def quarantine(self, claim: Claim, reason: str) -> None:
        """Move the entry to quarantine with ``reason`` (a short text, no internals)."""
        target = self.quarantine_dir / claim.entry_id
        note = {
            "id": claim.entry_id,
            "attempts": claim.attempt,
            "reason": reason,
            "quarantined_at": time.time(),
        }
        note_path = self.quarantine_dir / f"{claim.entry_id}.error.json"
        with note_path.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(note))
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(claim.path, target)
        _fsync_dir(self.quarantine_dir)
        claim.handle.close()

    def sweep_tmp(self, max_age: float = ABANDONED_AFTER, now: float | None = None) -> int:
        """Remove partial entries nobody is writing any more (a writer killed between its
        first byte and the rename into ``new/``); return how many. Nothing in ``tmp/`` was
        ever answered 250, so nothing accepted is lost. A live writer touches its file at
        least every SMTP timeout, well within ``max_age``."""
        limit = (time.time() if now is None else now) - max_age
        removed = 0
        with os.scandir(self.tmp) as it:
            for item in it:
                with contextlib.suppress(FileNotFoundError):
                    if item.stat().st_mtime < limit:
                        os.unlink(item.path)
                        removed += 1
        if removed:
            log.info("removed %d partial spool entries abandoned by a killed writer", removed)
        return removed

    def recover(self) -> int:
        """Put entries claimed by dead workers back into ``new/``; return how many."""
        recovered = 0
        with os.scandir(self.cur) as it:
            names = [item.name for item in it]
        for name in names:
            try:
                handle = (self.cur / name).open("rb")
            except FileNotFoundError:
                continue
            with handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    os.rename(self.cur / name, self.new / name)
                except OSError:
                    continue  # a live worker holds it, or it was just finished
                recovered += 1
        if recovered:
            _fsync_dir(self.new)
        return recovered

    # -- inspection -------------------------------------------------------------------------

    def peek(self, path: Path) -> tuple[Envelope, bytes]:
        """Read an entry without claiming it (for admins and tests)."""
        with path.open("rb") as handle:
            return self._read(handle)

    def depth(self) -> dict[str, int]:
        """Number of entries in each state, for ``doctor`` and metrics."""
        counts = {}
        for label, path in (("new", self.new), ("cur", self.cur)):
            counts[label] = sum(1 for _ in os.scandir(path))
        counts["quarantine"] = sum(
            1 for item in os.scandir(self.quarantine_dir) if not item.name.endswith(".json")
        )
        return counts

    def quarantined(self) -> Iterator[dict[str, Any]]:
        """The notes of quarantined entries, oldest first."""
        for note in sorted(self.quarantine_dir.glob("*.error.json")):
            with contextlib.suppress(OSError, ValueError):
                yield json.loads(note.read_text())

    # -- quarantine (admins) ----------------------------------------------------------------

    def quarantine_path(self, entry_id: str) -> Path:
        """Where quarantined entry ``entry_id`` lives. :class:`ValueError` unless ``entry_id``
        has the form :func:`new_entry_id` makes, so an untrusted id (``../x``) never becomes a
        path."""
        if not is_entry_id(entry_id):
            raise ValueError("not a spool entry id")
        return self.quarantine_dir / entry_id

    def quarantined_ids(self) -> list[str]:
        """Ids of the entries in quarantine, with or without a note beside them."""
        try:
            with os.scandir(self.quarantine_dir) as it:
                return sorted(item.name for item in it if is_entry_id(item.name))
        except FileNotFoundError:
            return []  # nothing was ever quarantined on this spool

    def quarantine_note(self, entry_id: str) -> dict[str, Any] | None:
        """The note written when ``entry_id`` was quarantined; None if missing or unreadable."""
        path = self.quarantine_path(entry_id).with_name(f"{entry_id}.error.json")
        try:
            note = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        return note if isinstance(note, dict) else None

    @contextlib.contextmanager
    def open_quarantined(self, entry_id: str) -> Iterator[BinaryIO]:
        """Open a quarantined entry under an exclusive lock, so that two admins cannot release
        or drop it twice. :class:`FileNotFoundError` when it is gone, also when it went while we
        opened it; :class:`BlockingIOError` while someone else holds it."""
        path = self.quarantine_path(entry_id)
        with path.open("rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(handle.fileno()).st_nlink == 0:
                raise FileNotFoundError(errno.ENOENT, "no longer in quarantine", entry_id)
            yield handle

    @staticmethod
    def read_entry(handle: BinaryIO, limit: int = -1) -> tuple[Envelope, bytes]:
        """The envelope and the first ``limit`` bytes of the message (all of it by default) of an
        open entry; ValueError, UnicodeError or TypeError when the file is not a spool entry."""
        first = handle.readline()
        if not first.startswith(MAGIC):
            raise ValueError("not a bccrm spool entry")
        return Envelope.from_json(first[len(MAGIC) :]), handle.read(limit)

    def remove_quarantined(self, entry_id: str) -> None:
        """Delete a quarantined entry, then its note (a note without an entry is ignored)."""
        path = self.quarantine_path(entry_id)
        path.unlink()
        path.with_name(f"{entry_id}.error.json").unlink(missing_ok=True)
        _fsync_dir(self.quarantine_dir)


_ID_DIGITS = frozenset("0123456789ABCDEF")


def is_entry_id(text: str) -> bool:
    """True for names :func:`new_entry_id` makes: 22 upper-case hex digits, nothing else."""
    return len(text) == 22 and _ID_DIGITS.issuperset(text)
