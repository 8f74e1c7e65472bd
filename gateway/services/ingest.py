"""``bccrm ingest``: run archived mail (.eml, directories, mbox, Maildir) through the pipeline.

Each message goes through the same pipeline as mail arriving at the logging address, in this
process, so the command can report each outcome. Nothing is spooled: the source files stay
where they are, and a held message is reported with its file so it can be fixed and re-run.
"""

from __future__ import annotations

import hashlib
import mailbox
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from gateway.pipeline import MessageProcessor, Outcome
from gateway.spool import Envelope

MBOX_MAGIC = b"From "


@dataclass(frozen=True)
class Source:
    """One message to ingest: a label for reports and how to read its bytes."""

    label: str
    load: Callable[[], bytes]

    def read(self) -> bytes:
        return self.load()


@dataclass
class IngestSummary:
    total: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)


def is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


@contextmanager
def open_sources(paths: list[Path]) -> Iterator[list[Source]]:
    """Every message under ``paths``, with the mailboxes they need open until the block ends.

    Raise ``FileNotFoundError`` for a path that does not exist.
    """
    with ExitStack() as stack:
        sources: list[Source] = []
        for path in paths:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such file or directory")
            sources.extend(_discover(path, stack))
        yield sources


def _discover(path: Path, stack: ExitStack) -> Iterator[Source]:
    if path.is_dir():
        if is_maildir(path):
            yield from _from_mailbox(path, mailbox.Maildir(path, factory=None, create=False))
            return
        for child in sorted(path.iterdir()):
            if child.is_dir() or child.suffix.lower() in (".eml", ".mbox"):
                yield from _discover(child, stack)
        return
    with path.open("rb") as handle:
        starts_mbox = handle.read(len(MBOX_MAGIC)) == MBOX_MAGIC
    if starts_mbox:
        box = mailbox.mbox(path, create=False)
        stack.callback(box.close)
        yield from _from_mailbox(path, box)
    else:
        yield Source(str(path), path.read_bytes)


def _from_mailbox(path: Path, box: mailbox.Mailbox[Any]) -> Iterator[Source]:
    """One source per message; all share ``box`` so its index is built once."""
    for index, key in enumerate(sorted(box.keys()), start=1):
        yield Source(f"{path}#{index}", partial(box.get_bytes, key))


class IngestService:
    def __init__(self, processor: MessageProcessor, rcpt: str) -> None:
        self.processor = processor
        self.rcpt = rcpt

    def ingest(self, source: Source, dry_run: bool = False) -> Outcome:
        raw = source.read()
        envelope = Envelope(mail_from="", rcpt_tos=(self.rcpt,), transport="ingest")
        # The label (a path) can be long; the entry id must fit audit and log lines.
        entry_id = "ingest:" + hashlib.sha256(source.label.encode()).hexdigest()[:16]
        return self.processor.process(entry_id, raw, envelope, dry_run=dry_run)
