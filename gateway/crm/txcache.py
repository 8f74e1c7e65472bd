"""Reads kept, and write-only rows gathered, for the length of one pipeline transaction.

Some rows change only by an admin's hand: the installation's hash key, the never-log list,
the users and their addresses. Every message asks about them, so a worker's batch of messages
(one transaction, :meth:`gateway.pipeline.MessageProcessor.process_batch`) would read them
again and again. A session the pipeline opens :func:`enable`\\s the cache; each transaction
of that session starts with an empty one, so a change another process commits is seen by the
next transaction, as a change committed during a single message's transaction would be. The
pipeline itself never writes those tables (but for the hash key, which is created once and
never changes). Sessions that did not enable it read the database every time.

Some rows are only written by the pipeline, never read back in its transaction: audit
entries, plugin events, participant rows. :func:`defer_insert` gathers them, and they are
written just before the transaction commits, one multi-row INSERT per table for the whole
batch instead of one statement per message. A rollback discards them with everything else.
What such a row describes may be read for the whole batch at once when it is written
(:func:`at_write`: the contacts of the ``email_logged`` events).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from sqlalchemy import Table, event
from sqlalchemy.orm import Session

T = TypeVar("T")
_KEY = "bccrm.txcache"


class _Cache:
    __slots__ = ("callbacks", "inserts", "transaction", "values")

    def __init__(self) -> None:
        self.transaction: object | None = None
        self.values: dict[Hashable, object] = {}
        self.inserts: dict[Table, list[dict[str, Any]]] = {}
        self.callbacks: dict[Hashable, Callable[[], None]] = {}


def enable(session: Session) -> None:
    """Cache :func:`cached` reads and gather :func:`defer_insert` rows in ``session``, one
    transaction at a time."""
    session.info[_KEY] = _Cache()


def _current(session: Session) -> _Cache | None:
    """The session's cache, emptied when a new transaction began; None when not enabled or
    outside a transaction."""
    cache = session.info.get(_KEY)
    transaction = session.get_transaction()
    if cache is None or transaction is None:
        return None
    if cache.transaction is not transaction:
        cache.transaction, cache.values, cache.inserts = transaction, {}, {}
        cache.callbacks = {}
    return cast(_Cache, cache)


def cached(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``, once per transaction of ``session`` if it enabled the cache."""
    cache = _current(session)
    if cache is None:
        return load()
    if key not in cache.values:
        cache.values[key] = load()
    return cast(T, cache.values[key])


def mapping(session: Session, key: Hashable) -> dict[Any, Any]:
    """A dict kept under ``key`` for the transaction (a fresh one each call in a session
    that did not enable the cache)."""
    return cached(session, key, dict)


def peek(session: Session, key: Hashable) -> Any:
    """What :func:`cached` keeps under ``key`` in the current transaction, or None."""
    cache = session.info.get(_KEY)
    if cache is None or cache.transaction is not session.get_transaction():
        return None
    return cache.values.get(key)


def _deferring(session: Session) -> _Cache | None:
    """The cache to defer work to: None when the session did not enable it, or is inside a
    savepoint (which could roll back without what was deferred)."""
    return None if session.in_nested_transaction() else _current(session)


def defer_insert(session: Session, table: Table, *rows: dict[str, Any]) -> bool:
    """Write ``rows`` into ``table`` just before the transaction commits. False when this
    session does not defer (:func:`_deferring`): the caller writes them now. Every row of a
    table must name the same columns."""
    if (cache := _deferring(session)) is None:
        return False
    cache.inserts.setdefault(table, []).extend(rows)
    return True


def at_write(session: Session, key: Hashable, callback: Callable[[], None]) -> bool:
    """Run ``callback`` just before the deferred rows are next written (once per ``key``: a
    second call with the same key before then keeps the first callback). It may read the
    database, complete rows it deferred and defer more. False when :func:`defer_insert` would
    not defer either: the caller does its work now."""
    if (cache := _deferring(session)) is None:
        return False
    cache.callbacks.setdefault(key, callback)
    return True


@event.listens_for(Session, "before_commit")
def write_deferred(session: Session) -> None:
    """Write the rows :func:`defer_insert` gathered in the current transaction now (before
    the commit; or before reading one of those tables back, which the pipeline avoids)."""
    cache = session.info.get(_KEY)
    if cache is None or cache.transaction is not session.get_transaction():
        return
    if not cache.inserts and not cache.callbacks:
        return
    session.flush()  # the rows they refer to
    while cache.callbacks:  # a callback's reads may flush; each runs once
        callbacks, cache.callbacks = cache.callbacks, {}
        for callback in callbacks.values():
            callback()
    inserts, cache.inserts = cache.inserts, {}
    for table, rows in inserts.items():
        session.execute(table.insert(), rows)
