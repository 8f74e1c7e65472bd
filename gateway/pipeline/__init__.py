"""Ordered, named stages over a typed :class:`MessageContext`."""

from gateway.pipeline.context import (
    HoldMessage,
    MessageContext,
    ParticipantMatch,
    Stage,
)
from gateway.pipeline.runner import MessageProcessor, Outcome, Pipeline
from gateway.pipeline.stages import LogStage, MatchStage, ParseStage

# The order is data: a stage sees what the stages before it added to the context.
DEFAULT_STAGES = ("parse", "match", "log")
STAGES = {stage.name: stage for stage in (ParseStage, MatchStage, LogStage)}

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
]
