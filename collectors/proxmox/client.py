"""The HTTP layer shared by the Proxmox VE and Proxmox Backup Server collectors.

proxmoxer (the documented client library) gives the base URL with the service's default port
and the token header with the right separator per service (`PVEAPIToken=u!t=secret`,
`PBSAPIToken=u!t:secret`). The GETs themselves go straight through one urllib3 connection pool
(`maxsize` = `concurrency`, blocking, TLS verified against the configured CA): that path costs
about half the client CPU of a requests session per call, and every call hands back its own raw
bytes (kept as an artifact) with no state shared between threads. The `{"data": ...}` envelope
is checked here: a 200 whose body is not JSON (proxmoxer would return `{"errors": b"..."}`,
reference NOTES §8) must be a failure, never data.

Every failure becomes one `ApiError` naming the path and what went wrong (HTTP status and
reason, timeout, TLS, connection, cut-off body, not JSON, no `data`), scrubbed of secrets. No
retries, no redirects: a failure is evidence of a failure. Calls run on a thread pool of
`concurrency` workers; calls are counted per endpoint template.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlencode

import certifi
import urllib3
from proxmoxer.backends.https import Backend
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import parse_url
from urllib3.util.ssl_match_hostname import CertificateError

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


@dataclass(slots=True)
class Answer:
    """A successful GET: the envelope's `data` and the raw bytes it was parsed from. Once the
    bytes are stored as an artifact, `sha` names it and `body` may be dropped (b"")."""

    call: Call
    body: bytes
    data: Any
    sha: str | None = None

    @property
    def shown(self) -> str:  # path?query, as named in messages
        return self.call.shown()

    @property
    def template(self) -> str:
        return self.call.template


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
        if not self.path:
            return self.template
        return self.template.format(**{k: quote(str(v), safe="") for k, v in self.path.items()})

    def shown(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(self.query.items()))
        return self.url_path() + (f"?{query}" if query else "")


def _tls_options(verify_tls: bool | str) -> dict[str, Any]:
    """What `verify_tls` means, as requests read it before: True = the certifi bundle, a path =
    that CA file (or directory of hashed CAs), False = no verification."""
    if verify_tls is False:
        return {"cert_reqs": "CERT_NONE", "assert_hostname": False}
    if verify_tls is True:
        return {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
    if Path(verify_tls).is_dir():
        return {"cert_reqs": "CERT_REQUIRED", "ca_cert_dir": str(verify_tls)}
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": str(verify_tls)}


def _cause(exc: BaseException) -> str:
    """The name of what actually went wrong: urllib3 wraps the socket error (ProtocolError's
    second argument, or the exception it was raised from)."""
    inner = next((a for a in getattr(exc, "args", ())[1:] if isinstance(a, BaseException)), None)
    return type(inner or exc.__cause__ or exc).__name__


def _tls_problem(exc: SSLError) -> str:
    inner = next((e for e in (*exc.args, exc.__cause__, exc.__context__) if isinstance(e, BaseException)), None)
    if isinstance(inner, ssl.SSLCertVerificationError | CertificateError):
        return f"TLS verification failed ({inner.__class__.__name__})"
    return f"TLS handshake failed ({_cause(exc)})"


class ApiClient:
    """GETs against one Proxmox API (service "PVE" or "PBS") with an API token."""

    def __init__(self, host: str, user: str, token_name: str, token_value: str, *, verify_tls: bool | str,
                 timeout_s: float, concurrency: int, service: str = "PVE") -> None:
        backend = Backend(host, user=user, token_name=token_name, token_value=token_value, verify_ssl=verify_tls,
                          timeout=timeout_s, service=service)
        self.base_url = backend.get_base_url()
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        holder = SimpleNamespace(headers={}, cert=None)
        backend.auth(holder)  # proxmoxer writes the token header
        self._headers = {"Authorization": holder.headers["Authorization"], "Accept": "application/json",
                         "User-Agent": "attest-collector"}
        url = parse_url(self.base_url)
        self._prefix = url.path or ""  # "/api2/json"
        # One connection per worker, blocking (never more sockets than workers); no retries.
        self._http = urllib3.HTTPSConnectionPool(
            str(url.host), url.port, maxsize=concurrency, block=True, retries=False,
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s), **_tls_options(verify_tls))
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"{service.lower()}-api")
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, call: Call) -> Answer:
        """One GET, in the calling thread. Raises ApiError."""
        url = self._prefix + call.url_path()
        if call.query:
            url += "?" + urlencode(call.query)
        with self._lock:
            self.calls[call.template] += 1
        try:
            resp = self._http.urlopen("GET", url, headers=self._headers, retries=False, redirect=False,
                                      preload_content=False, assert_same_host=False)
        except NewConnectionError as exc:  # before the timeouts: urllib3 makes it a ConnectTimeoutError
            raise ApiError(call.shown(), f"connection failed ({_cause(exc)})") from exc
        except Urllib3Timeout as exc:
            raise ApiError(call.shown(), f"timed out after {self.timeout_s:g} s") from exc
        except SSLError as exc:
            raise ApiError(call.shown(), _tls_problem(exc)) from exc
        except (HTTPError, OSError) as exc:  # reset, refused, closed before the status line
            raise ApiError(call.shown(), f"connection failed ({_cause(exc)})") from exc
        try:
            body = resp.read()  # the whole body; a short one (fewer bytes than announced) raises
        except Urllib3Timeout as exc:
            raise ApiError(call.shown(), f"timed out after {self.timeout_s:g} s") from exc
        except (ProtocolError, HTTPError, OSError) as exc:
            raise ApiError(call.shown(), f"the answer was cut off before its end ({_cause(exc)})") from exc
        finally:
            resp.release_conn()
        status = resp.status
        if status >= 400:
            # PVE puts its message in the reason phrase (a 401's body is empty); PBS in the body.
            detail = resp.reason or ""
            if not detail.strip():
                detail = body[:200].decode("utf-8", "replace")
            raise ApiError(call.shown(), f"HTTP {status} {' '.join(detail.split())}".rstrip(), status)
        try:
            envelope = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            ctype = resp.headers.get("Content-Type") or "none"
            raise ApiError(call.shown(), f"HTTP {status} but the body is not JSON ({len(body)} bytes, "
                                         f"Content-Type {ctype})", status) from exc
        if type(envelope) is not dict or "data" not in envelope:
            raise ApiError(call.shown(), "the response has no 'data' member: not a Proxmox API answer", status)
        return Answer(call, body, envelope["data"])

    def get_many(self, calls: Iterable[Call]) -> Iterator[tuple[Call, Answer | ApiError]]:
        """Run the GETs on the pool; yield each with its answer or error as they complete."""
        futures = {self._pool.submit(self.get, c): c for c in calls}
        for future in as_completed(futures):
            call = futures[future]
            try:
                yield call, future.result()
            except ApiError as err:
                yield call, err
