"""The parse stage. Each stage is small and named; their order is data
(:data:`gateway.pipeline.DEFAULT_STAGES`)."""

from __future__ import annotations

from gateway.addresses import base_address
from gateway.config import Config
from gateway.parsing import Participant
from gateway.parsing.analysis import analyze
from gateway.pipeline.context import HoldMessage, MessageContext


class ParseStage:
    name = "parse"
    description = "Read the message: the original author of a forward, participants, newest "
    "text, signature, thread keys, tokens, flags and direction."
    uses_database = False  # runs before the message's transaction begins

    def __init__(self, config: Config) -> None:
        self.org_domains = config.organization.domains
        self.region = config.organization.default_region
        self.logging_addresses = frozenset(config.logging.addresses)

    def process(self, ctx: MessageContext) -> None:
        analysis = analyze(
            ctx.raw,
            self.org_domains,
            self.region,
            tuple(self.logging_addresses),
            ctx.envelope.rcpt_tos,
        )
        parsed = analysis.parsed
        if parsed.sender is None:
            raise HoldMessage("From is not exactly one valid address")
        # The logging address itself is plumbing, not a participant of the conversation.
        parsed.participants = self._people(parsed.participants)
        ctx.parsed, ctx.analysis = parsed, analysis
        ctx.author = analysis.original_sender or parsed.sender
        ctx.participants = self._people(analysis.participants)
        ctx.direction = analysis.direction
        if analysis.forwarded:
            ctx.note(self.name, "forwarded: logged under the original author")
        ctx.note(self.name, f"direction {ctx.direction}")

    def _people(self, people: list[Participant]) -> list[Participant]:
        return [p for p in people if base_address(p.email)[0] not in self.logging_addresses]
