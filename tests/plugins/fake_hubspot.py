"""The one fake of HubSpot's CRM API in bccrm's tests: a real HTTP server on 127.0.0.1 that
keeps contacts, companies, email engagements and associations in memory, and checks every
request against the shapes HubSpot documents, answering ``400`` the way HubSpot does when a
shape is wrong (so a plugin that sends a wrong shape fails its tests, not in production).

Documented shapes it enforces (developers.hubspot.com):

- auth: ``Authorization: Bearer <private app token>``, else ``401 INVALID_AUTHENTICATION``;
- search (``POST /crm/v3/objects/{contacts,companies}/search``, docs "Search the CRM"):
  ``filterGroups[].filters[]`` of ``propertyName`` / ``operator`` / ``value``; answers
  ``{"total", "results"}``. HubSpot's search index lags behind writes; ``search_lag`` imitates
  that (objects created meanwhile are not found until :meth:`FakeHubSpot.index`);
- create (``POST /crm/v3/objects/{type}``): ``{"properties": {name: str}, "associations"?}``,
  known, writable property names only; a second contact with the same email is
  ``409 CONFLICT`` ("Contact already exists. Existing ID: N");
- read / update (``GET`` / ``PATCH /crm/v3/objects/{type}/{id}``, ``?idProperty=email`` for
  contacts); unknown ids are ``404 OBJECT_NOT_FOUND``;
- emails (docs "Activities | Email"): ``hs_timestamp`` required (ISO 8601 UTC or Unix ms),
  ``hs_email_direction`` EMAIL / INCOMING_EMAIL / FORWARDED_EMAIL, ``hs_email_status`` BOUNCED /
  FAILED / SCHEDULED / SENDING / SENT, ``hs_email_headers`` a JSON *string* with ``from``
  ``{email, firstName, lastName}`` and ``to`` / ``cc`` / ``bcc`` lists of such;
- associations: ``{"to": {"id"}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
  "associationTypeId": N}]}`` with N a default type for that pair (email→contact 198,
  email→company 186, contact→company 279 or 1), and the target must exist; v4
  ``PUT /crm/v4/objects/contacts/{id}/associations/companies/{id}`` takes a list of types.

Errors carry ``message`` texts that echo the offending values, as HubSpot's do, so tests can
check that the plugin never repeats them.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "pat-na1-test-0000"

WRITABLE = {
    "contacts": {"email", "firstname", "lastname", "jobtitle", "phone", "company", "website"},
    "companies": {"name", "domain", "phone", "industry", "city", "country", "website"},
    "emails": {
        "hs_timestamp",
        "hubspot_owner_id",
        "hs_email_direction",
        "hs_email_html",
        "hs_email_status",
        "hs_email_subject",
        "hs_email_text",
        "hs_attachment_ids",
        "hs_email_headers",
    },
}
DEFAULTS = {
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "emails": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}
# HUBSPOT_DEFINED association types: (from, type id) → to.
ASSOCIATION_TYPES = {
    ("emails", 198): "contacts",
    ("emails", 186): "companies",
    ("contacts", 279): "companies",
    ("contacts", 1): "companies",
}
OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}
DIRECTIONS = {"EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"}
STATUSES = {"BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")


class Rejected(Exception):
    """What HubSpot would answer instead of doing the request."""

    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__(message)
        self.status, self.category, self.message = status, category, message


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query string, percent-decoded
    body: str
    headers: Mapping[str, str]


def error(status: int, category: str, message: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }


def rate_limited() -> dict[str, Any]:
    """HubSpot's 429 body (docs "API usage guidelines and limits")."""
    return {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": "SECONDLY",
    }


