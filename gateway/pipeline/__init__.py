"""Ordered, named stages over a typed :class:`MessageContext`."""

from collections.abc import Callable

from gateway.config import Config
from gateway.pipeline.associate import AssociateStage
from gateway.pipeline.context import (
    HoldMessage,
    MessageContext,
    Stage,
)
from gateway.pipeline.log import LogStage
from gateway.pipeline.match import MatchStage
from gateway.pipeline.privacy import PrivacyStage
from gateway.pipeline.runner import MessageProcessor, Outcome, Pipeline
from gateway.pipeline.stages import ParseStage
from gateway.pipeline.verify import VerifyStage

# The order is data: a stage sees what the stages before it added to the context.
DEFAULT_STAGES = ("parse", "verify", "privacy", "match", "log", "associate")
STAGES: dict[str, Callable[[Config], Stage]] = {
    stage.name: stage
    for stage in (ParseStage, VerifyStage, PrivacyStage, MatchStage, LogStage, AssociateStage)
}

__all__ = [
    "DEFAULT_STAGES",
    "STAGES",
    "AssociateStage",
    "HoldMessage",
    "LogStage",
    "MatchStage",
    "MessageContext",
    "MessageProcessor",
    "Outcome",
    "ParseStage",
    "Pipeline",
    "PrivacyStage",
    "Stage",
    "VerifyStage",
]
