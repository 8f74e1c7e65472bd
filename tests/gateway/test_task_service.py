"""TaskService (``bccrm tasks``), the idempotent insert the tasks plugin uses, and the tasks on
a contact's timeline (ContactDirectory) — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.app import App
from gateway.crm import AuditEntry, Task, repo
from gateway.services.contacts import ContactDirectory
from gateway.services.tasks import (
    TITLE_CHARS,
    NewTask,
    TaskError,
    TaskService,
    add_task,
    task_title,
)
from tests.support import add_user

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def add_contact(app: App, address: str, first: str, last: str) -> int:
    with app.sessions.begin() as session:
        contact = repo.create_contact(
            session, address, first_name=first, last_name=last, origin="manual"
        )
        return contact.id


def make(app: App, key: str, *, owner: int | None = None, **fields: object) -> int:
    fields.setdefault("title", f"Task {key}")
    fields.setdefault("rule", "test")
    with app.sessions.begin() as session:
        task = add_task(session, NewTask(key=key, **fields), "cli:test", lambda _s: owner)
        assert task is not None
        return task.id


@pytest.fixture
def people(app: App) -> dict[str, int]:
    return {
        "anna": add_user(app, "anna@example.com", "Anna Nowak", "a.nowak@example.com"),
        "hans": add_user(app, "hans@example.com", "Hans Weber"),
        "jan": add_contact(app, "jan@acme.pl", "Jan", "Kowalski"),
        "ewa": add_contact(app, "ewa@gamma.pl", "Ewa", "Lis"),
    }


def test_add_task_is_idempotent_on_its_key(app: App, people: dict[str, int]) -> None:
    """The second insert of a key gives None without asking for an owner (no round-robin turn
    is taken) and leaves the transaction usable; one audit entry."""
    asked: list[str] = []

    def owner(_session: Session) -> int:
        asked.append("asked")
        return people["anna"]

    new = NewTask(key="no_reply:7", title="No reply: x", rule="no_reply", contact_id=people["jan"])
    with app.sessions.begin() as session:
        first = add_task(session, new, "plugin:tasks", owner)
        again = add_task(session, new, "plugin:tasks", owner)
        other = add_task(session, NewTask(key="other", title="y", rule="r"), "plugin:tasks")
        assert first is not None and again is None and other is not None
    assert asked == ["asked"]
    with app.sessions() as session:
        task = session.get_one(Task, first.id)
        assert (task.owner_id, task.status, task.created_by) == (
            people["anna"], "open", "plugin:tasks",
        )  # fmt: skip
        audits = session.scalar(select(func.count()).where(AuditEntry.action == "task.created"))
        assert audits == 2


def test_two_workers_inserting_the_same_key_make_one_task(app: App) -> None:
    """Both pass the existence check before either inserts: the unique key decides, and the
    loser's savepoint is rolled back (its transaction goes on)."""
    if app.engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE): there is no race")
    barrier = threading.Barrier(2, timeout=30)
    results: list[bool] = []

    def owner(_session: Session) -> None:
        barrier.wait()  # both have found no task with the key

    def worker() -> None:
        with app.sessions.begin() as session:
            made = add_task(session, NewTask(key="race", title="t", rule="r"), "w", owner)
            results.append(made is not None)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [False, True]
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 1


def test_task_title_is_one_line_cut_to_the_column() -> None:
    assert task_title("Follow up: ", "Re:\r\n  Oferta\tna\x0bwdrożenie ") == (
        "Follow up: Re: Oferta na wdrożenie"
    )
    assert task_title("No reply: ", "") == "No reply: (no subject)"
    long = task_title("No reply: ", "S" * 1_000_000)
    assert len(long) == TITLE_CHARS and long.startswith("No reply: SSS")


def test_list_filters_and_orders(app: App, people: dict[str, int]) -> None:
    """Open tasks first, soonest due first and those without a due date last; then closed ones
    newest first. Filters: status, owner (by any of their addresses), contact."""
    later = make(app, "later", owner=people["anna"], due_at=T0 + timedelta(days=3),
                 contact_id=people["jan"])  # fmt: skip
    undated = make(app, "undated", owner=people["hans"], contact_id=people["ewa"])
    soon = make(app, "soon", owner=people["anna"], due_at=T0, contact_id=people["ewa"])
    closed_first = make(app, "closed1", due_at=T0)
    closed_last = make(app, "closed2", due_at=T0 + timedelta(days=9))
    service = TaskService(app.sessions, actor="cli:test")
    for task_id in (closed_first, closed_last):
        service.done(task_id)

    assert [t.id for t in service.list()] == [soon, later, undated]
    assert [t.id for t in service.list(status="all")] == [
        soon, later, undated, closed_last, closed_first,
    ]  # fmt: skip
    assert [t.id for t in service.list(status="done")] == [closed_last, closed_first]
    assert [t.id for t in service.list(owner="A.Nowak@Example.com")] == [soon, later]
    assert [t.id for t in service.list(contact_id=people["ewa"])] == [soon, undated]
    assert [t.id for t in service.list(status="all", limit=2)] == [soon, later]
    [info] = service.list(owner="hans@example.com")
    assert (info.owner_email, info.contact_name, info.title) == (
        "hans@example.com", "Ewa Lis", "Task undated",
    )  # fmt: skip
    with pytest.raises(TaskError, match="not a registered user address"):
        service.list(owner="nobody@example.com")
    with pytest.raises(TaskError, match="status must be one of"):
        service.list(status="lost")


def test_done_is_audited_once_and_refuses_what_it_cannot_do(
    app: App, people: dict[str, int]
) -> None:
    task_id = make(app, "k", owner=people["anna"])
    service = TaskService(app.sessions, actor="anna@example.com")
    result = service.done(task_id)
    assert result.changed and result.task.status == "done" and result.task.done_at is not None
    again = service.done(task_id)
    assert not again.changed and again.task.done_at == result.task.done_at
    with app.sessions.begin() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "task.done")).all()
        assert [(e.actor, e.object_id) for e in entries] == [("anna@example.com", str(task_id))]
        cancelled = Task(title="c", status="cancelled", rule="r", key="c")
        session.add(cancelled)
        session.flush()
        cancelled_id = cancelled.id
    with pytest.raises(TaskError, match="was cancelled"):
        service.done(cancelled_id)
    with pytest.raises(TaskError, match="no task 999"):
        service.done(999)
    with pytest.raises(TaskError, match="no task 999"):
        service.get(999)
    assert service.get(task_id).status == "done"


def test_timeline_lists_the_contacts_tasks(app: App, people: dict[str, int]) -> None:
    open_task = make(app, "a", owner=people["anna"], due_at=T0, contact_id=people["jan"])
    closed = make(app, "b", contact_id=people["jan"])
    make(app, "c", contact_id=people["ewa"])  # someone else's
    TaskService(app.sessions).done(closed)
    timeline = ContactDirectory(app.sessions, app.config.organization).timeline(people["jan"])
    assert [(t.id, t.status) for t in timeline.tasks] == [(open_task, "open"), (closed, "done")]
    assert timeline.tasks[0].owner_email == "anna@example.com"
    assert timeline.tasks[0].due_at == T0
    empty = ContactDirectory(app.sessions, app.config.organization).timeline(
        add_contact(app, "nobody@delta.pl", "No", "Body")
    )
    assert empty.tasks == ()
