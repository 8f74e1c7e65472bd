"""Ordered, named stages over a typed :class:`MessageContext`."""

from collections.abc import Callable

from gateway.config import Config
from gateway.pipeline.context import (
    HoldMessage,
    MessageContext,
    ParticipantMatch,
    Stage,
)
from gateway.pipeline.runner import MessageProcessor, Outcome, Pipeline
from gateway.pipeline.stages import LogStage, MatchStage, ParseStage
from gateway.pipeline.verify import VerifyStage

# The order is data: a stage sees what the stages before it added to the context.
DEFAULT_STAGES = ("parse", "verify", "match", "log")
STAGES: dict[str, Callable[[Config], Stage]] = {
    stage.name: stage for stage in (ParseStage, VerifyStage, MatchStage, LogStage)
}

__all__ = [
    "DEFAULT_STAGES",
    "STAGES",
    "HoldMessage",
    "LogStage",
    "MatchStage",
    "MessageContext",
    "MessageProcessor",
    "Outcome",
    "ParseStage",
    "ParticipantMatch",
    "Pipeline",
    "Stage",
    "VerifyStage",
]
