"""Authentication-Results (RFC 8601) written by our own MTA, and by nobody else.

Trust rule: a field counts only if its authserv-id is ours (case-insensitive) **and** it sits
above the topmost ``Received`` header. An MTA prepends its Received header when it accepts a
message, so everything above the topmost one was added on our side afterwards (milters, content
filters, the delivery agent); everything below it came with the message, and a sender can write
an A-R field with our authserv-id as easily as any other header. RFC 8601 §5 asks MTAs to strip
such forgeries, but OpenDKIM's removal has deleted the wrong fields (trusteddomainproject/
OpenDKIM#148), so we do not rely on it. A message without any Received header yields nothing:
there is no line between our headers and the sender's.

Cost of the rule: OpenDKIM and OpenDMARC running as Postfix milters insert their field at index
1, *below* Postfix's own Received (SpamAssassin's AuthRes plugin lists them as offenders), so
their results are ignored. That fails closed; bccrm verifies DKIM itself (``verify_dkim``) and
A-R is only a second source, for MTAs that prepend (RFC 8601 §5, as trace fields are).

The parser is one linear pass (no regular expressions), bounded in field length and counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message

from gateway.verify.align import aligned, canonical_signer

MAX_FIELD_CHARS = 8192  # longer fields are ignored whole: truncating could change their meaning
MAX_FIELDS = 16  # A-R fields parsed above the topmost Received
MAX_RESULTS = 32  # resinfo entries per field
MAX_PROPERTIES = 16  # ptype.property pairs per result
MAX_HEADER_BYTES = 102_400  # Postfix's header_size_limit

Token = tuple[str, str]  # (kind, text); kind is "word", "quoted", ";" or "="
Headers = list[tuple[str, str]] | Message


@dataclass(frozen=True)
class AuthResult:
    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


def trusted_results(raw_headers: Headers, authserv_id: str) -> list[AuthResult]:
    """Results from A-R fields with our ``authserv_id`` above the topmost Received header."""
    ours = authserv_id.strip().lower()
    found: list[AuthResult] = []
    seen = 0
    for name, value in _pairs_of(raw_headers):
        key = name.strip().lower()
        if key == "received":
            return found
        if key == "authentication-results" and seen < MAX_FIELDS:
            seen += 1
            parsed = parse_authentication_results(value)
            if parsed is not None and parsed[0].lower() == ours:
                found.extend(parsed[1])
    return []  # no Received header at all: nothing can be told apart from the sender's


def dkim_pass_from_results(results: Iterable[AuthResult], author_domain: str) -> str | None:
    """The aligned signing domain of the first ``dkim=pass`` result, canonical; else ``None``.

    ``header.d`` is the signer; ``header.i`` is used only without it (DKIM keeps i= inside d=).
    """
    for item in results:
        if item.method != "dkim" or item.result != "pass":
            continue
        signer = item.properties.get("header.d")
        if signer is None:
            signer = item.properties.get("header.i", "").rpartition("@")[2]
        if signer and aligned(signer, author_domain):
            return canonical_signer(signer)
    return None


def parse_authentication_results(value: str) -> tuple[str, list[AuthResult]] | None:
    """``(authserv-id, results)`` of one field value; ``None`` when it is not a valid field."""
    if len(value) > MAX_FIELD_CHARS:
        return None
    tokens = _Lexer().run(value)
    if not tokens or tokens[0][0] not in ("word", "quoted"):
        return None
    head, *groups = _split(tokens[1:])
    if head and not (len(head) == 1 and head[0][1].isdigit()):  # only an authres-version
        return None
    results = (_result(group) for group in groups[:MAX_RESULTS])
    return tokens[0][1], [item for item in results if item is not None]


def header_fields(raw: bytes, limit: int = MAX_HEADER_BYTES) -> list[tuple[str, str]]:
    """The header block of ``raw`` as ``(name, value)`` pairs, top first, folds joined.

    Lines are split on LF only (``str.splitlines`` would also split on FF, FS and U+2028 and
    invent headers). At most ``limit`` bytes are read; the trusted fields sit at the top, so a
    cut can only lose trust, never add it.
    """
    fields: list[list[str]] = []
    for line in raw[:limit].split(b"\n"):
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        if not text:
            break
        if text[0] in " \t":
            if fields:
                fields[-1][1] += " " + text.strip()
            continue
        name, sep, rest = text.partition(":")
        if sep and name and not any(ch in name for ch in " \t"):
            fields.append([name, rest.strip()])
    return [(name, value) for name, value in fields]


def _pairs_of(raw_headers: Headers) -> list[tuple[str, str]]:
    if isinstance(raw_headers, Message):
        return [(str(name), str(value)) for name, value in raw_headers.raw_items()]
    return raw_headers


class _Lexer:
    """One pass over a field value: words, quoted strings, ``;`` and ``=``; comments dropped."""

    def __init__(self) -> None:
        self.tokens: list[Token] = []
        self.word: list[str] = []
        self.quoted: list[str] | None = None
        self.depth = 0
        self.escaped = False

    def run(self, value: str) -> list[Token] | None:
        """Tokens, or ``None`` for an unclosed comment or quoted string (meaning unknown)."""
        for ch in value:
            if self.escaped:
                self.escaped = False
                if self.quoted is not None:
                    self.quoted.append(ch)
            elif ch == "\\" and (self.quoted is not None or self.depth):
                self.escaped = True
            elif self.depth:
                self.depth += {"(": 1, ")": -1}.get(ch, 0)
            elif self.quoted is not None:
                self._quoted(ch, self.quoted)
            else:
                self._plain(ch)
        self._flush()
        return None if self.depth or self.quoted is not None or self.escaped else self.tokens

    def _quoted(self, ch: str, quoted: list[str]) -> None:
        if ch == '"':
            self.tokens.append(("quoted", "".join(quoted)))
            self.quoted = None
        else:
            quoted.append(ch)

    def _plain(self, ch: str) -> None:
        if ch == "=" and self.word and self.tokens and self.tokens[-1][0] == "=":
            self.word.append(ch)  # inside a value: base64 padding such as header.b=abc=
        elif ch in ' \t\r\n(";=':
            self._flush()
            if ch == "(":
                self.depth = 1
            elif ch == '"':
                self.quoted = []
            elif ch in ";=":
                self.tokens.append((ch, ch))
        else:
            self.word.append(ch)

    def _flush(self) -> None:
        if self.word:
            self.tokens.append(("word", "".join(self.word)))
            self.word = []


def _split(tokens: list[Token]) -> list[list[Token]]:
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if token[0] == ";":
            groups.append([])
        else:
            groups[-1].append(token)
    return groups


def _result(group: list[Token]) -> AuthResult | None:
    """``method=result`` first, then ``reason=`` and ``ptype.property=value`` pairs."""
    pairs = _key_values(group)
    if not pairs or not _is_pair(group, 0):
        return None  # also "none": no result, nothing to report
    method, result = pairs[0][0].partition("/")[0].lower(), pairs[0][1].lower()
    if not (_keyword(method) and _keyword(result)):
        return None
    properties: dict[str, str] = {}
    for key, value in pairs[1 : MAX_PROPERTIES + 1]:
        name = key.lower()
        if "." in name or name == "reason":
            properties.setdefault(name, value)
    return AuthResult(method, result, properties)


def _key_values(group: list[Token]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    index = 0
    while index < len(group):
        if _is_pair(group, index):
            pairs.append((group[index][1], group[index + 2][1]))
            index += 3
        else:
            index += 1
    return pairs


def _is_pair(group: list[Token], index: int) -> bool:
    window = [kind for kind, _ in group[index : index + 3]]
    return len(window) == 3 and window[0] == "word" and window[1] == "=" and window[2] != "="


def _keyword(text: str) -> bool:
    return 0 < len(text) <= 64 and text.isascii() and text.replace("-", "").isalnum()