class FakeHubSpot:
    """HubSpot's CRM API on 127.0.0.1; use as a context manager."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in WRITABLE}
        self.associations: set[tuple[str, str, str, str, int]] = set()
        self.requests: list[Request] = []
        self.rejected: list[tuple[int, str, str]] = []  # status, category, path
        self.search_lag = False
        self._unindexed: set[str] = set()
        self._script: deque[tuple[str, Reply]] = deque()
        self._ids = itertools.count(5001)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- running ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHubSpot:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    # -- test controls ------------------------------------------------------------------------

    def script(self, *replies: Reply, path: str = "") -> None:
        """Answer the next requests whose path starts with ``path`` with ``replies``, in order,
        instead of handling them (a 429, a 500, ...)."""
        self._script.extend((path, reply) for reply in replies)

    def index(self) -> None:
        """HubSpot's search index catches up: every object can be found by search."""
        self._unindexed.clear()

    def add(self, kind: str, **properties: str) -> str:
        """An object that was in HubSpot before bccrm came (found by search)."""
        return self._store(kind, properties)

    # -- views for assertions -----------------------------------------------------------------

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [obj["properties"] for obj in self.objects[kind].values()]

    def associated(self, kind: str, object_id: str, to: str) -> set[tuple[str, int]]:
        """``(target id, type id)`` of ``kind`` object ``object_id``'s associations to ``to``."""
        return {
            (t, n)
            for f, fid, tk, t, n in self.associations
            if (f, fid, tk) == (kind, object_id, to)
        }

    def seen(self, text: str) -> bool:
        """Whether ``text`` appeared in any request's path or body (ignoring case)."""
        needle = text.lower()
        return any(needle in r.path.lower() or needle in r.body.lower() for r in self.requests)

    def calls(self, method: str, prefix: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path.startswith(prefix))

    # -- the API ------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        path, query = unquote(parts.path), parse_qs(parts.query)
        with self._lock:
            self.requests.append(
                Request(method, unquote(target), body.decode("utf-8", "replace"), headers)
            )
            for index, (prefix, reply) in enumerate(self._script):
                if path.startswith(prefix):
                    del self._script[index]
                    return reply
            try:
                self._authorize(headers)
                data = self._json(method, headers, body)
                return self._route(method, path, query, data)
            except Rejected as exc:
                self.rejected.append((exc.status, exc.category, path))
                return Reply(exc.status, error(exc.status, exc.category, exc.message))

    def _authorize(self, headers: Mapping[str, str]) -> None:
        if headers.get("authorization") != f"Bearer {self.token}":
            raise Rejected(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at https://developers.hubspot.com",
            )

    @staticmethod
    def _json(method: str, headers: Mapping[str, str], body: bytes) -> Any:
        if method == "GET":
            return None
        if not headers.get("content-type", "").startswith("application/json"):
            raise Rejected(415, "VALIDATION_ERROR", "Content-Type must be application/json")
        try:
            return json.loads(body)
        except ValueError:
            raise Rejected(400, "VALIDATION_ERROR", "Invalid input JSON") from None

    def _route(self, method: str, path: str, query: dict[str, list[str]], data: Any) -> Reply:
        if m := re.fullmatch(r"/crm/v3/objects/(contacts|companies)/search", path):
            return self._search(m[1], data) if method == "POST" else _not_found(path)
        if m := re.fullmatch(r"/crm/v3/objects/(contacts|companies|emails)", path):
            return self._create(m[1], data) if method == "POST" else _not_found(path)
        if m := re.fullmatch(r"/crm/v3/objects/(contacts|companies|emails)/([^/]+)", path):
            found = self._find(m[1], m[2], query.get("idProperty", [""])[0])
            if method == "GET":
                names = query.get("properties", [""])[0].split(",")
                return Reply(200, self._view(m[1], found, names))
            if method == "PATCH":
                return self._update(m[1], found, data)
        if m := re.fullmatch(
            r"/crm/v4/objects/(contacts)/(\d+)/associations/(companies)/(\d+)", path
        ):
            return (
                self._associate(m[1], m[2], m[3], m[4], data)
                if method == "PUT"
                else _not_found(path)
            )
        return _not_found(path)

    # -- objects ------------------------------------------------------------------------------

    def _store(self, kind: str, properties: Mapping[str, str]) -> str:
        object_id = str(next(self._ids))
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        stamp = "hs_lastmodifieddate" if kind != "contacts" else "lastmodifieddate"
        self.objects[kind][object_id] = {
            "id": object_id,
            "properties": {
                **properties,
                "hs_object_id": object_id,
                "createdate" if kind != "emails" else "hs_createdate": now,
                stamp: now,
            },
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }
        if self.search_lag:
            self._unindexed.add(object_id)
        return object_id

    def _find(self, kind: str, key: str, id_property: str) -> dict[str, Any]:
        if id_property not in ("", "hs_object_id") and not (
            kind == "contacts" and id_property == "email"
        ):
            raise Rejected(400, "VALIDATION_ERROR", f"{id_property} is not a unique property")
        for obj in self.objects[kind].values():
            value = obj["properties"].get(id_property or "hs_object_id", "")
            if str(value).lower() == key.lower():
                return obj
        raise Rejected(404, "OBJECT_NOT_FOUND", f"resource not found: {key}")

    @staticmethod
    def _view(kind: str, obj: dict[str, Any], names: list[str]) -> dict[str, Any]:
        """The object with the ``names`` properties (HubSpot's defaults if none), unset ones
        as null."""
        wanted = [n for n in names if n] or list(DEFAULTS[kind])
        return {**obj, "properties": {n: obj["properties"].get(n) for n in wanted}}

    def _properties(self, kind: str, data: Any, allowed: set[str]) -> dict[str, str]:
        if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
            raise Rejected(400, "VALIDATION_ERROR", "Invalid input JSON: expected properties")
        if set(data) - allowed:
            raise Rejected(
                400, "VALIDATION_ERROR", f"Unrecognized field {sorted(set(data) - allowed)}"
            )
        properties = data["properties"]
        for name, value in properties.items():
            if name not in WRITABLE[kind]:
                raise Rejected(
                    400, "VALIDATION_ERROR", f'Property values were not valid: "{name}" = {value!r}'
                )
            if not isinstance(value, str):
                raise Rejected(400, "VALIDATION_ERROR", f"{name}: expected a string, got {value!r}")
        email = properties.get("email")
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise Rejected(400, "VALIDATION_ERROR", f"Email address {email} is invalid")
        return dict(properties)

    def _create(self, kind: str, data: Any) -> Reply:
        properties = self._properties(kind, data, {"properties", "associations"})
        if kind == "emails":
            _check_email(properties)
        associations = self._associations(kind, data.get("associations", []))
        if kind == "contacts" and (email := properties.get("email")):
            for obj in self.objects["contacts"].values():
                if str(obj["properties"].get("email", "")).lower() == email.lower():
                    raise Rejected(
                        409, "CONFLICT", f"Contact already exists. Existing ID: {obj['id']}"
                    )
        object_id = self._store(kind, properties)
        for to_kind, to_id, type_id in associations:
            self.associations.add((kind, object_id, to_kind, to_id, type_id))
        return Reply(201, self.objects[kind][object_id])

    def _update(self, kind: str, obj: dict[str, Any], data: Any) -> Reply:
        obj["properties"].update(self._properties(kind, data, {"properties"}))
        return Reply(200, obj)

    def _search(self, kind: str, data: Any) -> Reply:
        filters = _check_search(data)
        limit = data.get("limit", 10)
        found = [
            obj
            for object_id, obj in self.objects[kind].items()
            if object_id not in self._unindexed
            and all(
                str(obj["properties"].get(f["propertyName"]) or "").lower() == f["value"].lower()
                for f in filters
            )
        ]
        names = data.get("properties") or list(DEFAULTS[kind])
        return Reply(
            200,
            {"total": len(found), "results": [self._view(kind, o, names) for o in found[:limit]]},
        )

    # -- associations -------------------------------------------------------------------------

    def _associations(self, kind: str, items: Any) -> list[tuple[str, str, int]]:
        if not isinstance(items, list):
            raise Rejected(400, "VALIDATION_ERROR", "associations: expected a list")
        found = []
        for item in items:
            if not isinstance(item, dict) or set(item) != {"to", "types"}:
                raise Rejected(400, "VALIDATION_ERROR", f"Invalid association {item!r}")
            to = item["to"]
            if not isinstance(to, dict) or set(to) != {"id"} or not str(to["id"]).isdigit():
                raise Rejected(400, "VALIDATION_ERROR", f"Invalid association target {to!r}")
            for to_kind, type_id in self._types(kind, item["types"]):
                if str(to["id"]) not in self.objects[to_kind]:
                    raise Rejected(
                        400, "VALIDATION_ERROR", f"One or more associations are invalid: {to!r}"
                    )
                found.append((to_kind, str(to["id"]), type_id))
        return found

    @staticmethod
    def _types(kind: str, types: Any) -> list[tuple[str, int]]:
        if not isinstance(types, list) or not types:
            raise Rejected(400, "VALIDATION_ERROR", "types: expected a non-empty list")
        found = []
        for spec in types:
            if not isinstance(spec, dict) or set(spec) != {
                "associationCategory",
                "associationTypeId",
            }:
                raise Rejected(400, "VALIDATION_ERROR", f"Invalid association type {spec!r}")
            type_id = spec["associationTypeId"]
            to_kind = ASSOCIATION_TYPES.get((kind, type_id)) if isinstance(type_id, int) else None
            if spec["associationCategory"] != "HUBSPOT_DEFINED" or to_kind is None:
                raise Rejected(400, "VALIDATION_ERROR", f"Invalid association type {spec!r}")
            found.append((to_kind, type_id))
        return found

    def _associate(self, kind: str, object_id: str, to_kind: str, to_id: str, data: Any) -> Reply:
        types = self._types(kind, data)
        if any(t != to_kind for t, _ in types):
            raise Rejected(400, "VALIDATION_ERROR", "association type does not fit the objects")
        for k, i in ((kind, object_id), (to_kind, to_id)):
            if i not in self.objects[k]:
                raise Rejected(404, "OBJECT_NOT_FOUND", f"{k} {i} not found")
        for _, type_id in types:
            self.associations.add((kind, object_id, to_kind, to_id, type_id))
        return Reply(
            201,
            {
                "fromObjectTypeId": "0-1",
                "fromObjectId": int(object_id),
                "toObjectTypeId": "0-2",
                "toObjectId": int(to_id),
                "labels": [],
            },
        )


