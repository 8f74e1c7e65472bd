"""Pure contact matching: name folding and similarity, blocking keys, confidence scores and the
policy of who must never become a contact. No database, no I/O."""

from gateway.matching.names import (
    HONORIFICS,
    NICKNAMES,
    address_matches_name,
    blocking_keys,
    fold,
    name_from_address,
    name_similarity,
    name_tokens,
    query_keys,
)
from gateway.matching.policy import (
    DEFAULT_ROLE_ADDRESSES,
    MessageFlags,
    creation_block,
    is_role_address,
    is_role_name,
)
from gateway.matching.score import (
    MAX_FUZZY_CONFIDENCE,
    CandidateRecord,
    Probe,
    Score,
    rank,
    score,
)

__all__ = [
    "DEFAULT_ROLE_ADDRESSES",
    "HONORIFICS",
    "MAX_FUZZY_CONFIDENCE",
    "NICKNAMES",
    "CandidateRecord",
    "MessageFlags",
    "Probe",
    "Score",
    "address_matches_name",
    "blocking_keys",
    "creation_block",
    "fold",
    "is_role_address",
    "is_role_name",
    "name_from_address",
    "name_similarity",
    "name_tokens",
    "query_keys",
    "rank",
    "score",
]
