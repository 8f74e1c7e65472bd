"""Follow-up tasks (call back, send the quote, chase the unanswered mail): listing and closing
them for ``bccrm tasks`` and the admin TUI's contact timeline, and the idempotent insert the
workflow plugins (``plugins/tasks.py``) create them with.

A task's ``key`` ("no_reply:<email id>") is unique: the same rule never makes the same task
twice, whether an event is delivered again or several nodes run the same tick. The insert runs
in a savepoint and a unique violation means "already there".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.addresses import normalize_address
from gateway.crm import Contact, Task, UserAddress, repo, utcnow
from gateway.crm.plugins import TASK_STATUSES

STATUS_FILTERS = (*TASK_STATUSES, "all")
LIST_LIMIT = 200
TITLE_CHARS = 300  # the column's length


class TaskError(ValueError):
    """A task request that cannot be answered (no such task or user); the message says why."""


@dataclass(frozen=True)
class TaskInfo:
    id: int
    title: str
    status: str  # open | done | cancelled
    due_at: datetime | None
    owner_id: int | None
    owner_email: str  # the owner's primary address; "" when the task has no owner
    contact_id: int | None
    contact_name: str
    deal_id: int | None
    email_id: int | None
    rule: str  # the rule that made it ("buying_signal", "no_reply", "new_contact")
    created_at: datetime
    created_by: str
    done_at: datetime | None


@dataclass(frozen=True)
class TaskDone:
    task: TaskInfo
    changed: bool  # False: it was done already


@dataclass(frozen=True)
class NewTask:
    """What a rule wants created; ``key`` makes it idempotent."""

    key: str
    title: str
    rule: str
    due_at: datetime | None = None
    contact_id: int | None = None
    deal_id: int | None = None
    email_id: int | None = None


def task_title(prefix: str, text: str) -> str:
    """``prefix`` and ``text`` on one line (whitespace collapsed), cut to the column."""
    line = " ".join(text[: TITLE_CHARS * 4].split()) or "(no subject)"
    return f"{prefix}{line}"[:TITLE_CHARS]


def add_task(
    session: Session,
    new: NewTask,
    actor: str,
    owner: Callable[[Session], int | None] = lambda _session: None,
) -> Task | None:
    """Create ``new`` unless a task with its key exists (then None). ``owner`` is asked inside
    the same savepoint as the insert, so a round-robin turn it takes is given back when the
    task turns out to exist already (another node was quicker)."""
    if session.scalar(select(Task.id).where(Task.key == new.key)) is not None:
        return None
    try:
        with session.begin_nested():
            task = Task(
                title=new.title[:TITLE_CHARS],
                due_at=new.due_at,
                status="open",
                owner_id=owner(session),
                contact_id=new.contact_id,
                deal_id=new.deal_id,
                email_id=new.email_id,
                rule=new.rule,
                key=new.key,
                created_by=actor[:320],
            )
            session.add(task)
            session.flush()
    except IntegrityError:
        return None  # the same key, inserted meanwhile by someone else
    repo.audit(
        session, actor, "task.created", "task", task.id,
        rule=new.rule, contact=new.contact_id, email=new.email_id, owner=task.owner_id,
    )  # fmt: skip
    return task


def primary_addresses(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's primary address (else their first one)."""
    ids = {i for i in user_ids if i is not None}
    found: dict[int, str] = {}
    if not ids:
        return found
    rows = session.execute(
        select(UserAddress.user_id, UserAddress.email)
        .where(UserAddress.user_id.in_(ids))
        .order_by(UserAddress.is_primary.desc(), UserAddress.id)
    )
    for user_id, email in rows:
        found.setdefault(user_id, email)
    return found


def task_infos(
    session: Session, conditions: Iterable[ColumnElement[bool]], limit: int = LIST_LIMIT
) -> list[TaskInfo]:
    """Tasks meeting ``conditions``: open ones first, soonest due first (no due date last,
    the older first on the same date), then the rest newest first."""
    is_open = Task.status == "open"
    statement = (
        select(Task, Contact.first_name, Contact.last_name)
        .outerjoin(Contact, Contact.id == Task.contact_id)
        .where(*conditions)
        .order_by(
            case((is_open, 0), else_=1),
            case((and_(is_open, Task.due_at.is_(None)), 1), else_=0),
            case((is_open, Task.due_at), else_=None),
            case((is_open, Task.id), else_=None),  # open: the older first
            Task.id.desc(),  # closed: the newest first
        )
        .limit(max(limit, 1))
    )
    rows = session.execute(statement).tuples().all()
    owners = primary_addresses(session, (task.owner_id for task, _, _ in rows if task.owner_id))
    return [
        TaskInfo(
            id=task.id,
            title=task.title,
            status=task.status,
            due_at=task.due_at,
            owner_id=task.owner_id,
            owner_email=owners.get(task.owner_id, "") if task.owner_id else "",
            contact_id=task.contact_id,
            contact_name=" ".join(p for p in (first or "", last or "") if p),
            deal_id=task.deal_id,
            email_id=task.email_id,
            rule=task.rule,
            created_at=task.created_at,
            created_by=task.created_by,
            done_at=task.done_at,
        )
        for task, first, last in rows
    ]


class TaskService:
    """The tasks as ``bccrm tasks`` and the admin TUI see them; changes are audited."""

    def __init__(self, sessions: sessionmaker[Session], actor: str = "cli") -> None:
        self.sessions = sessions
        self.actor = actor

    def list(
        self,
        *,
        owner: str | None = None,
        status: str = "open",
        contact_id: int | None = None,
        limit: int = LIST_LIMIT,
    ) -> list[TaskInfo]:
        """Tasks with ``status`` ("all" for every one), of the user owning address ``owner``
        and of contact ``contact_id`` when given."""
        if status not in STATUS_FILTERS:
            raise TaskError(f"status must be one of {', '.join(STATUS_FILTERS)}")
        conditions: list[ColumnElement[bool]] = []
        if status != "all":
            conditions.append(Task.status == status)
        if contact_id is not None:
            conditions.append(Task.contact_id == contact_id)
        with self.sessions() as session:
            if owner is not None:
                conditions.append(Task.owner_id == self._user_id(session, owner))
            return task_infos(session, conditions, limit)

    def get(self, task_id: int) -> TaskInfo:
        with self.sessions() as session:
            found = task_infos(session, [Task.id == task_id], 1)
        if not found:
            raise TaskError(f"no task {task_id}")
        return found[0]

    def done(self, task_id: int) -> TaskDone:
        """Mark the task done (audited); a task done already is left as it is, a cancelled
        one is refused."""
        with self.sessions.begin() as session:
            task = session.get(Task, task_id, with_for_update=True)
            if task is None:
                raise TaskError(f"no task {task_id}")
            if task.status == "cancelled":
                raise TaskError(f"task {task_id} was cancelled")
            changed = task.status != "done"
            if changed:
                task.status, task.done_at = "done", utcnow()
                repo.audit(session, self.actor, "task.done", "task", task.id)
        return TaskDone(self.get(task_id), changed)

    @staticmethod
    def _user_id(session: Session, address: str) -> int:
        normalized = normalize_address(address)
        user_id = None
        if normalized is not None:
            user_id = session.scalar(
                select(UserAddress.user_id).where(UserAddress.email == normalized)
            )
        if user_id is None:
            raise TaskError(f"{address!r} is not a registered user address")
        return user_id