def _not_found(path: str) -> Reply:
    return Reply(404, error(404, "OBJECT_NOT_FOUND", f"no route for {path}"))


def _check_search(data: Any) -> list[dict[str, str]]:
    if not isinstance(data, dict) or set(data) - {
        "filterGroups",
        "properties",
        "limit",
        "after",
        "sorts",
        "query",
    }:
        raise Rejected(400, "VALIDATION_ERROR", "Invalid search request")
    groups = data.get("filterGroups", [])
    if not isinstance(groups, list) or len(groups) > 5:
        raise Rejected(400, "VALIDATION_ERROR", "filterGroups: at most 5")
    limit = data.get("limit", 10)
    if not isinstance(limit, int) or not 1 <= limit <= 200:
        raise Rejected(400, "VALIDATION_ERROR", f"limit: {limit!r}")
    names = data.get("properties", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Rejected(400, "VALIDATION_ERROR", "properties: expected a list of names")
    filters: list[dict[str, str]] = []
    for group in groups:
        if not isinstance(group, dict) or set(group) != {"filters"}:
            raise Rejected(400, "VALIDATION_ERROR", f"Invalid filter group {group!r}")
        for item in group["filters"]:
            if (
                not isinstance(item, dict)
                or {"propertyName", "operator"} - set(item)
                or set(item) - {"propertyName", "operator", "value", "values", "highValue"}
                or item["operator"] not in OPERATORS
            ):
                raise Rejected(400, "VALIDATION_ERROR", f"Invalid filter {item!r}")
            if item["operator"] != "EQ" or not isinstance(item.get("value"), str):
                raise Rejected(400, "VALIDATION_ERROR", "the fake supports EQ with a value only")
            filters.append(item)
    return filters


def _check_email(properties: Mapping[str, str]) -> None:
    stamp = properties.get("hs_timestamp", "")
    if not (stamp.isdigit() or ISO_UTC.match(stamp)):
        raise Rejected(400, "VALIDATION_ERROR", f"hs_timestamp is required: {stamp!r}")
    for name, allowed in (("hs_email_direction", DIRECTIONS), ("hs_email_status", STATUSES)):
        if name in properties and properties[name] not in allowed:
            raise Rejected(400, "VALIDATION_ERROR", f"{name}: {properties[name]!r} is not allowed")
    if "hs_email_headers" in properties:
        _check_headers(properties["hs_email_headers"])


def _check_headers(text: str) -> None:
    try:
        headers = json.loads(text)
    except ValueError:
        raise Rejected(
            400, "VALIDATION_ERROR", f"hs_email_headers: INVALID_JSON {text!r}"
        ) from None
    if not isinstance(headers, dict) or set(headers) - {"from", "sender", "to", "cc", "bcc"}:
        raise Rejected(400, "VALIDATION_ERROR", f"hs_email_headers: {text!r}")
    people = [headers[k] for k in ("from", "sender") if k in headers]
    for key in ("to", "cc", "bcc"):
        if not isinstance(headers.get(key, []), list):
            raise Rejected(400, "VALIDATION_ERROR", f"hs_email_headers.{key}: expected a list")
        people.extend(headers.get(key, []))
    for person in people:
        if (
            not isinstance(person, dict)
            or "email" not in person
            or set(person) - {"email", "firstName", "lastName"}
            or not all(isinstance(v, str) for v in person.values())
        ):
            raise Rejected(400, "VALIDATION_ERROR", f"hs_email_headers: {person!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.fake.handle(self.command, self.path, headers, body)  # type: ignore[attr-defined]
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test asserts on ``FakeHubSpot.requests`` instead."""
