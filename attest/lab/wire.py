"""Wire-level pieces the lab's PVE and PBS handlers share: responses, errors, routes, query
checks and ACL evaluation. Nothing here knows about a particular endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

from attest.lab.world import LabToken, LabWorld

API_PREFIX = "/api2/json"
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"

# Reason phrases PVE uses for the AnyEvent pseudo-statuses (595 = node unreachable, ...).
PSEUDO_STATUS_REASONS = {
    595: "No route to host",
    596: "Connection timed out",
    597: "Connection reset by peer",
    598: "Request aborted",
    599: "Internal error",
}


@dataclass(frozen=True)
class LabResponse:
    status: int
    reason: str
    body: bytes
    content_type: str
    # True when the same request (method, target, Authorization) will always get this very answer
    # and no side effect (such as a slow path's wait): the server may then replay its bytes.
    cacheable: bool = field(default=False, compare=False)


class ApiHandler(Protocol):
    """What `attest.lab.server.LabServer` serves: PVE, PBS, or a test's own handler."""

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str]) -> LabResponse: ...


class ApiError(Exception):
    """An error answer; raised anywhere below a handler's `handle` and turned into a response there."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


@dataclass(frozen=True)
class Param:
    enum: tuple[str, ...] | None = None
    check: Callable[[str], str | None] | None = None  # returns the error message, if any


@dataclass(frozen=True)
class Request:
    token: LabToken
    path_params: dict[str, str]
    query: dict[str, str]


@dataclass(frozen=True)
class Extra:
    """Data plus envelope attributes PVE/PBS add beside it (e.g. `total`, `digest`)."""

    data: object
    attrs: Mapping[str, object]


@dataclass(frozen=True)
class Route:
    template: str
    handler: Callable[[Request], object]
    params: Mapping[str, Param] = field(default_factory=dict)
    # The template split once: (position, segment) of the literal segments and of the {names}.
    _literals: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    _names: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    _length: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = self.template.split("/")
        names = tuple((i, w[1:-1]) for i, w in enumerate(parts) if w.startswith("{") and w.endswith("}"))
        named = {i for i, _ in names}
        object.__setattr__(self, "_literals", tuple((i, w) for i, w in enumerate(parts) if i not in named))
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_length", len(parts))

    def match(self, path: str) -> dict[str, str] | None:
        return self.match_parts(path.split("/"))

    def match_parts(self, got: list[str]) -> dict[str, str] | None:
        """`match` for a path already split on "/"."""
        if len(got) != self._length:
            return None
        for i, w in self._literals:
            if got[i] != w:
                return None
        params: dict[str, str] = {}
        for i, name in self._names:
            if not got[i]:
                return None
            params[name] = got[i]
        return params


class RouteTable:
    """Routes indexed by their number of path segments and their last segment, so a lookup tries
    only the one or two that can match (in the order they were given, as a plain scan would)."""

    def __init__(self, routes: list[Route]) -> None:
        by_end: dict[tuple[int, str], list[tuple[int, Route]]] = {}
        open_ended: dict[int, list[tuple[int, Route]]] = {}  # routes whose last segment is a {name}
        for order, r in enumerate(routes):
            parts = r.template.split("/")
            last = parts[-1]
            if last.startswith("{") and last.endswith("}"):
                open_ended.setdefault(len(parts), []).append((order, r))
            else:
                by_end.setdefault((len(parts), last), []).append((order, r))
        self._open_ended: dict[int, list[Route]] = {n: [r for _, r in rs] for n, rs in open_ended.items()}
        self._by_end = {key: [r for _, r in sorted(rs + open_ended.get(key[0], []), key=lambda x: x[0])]
                        for key, rs in by_end.items()}

    def find(self, api_path: str) -> tuple[Route, dict[str, str]] | None:
        got = api_path.split("/")
        candidates = self._by_end.get((len(got), got[-1]))
        for route in candidates if candidates is not None else self._open_ended.get(len(got), ()):
            params = route.match_parts(got)
            if params is not None:
                return route, params
        return None


# --- privileges ----------------------------------------------------------------------------------


class TokenAuthenticator:
    """API-token authentication as PVE and PBS do it, differing only in the header's shape and
    the error texts. A header value once found good is remembered: tokens never change."""

    def __init__(self, tokens: tuple[LabToken, ...], header: re.Pattern[str], missing: str, invalid: str) -> None:
        self._tokens = {(t.userid, t.tokenid): t for t in tokens}
        self._header = header
        self._missing = missing
        self._invalid = invalid
        self._known: dict[str, LabToken] = {}  # Authorization header value -> its token

    def __call__(self, headers: Mapping[str, str]) -> LabToken:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if value is None:
            raise ApiError(401, self._missing)
        known = self._known.get(value)
        if known is not None:
            return known
        m = self._header.match(value)
        if m:
            token = self._tokens.get((m["user"], m["tokenid"]))
            if token is not None and hmac.compare_digest(token.secret.encode(), m["secret"].encode()):
                self._known[value] = token
                return token
        raise ApiError(401, self._invalid)


def ancestors(path: str) -> list[str]:
    """'/vms/101' -> ['/vms/101', '/vms', '/'] (most specific first)."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:n]) for n in range(len(parts), 0, -1)] + ["/"]


def normalise_acl_path(path: str) -> str:
    return "/" + "/".join(p for p in path.split("/") if p)


def acl_entry(token: LabToken, path: str) -> tuple[str, ...] | None:
    """The ACL entry of `token` that governs `path`: the most specific one on the path or above it.

    None when no entry applies; `()` is an explicit "no access" (PVE's NoAccess role).
    """
    acl = {normalise_acl_path(p): privs for p, privs in token.acl.items()}
    for candidate in ancestors(normalise_acl_path(path)):
        if candidate in acl:
            return tuple(acl[candidate])
    return None


