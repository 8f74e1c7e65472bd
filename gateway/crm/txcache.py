"""Reads kept for the length of one pipeline transaction.

Some rows change only by an admin's hand: the installation's hash key, the never-log list,
the users and their addresses. Every message asks about them, so a worker's batch of messages
(one transaction, :meth:`gateway.pipeline.MessageProcessor.process_batch`) would read them
again and again. A session the pipeline opens :func:`enable`\\s the cache; each transaction
of that session starts with an empty one, so a change another process commits is seen by the
next transaction, as a change committed during a single message's transaction would be. The
pipeline itself never writes those tables (but for the hash key, which is created once and
never changes). Sessions that did not enable it read the database every time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar, cast

from sqlalchemy.orm import Session

T = TypeVar("T")
_KEY = "bccrm.txcache"


class _Cache:
    __slots__ = ("transaction", "values")

    def __init__(self) -> None:
        self.transaction: object | None = None
        self.values: dict[Hashable, object] = {}


def enable(session: Session) -> None:
    """Cache :func:`cached` reads in ``session``, one transaction at a time."""
    session.info[_KEY] = _Cache()


def cached(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``, once per transaction of ``session`` if it enabled the cache."""
    cache = session.info.get(_KEY)
    transaction = session.get_transaction()
    if cache is None or transaction is None:
        return load()
    if cache.transaction is not transaction:
        cache.transaction, cache.values = transaction, {}
    if key not in cache.values:
        cache.values[key] = load()
    return cast(T, cache.values[key])
