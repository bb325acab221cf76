"""The HTTP layer shared by the Proxmox VE and Proxmox Backup Server collectors.

proxmoxer builds the session (token header with the right separator per service, TLS
verification, timeout); the GETs are issued on that session directly so that each call hands
back its own raw bytes (kept as an artifact) with no state shared between threads, and so that
the `{"data": ...}` envelope is checked here: proxmoxer returns `{"errors": b"..."}` for a 200
whose body is not JSON (reference NOTES §8), which must be a failure, never data.

Every failure becomes one `ApiError` naming the path and what went wrong (HTTP status and
reason, timeout, TLS, connection, cut-off body, not JSON, no `data`), scrubbed of secrets.
Calls run on a thread pool of `concurrency` workers; the connection pool is sized to match so
that no worker waits for a socket. Calls are counted per endpoint template.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from proxmoxer.backends.https import Backend
from requests.adapters import HTTPAdapter

from evidence.scrub import scrub_text

# PVE's AnyEvent pseudo-statuses: the cluster node we asked could not reach the node the path
# names (595 "No route to host" for an offline node).
NODE_UNREACHABLE = range(595, 600)


class ApiError(Exception):
    """One GET that did not give data. `status` is the HTTP status when there was an answer."""

    def __init__(self, shown: str, problem: str, status: int | None = None) -> None:
        self.shown = shown
        self.problem = scrub_text(problem)
        self.status = status
        super().__init__(f"GET {shown}: {self.problem}")

    @property
    def node_unreachable(self) -> bool:
        return self.status in NODE_UNREACHABLE

    @property
    def not_implemented(self) -> bool:
        """501: the API has no such method (e.g. /cluster/ha/rules before PVE 9)."""
        return self.status == 501

    @property
    def auth_refused(self) -> bool:
        return self.status in (401, 403)


@dataclass(frozen=True)
class Answer:
    """A successful GET: the envelope's `data` and the raw bytes it was parsed from."""

    shown: str  # path?query, as named in messages
    template: str
    body: bytes
    data: Any


@dataclass(frozen=True)
class Call:
    """One GET to make: an endpoint template, its path values and query parameters. `key` is
    whatever the caller needs to route the answer (a guest, a node, ...)."""

    template: str
    path: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    key: Any = None

    def url_path(self) -> str:
        # Path values are quoted whole: an ipset or storage name never adds a path segment.
        return self.template.format(**{k: quote(str(v), safe="") for k, v in self.path.items()})

    def shown(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(self.query.items()))
        return self.url_path() + (f"?{query}" if query else "")


class ApiClient:
    """GETs against one Proxmox API (service "PVE" or "PBS") with an API token."""

    def __init__(self, host: str, user: str, token_name: str, token_value: str, *, verify_tls: bool | str,
                 timeout_s: float, concurrency: int, service: str = "PVE") -> None:
        backend = Backend(host, user=user, token_name=token_name, token_value=token_value, verify_ssl=verify_tls,
                          timeout=timeout_s, service=service)
        self.base_url = backend.get_base_url()
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self._session = backend.get_session()
        # One pooled connection per worker; no retries: a failure is evidence of a failure.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency, max_retries=0)
        self._session.mount("https://", adapter)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"{service.lower()}-api")
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._session.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, call: Call) -> Answer:
        """One GET, in the calling thread. Raises ApiError."""
        shown = call.shown()
        with self._lock:
            self.calls[call.template] += 1
        try:
            resp = self._session.request("GET", self.base_url + call.url_path(), params=dict(call.query) or None)
            body = resp.content  # reads the whole body: a cut-off body raises here
        except requests.exceptions.Timeout as exc:
            raise ApiError(shown, f"timed out after {self.timeout_s:g} s") from exc
        except requests.exceptions.SSLError as exc:
            raise ApiError(shown, f"TLS verification failed ({type(exc).__name__})") from exc
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            raise ApiError(shown, f"the answer was cut off before its end ({type(exc).__name__})") from exc
        except requests.exceptions.RequestException as exc:
            raise ApiError(shown, f"connection failed ({type(exc).__name__})") from exc
        if resp.status_code >= 400:
            # PVE puts its message in the reason phrase (a 401's body is empty); PBS in the body.
            detail = resp.reason or ""
            if not detail.strip():
                detail = body[:200].decode("utf-8", "replace")
            raise ApiError(shown, f"HTTP {resp.status_code} {' '.join(detail.split())}".rstrip(),
                           resp.status_code)
        try:
            envelope = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            ctype = resp.headers.get("Content-Type") or "none"
            raise ApiError(shown, f"HTTP {resp.status_code} but the body is not JSON ({len(body)} bytes, "
                                  f"Content-Type {ctype})", resp.status_code) from exc
        if not isinstance(envelope, dict) or "data" not in envelope:
            raise ApiError(shown, "the response has no 'data' member: not a Proxmox API answer", resp.status_code)
        return Answer(shown, call.template, body, envelope["data"])

    def get_many(self, calls: Iterable[Call]) -> Iterator[tuple[Call, Answer | ApiError]]:
        """Run the GETs on the pool; yield each with its answer or error as they complete."""
        futures = {self._pool.submit(self.get, c): c for c in calls}
        for future in as_completed(futures):
            call = futures[future]
            try:
                yield call, future.result()
            except ApiError as err:
                yield call, err
