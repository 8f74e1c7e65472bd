"""bccrm-keyword-alert: an example bccrm plugin.

Writes one JSON line per logged email whose subject names a watched word, keeps mail marked
"[confidential]" out of the CRM with a privacy rule, and notes in the pipeline what it saw.

Install it as a package with this entry point, then list it in [plugins] if you restrict them:

    [project.entry-points.bccrm]
    keyword_alert = "bccrm_keyword_alert"

Configure it in bccrm.toml:

    [plugin.keyword_alert]
    words = ["urgent", "pilne"]
    path = "/var/lib/bccrm/alerts.jsonl"
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway.hooks import EmailLogged, PluginContext, RetryLater, hookimpl


@hookimpl
def bccrm_configure(context: PluginContext) -> None:
    """Read [plugin.keyword_alert] once at start; a mistake stops bccrm with its name."""
    settings = context.settings
    words = settings.strings("words", ())
    path = settings.get("path", str, "")
    settings.finish()  # an unknown key (a typo) is an error too
    if words and not path:
        raise ValueError("plugin.keyword_alert.path: must be set when words are")
    context.state["words"] = tuple(w.casefold() for w in words)
    context.state["path"] = Path(path) if path else None


@hookimpl
def bccrm_message_parsed(ctx, context: PluginContext) -> None:  # type: ignore[no-untyped-def]
    """In the worker, before anything is stored: explain in the message's notes."""
    subject = ctx.parsed.subject.casefold() if ctx.parsed else ""
    if any(word in subject for word in context.state["words"]):
        ctx.note("keyword_alert", "watched word in the subject")


class Confidential:
    """A privacy rule: mail whose subject starts with [confidential] is not logged at all."""

    name = "keyword_alert.confidential"
    description = "Subjects starting with [confidential] are never logged."

    def check(self, facts, verdict) -> None:  # type: ignore[no-untyped-def]
        hit = facts.subject.strip().casefold().startswith("[confidential]")
        if hit:
            verdict.raise_level("drop", self.name)
        verdict.record(self.name, hit, "drop" if hit else "")


@hookimpl
def bccrm_privacy_rules() -> list[Confidential]:
    return [Confidential()]


@hookimpl
def bccrm_email_logged(event: EmailLogged, context: PluginContext) -> None:
    """After the email is committed: append an alert line. A full disk is temporary, so ask
    bccrm to try again later instead of losing the alert."""
    path = context.state["path"]
    subject = event.subject.casefold()
    if path is None or not any(word in subject for word in context.state["words"]):
        return
    line = {"event": event.event_id, "email": event.email_id, "subject": event.subject}
    try:
        with path.open("a", encoding="utf-8") as alerts:
            alerts.write(json.dumps(line, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise RetryLater(f"cannot write alerts ({exc.errno})") from None