def acl_privileges(token: LabToken, path: str) -> frozenset[str]:
    """The privileges `token`'s ACL grants on `path`.

    As in PVE, an ACL entry propagates to every sub-path, and the most specific entry wins (it
    replaces what a parent grants rather than adding to it).
    """
    return frozenset(acl_entry(token, path) or ())


class Permissions:
    """Privilege checks for one world; pool membership matters for guest paths.

    Follows pve-access-control's RPCEnvironment compile_acl_path: privileges on /pool/<pool> reach
    the pool's guests, except where the guest's own path is NoAccess; a NoAccess on the pool takes
    its guests away even from a regular ACL entry. Answers are memoised per (token, path): the
    world is immutable and a 5,000-guest world asks the same questions many times.
    """

    def __init__(self, world: LabWorld | None) -> None:
        self._pool_of = {g.vmid: g.pool for g in world.guests if g.pool} if world else {}
        self._memo: dict[tuple[str, str, str], dict[str, int]] = {}

    def flags(self, token: LabToken, path: str) -> dict[str, int]:
        """privilege -> propagate flag, as PVE's `permissions()` returns them (and
        /access/permissions shows them): 1, or 0 for what only a pool's ACL grants."""
        key = (token.full_id, token.secret, path)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._compute_flags(token, path)
        return found

    def _compute_flags(self, token: LabToken, path: str) -> dict[str, int]:
        own = acl_entry(token, path)
        flags = dict.fromkeys(own or (), 1)
        match = re.fullmatch(r"/vms/(\d+)", normalise_acl_path(path))
        pool = self._pool_of.get(int(match.group(1))) if match else None
        if pool is None or own == ():  # NoAccess on the guest is not trumped by a pool ACL
            return flags
        from_pool = acl_entry(token, f"/pool/{pool}")
        if from_pool == ():  # ... but NoAccess on the pool trumps the guest's regular ACL
            return {}
        for priv in from_pool or ():
            flags.setdefault(priv, 0)  # PVE never sets propagation on pool-derived roles
        return flags

    def privileges(self, token: LabToken, path: str) -> frozenset[str]:
        return frozenset(self.flags(token, path))

    def has(self, token: LabToken, path: str, priv: str) -> bool:
        return priv in self.flags(token, path)

    def require(self, token: LabToken, path: str, priv: str) -> None:
        self.require_any(token, path, (priv,))

    def require_any(self, token: LabToken, path: str, privs: tuple[str, ...]) -> None:
        if not self.privileges(token, path) & set(privs):
            raise ApiError(403, f"Permission check failed ({path}, {'|'.join(privs)})")


# --- helpers ------------------------------------------------------------------------------------------


def api_path(path: str) -> str:
    """'/api2/json/cluster/resources/' -> '/cluster/resources' (fault keys may use either form)."""
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        path = path[len(API_PREFIX):]
    return "/" + "/".join(p for p in path.split("/") if p)


def check_query(route: Route, query: Mapping[str, str]) -> None:
    errors: dict[str, str] = {}
    for name, value in query.items():
        spec = route.params.get(name)
        if spec is None:
            errors[name] = "property is not defined in schema and the schema does not allow additional properties"
        elif spec.enum is not None and value not in spec.enum:
            errors[name] = f"value '{value}' does not have a value in the enumeration '{', '.join(spec.enum)}'"
        elif spec.check is not None and (problem := spec.check(value)) is not None:
            errors[name] = problem
    if errors:
        raise ApiError(400, "Parameter verification failed.", errors)


def check_int(minimum: int = 0) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not re.fullmatch(r"[+-]?\d+", value):
            return f"type check ('integer') failed - got '{value}'"
        if int(value) < minimum:
            return f"value must have a minimum value of {minimum}"
        return None
    return check


def check_bool(value: str) -> str | None:
    ok = value.lower() in ("0", "1", "true", "false", "yes", "no", "on", "off")
    return None if ok else f"type check ('boolean') failed - got '{value}'"


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "on")


def status_phrase(status: int) -> str:
    if status in PSEUDO_STATUS_REASONS:
        return PSEUDO_STATUS_REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def safe_reason(message: str) -> str:
    # The reason goes into the status line: keep it to one line of printable ASCII, since parts of
    # it come from the request path (a percent-encoded CR/LF must not become a header).
    first = message.strip().splitlines()[0] if message.strip() else ""
    return "".join(c if " " <= c <= "~" else "?" for c in first)


def json_response(payload: object, status: int = 200, reason: str = "OK", *, cacheable: bool = False) -> LabResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return LabResponse(status, reason, body, JSON_CONTENT_TYPE, cacheable)


def envelope(result: object) -> dict[str, object]:
    if isinstance(result, Extra):
        return {"data": result.data, **result.attrs}
    return {"data": result}


def file_digest(content: object) -> str:
    """A stand-in for PVE's digest (the SHA-1 of the config file): stable for the same content."""
    return hashlib.sha1(repr(content).encode()).hexdigest()


def pve_error_response(err: ApiError) -> LabResponse:
    reason = safe_reason(err.message)
    if err.status == 401:
        return LabResponse(401, reason, b"", "")  # PVE: message only in the status line
    payload: dict[str, Any] = {"data": None, "message": err.message.rstrip("\n") + "\n"}
    if err.errors:
        payload["errors"] = err.errors
    return json_response(payload, err.status, reason)
