"""Serve the lab's Proxmox VE API over real HTTPS on loopback.

Real TLS, real sockets, real HTTP keep-alive: the collectors are tested against this so that
certificate checks, auth headers, timeouts, connection drops and malformed bodies happen the
way they do in production (see ../shared/reference/proxmox/NOTES.md §3, §8).

* `LabServer` runs in-process on a background thread (tests). It serves a `LabWorld` through
  `PveApi`, or any handler object with `.handle(method, path, query, headers) -> LabResponse`
  (e.g. `PbsApi(world)` for the Proxmox Backup Server); `latency_s` adds a round-trip delay.
* `python -m attest.lab.server --state-dir DIR` runs it as a process and prints one JSON line
  `{"url": ..., "ca": ..., "pid": ...}` (plus `"pbs_url"` with `--pbs`); `--die-after N` makes it
  crash after N answers; `--world big` serves `big_world()` for benchmarks.
* `LabProcess` starts and stops that process (the demo, and tests that kill the lab mid-run).
  With `tsa_p12=` and `tsa_password_file=` (`--tsa-p12`, `--tsa-password-file`) it also serves
  an RFC 3161 timestamp authority over plain HTTP (`attest.lab.tsa`), at `lab.tsa_url`.

Like a PVE node, the server certificate is issued by a root CA of its own; `ca_path` is that
CA (the lab's `pve-root-ca.pem`), which is what a client passes as `verify_ssl=`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import os
import queue
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from attest.lab.big import big_world
from attest.lab.pbs_api import PbsApi
from attest.lab.pve_api import JSON_CONTENT_TYPE, LabResponse, PveApi
from attest.lab.tsa import add_arguments as add_tsa_arguments
from attest.lab.tsa import from_arguments as tsa_from_arguments
from attest.lab.wire import ApiHandler
from attest.lab.world import LabWorld, demo_world

CA_FILE = "pve-root-ca.pem"
CERT_FILE = "pve-ssl.pem"
KEY_FILE = "pve-ssl.key"
LOG_FILE = "lab-server.log"

_MAX_BODY = 1024 * 1024  # the lab reads no request bodies; this only keeps keep-alive in step


# --- certificates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabCertificates:
    ca_path: Path
    cert_path: Path
    key_path: Path


def ensure_certificates(state_dir: str | os.PathLike[str]) -> LabCertificates:
    """The lab CA and server certificate in `state_dir`, created on first use and reused after.

    A file lock makes concurrent first starts safe (two servers must not end up with one's key
    and the other's certificate).
    """
    d = Path(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    certs = LabCertificates(d / CA_FILE, d / CERT_FILE, d / KEY_FILE)
    with open(d / ".pve-ssl.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _usable(certs):
            _generate(certs)
    return certs


def _usable(certs: LabCertificates) -> bool:
    try:
        ca = x509.load_pem_x509_certificate(certs.ca_path.read_bytes())
        leaf = x509.load_pem_x509_certificate(certs.cert_path.read_bytes())
        key = serialization.load_pem_private_key(certs.key_path.read_bytes(), password=None)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    fresh = leaf.not_valid_after_utc > datetime.now(UTC) + timedelta(days=1)
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    covers_loopback = ipaddress.IPv4Address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    return fresh and same_key and covers_loopback and leaf.issuer == ca.subject


def _generate(certs: LabCertificates) -> None:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Attest lab (PVE Cluster Manager CA)"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "Attest lab Proxmox VE root CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                       x509.IPAddress(ipaddress.ip_address("::1"))])
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Attest lab (PVE Cluster Node)"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # The CA key is thrown away: when the certificate needs renewing, the whole set is remade.
    _write_atomic(certs.key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()), mode=0o600)
    _write_atomic(certs.cert_path, leaf.public_bytes(serialization.Encoding.PEM))
    _write_atomic(certs.ca_path, ca.public_bytes(serialization.Encoding.PEM))


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# --- HTTP ---------------------------------------------------------------------------------------
#
# A small HTTP/1.1 server of its own rather than http.server's BaseHTTPRequestHandler: that one
# parses headers with the email package, formats a Date and a log line per request, and writes the
# head and the body in two sends, which over TLS and with Nagle on cost the client a delayed-ACK
# stall (~40 ms) on every answer. Here accepted sockets get TCP_NODELAY, each answer leaves in one
# send, and an answer the API marks `cacheable` is kept as ready-made bytes per (method, target,
# Authorization), so replaying it costs a dictionary lookup and the TLS write.

_MAX_LINE = 65536  # request line or header line, as http.server
_MAX_HEADERS = 100
_IDLE_TIMEOUT = 30.0  # idle keep-alive connections are closed after this many seconds
_API_METHODS = frozenset(("GET", "POST", "PUT", "DELETE"))
_SERVER_AND_DATE = b"Server: pve-api-daemon/3.0\r\nDate: "
_CONNECTION_CLOSE = b"Connection: close\r\n"

_date: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    """The Date header's value, formatted once per second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True).encode("ascii"))
    return _date[1]


@dataclass(frozen=True)
class _Wire:
    """An answer's bytes around the Date header: `head` + date + `headers` [+ Connection: close]
    + CRLF + `body`."""

    status: int
    head: bytes
    headers: bytes
    body: bytes

    @classmethod
    def of(cls, response: LabResponse) -> _Wire:
        head = f"HTTP/1.1 {response.status} {response.reason}\r\n".encode("latin-1", "replace") + _SERVER_AND_DATE
        headers = f"Content-Type: {response.content_type}\r\n" if response.content_type else ""
        headers += f"Content-Length: {len(response.body)}\r\nCache-Control: max-age=0\r\nPragma: no-cache\r\n"
        return cls(response.status, head, b"\r\n" + headers.encode("latin-1", "replace"), response.body)

    def render(self, close: bool) -> bytes:
        return b"".join((self.head, _http_date(), self.headers, _CONNECTION_CLOSE if close else b"", b"\r\n",
                         self.body))


class _LabHTTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256  # a collector opens its 16-32 keep-alive connections at once

    def __init__(self, address: tuple[str, int], lab: LabServer, context: ssl.SSLContext) -> None:
        self.lab = lab
        self.ssl_context = context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        # (method, request target, Authorization) -> the answer's bytes, for `cacheable` answers.
        self.replies: dict[tuple[str, str, str], _Wire] = {}
        super().__init__(address, _Connection)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        # Small answers must leave at once, not wait for the ACK of the previous segment.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lab._accepted += 1  # only this (the accepting) thread writes it
        # The TLS handshake runs later, in the connection's own thread: a client that connects and
        # stalls must not block accept() for everyone else.
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up, reset or fail the handshake are routine for a test server (the
        # timeout and crash tests do it on purpose); anything else is a lab bug worth seeing.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            # socket.socket.shutdown, not SSLSocket.shutdown: the latter tears down the TLS object
            # under the feet of the thread still reading from it.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class _Connection(socketserver.BaseRequestHandler):
    """One keep-alive connection, in its own thread: HTTP/1.1 requests until either side closes."""

    server: _LabHTTPServer
    request: ssl.SSLSocket

    def handle(self) -> None:
        conn, server = self.request, self.server
        with server.connections_lock:
            server.connections.add(conn)
        try:
            conn.settimeout(_IDLE_TIMEOUT)
            conn.do_handshake()  # plain HTTP, an untrusting client, a port scan: OSError, nothing to answer
            with conn.makefile("rb") as rfile:
                while self._serve_one(conn, rfile):
                    pass
        except OSError:
            return  # the client hung up, reset, or idled out
        finally:
            with server.connections_lock:
                server.connections.discard(conn)

    def _serve_one(self, conn: ssl.SSLSocket, rfile: BinaryIO) -> bool:
        """Read one request and answer it; False when the connection is done."""
        line = rfile.readline(_MAX_LINE + 1)
        if not line:
            return False
        try:
            method, target, keep_alive, auth, headers = self._read_head(line, rfile)
        except _BadRequest as bad:
            body = f"{bad.status} {bad.reason}\n".encode()
            conn.sendall(_Wire.of(LabResponse(bad.status, bad.reason, body, "text/plain")).render(close=True))
            return False
        if method is None:
            return True  # an empty line between requests: tolerated
        lab = self.server.lab
        if lab.latency_s:
            time.sleep(lab.latency_s)  # the network's round trip: waits, burns no CPU
        key = (method, target, auth) if auth is not None else None
        wire = self.server.replies.get(key) if key is not None else None
        if wire is None:
            response = self._call_api(method, target, headers)
            wire = _Wire.of(response)
            if response.cacheable and key is not None:
                self.server.replies[key] = wire
        # Counted before the answer leaves, so a client that has its answer sees it counted; the
        # callback (--die-after) runs only once the answer is out.
        count = lab._count_answer()
        conn.sendall(wire.render(close=not keep_alive))
        if lab.log_requests:
            sys.stderr.write(f"lab: {method} {unquote(urlsplit(target).path)} -> {wire.status}\n")
        if lab.on_answered is not None:
            lab.on_answered(count)
        return keep_alive

    @staticmethod
    def _read_head(line: bytes, rfile: BinaryIO) -> tuple[str | None, str, bool, str | None, dict[str, str]]:
        """(method, target, keep-alive?, the Authorization header, headers); method None for a
        blank line. Reads (and drops) a request body so that keep-alive stays in step."""
        if len(line) > _MAX_LINE:
            raise _BadRequest(414, "Request-URI Too Long")
        words = line.decode("latin-1").split()
        if not words:
            return None, "", True, None, {}
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            raise _BadRequest(400, "Bad request syntax")
        method, target, version = words
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _BadRequest(505, "HTTP Version Not Supported")
        if target.startswith("//"):  # as http.server: not a network-path reference
            target = "/" + target.lstrip("/")
        keep_alive = version == "HTTP/1.1"
        headers: dict[str, str] = {}
        auth: str | None = ""
        length, sized = 0, True
        while True:
            raw = rfile.readline(_MAX_LINE + 1)
            if raw in (b"\r\n", b"\n"):
                break
            if not raw:
                raise OSError("connection closed in the middle of a request head")
            if len(raw) > _MAX_LINE or len(headers) >= _MAX_HEADERS:
                raise _BadRequest(431, "Request Header Fields Too Large")
            name, colon, value = raw.decode("latin-1").partition(":")
            if not colon:
                raise _BadRequest(400, "Bad header line")
            value = value.strip()
            headers[name] = value
            lower = name.lower()
            if lower == "authorization":
                auth = value if auth == "" else None  # two of them: answer, but do not replay
            elif lower == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise _BadRequest(400, "Bad Content-Length") from None
                if length < 0:
                    raise _BadRequest(400, "Bad Content-Length")
            elif lower == "transfer-encoding":
                sized = False
            elif lower == "connection":
                tokens = value.lower()
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens:
                    keep_alive = True
        if not sized or length > _MAX_BODY:
            keep_alive = False  # cannot resync this connection cheaply: use it once
        elif length:
            rfile.read(length)
        return method, target, keep_alive, auth, headers

    def _call_api(self, method: str, target: str, headers: dict[str, str]) -> LabResponse:
        if method not in _API_METHODS:
            return LabResponse(501, "Unsupported method", f"Unsupported method ({method!r})\n".encode(), "text/plain")
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            return self.server.lab.api.handle(method, unquote(split.path), query, headers)
        except Exception as exc:  # a lab bug: answer like PVE's own internal errors, and show it
            traceback.print_exc()
            body = json.dumps({"data": None, "message": f"lab internal error: {exc}\n"}).encode()
            return LabResponse(500, "lab internal error", body, JSON_CONTENT_TYPE)


class LabServer:
    """The lab API on https://127.0.0.1:PORT, in this process, on a background thread."""

    def __init__(self, world: LabWorld | ApiHandler, state_dir: str | os.PathLike[str], port: int = 0, *,
                 host: str = "127.0.0.1", not_json_paths: Iterable[str] = (),
                 error_paths: Mapping[str, int] | None = None, slow_paths: Mapping[str, float] | None = None,
                 on_answered: Callable[[int], None] | None = None, log_requests: bool = False,
                 latency_s: float = 0.0) -> None:
        if isinstance(world, LabWorld):
            self.api: ApiHandler = PveApi(world, not_json_paths=not_json_paths, error_paths=error_paths,
                                          slow_paths=slow_paths)
        elif not_json_paths or error_paths or slow_paths:
            raise ValueError("fault options apply to a LabWorld; configure a handler's faults on the handler")
        else:
            self.api = world
        self.latency_s = latency_s
        self.certificates = ensure_certificates(state_dir)
        self.host, self._port = host, port
        self.on_answered = on_answered
        self.log_requests = log_requests
        self._served = 0
        self._accepted = 0
        self._count_lock = threading.Lock()
        self._httpd: _LabHTTPServer | None = None
        self._bound_port: int | None = None
        self._thread: threading.Thread | None = None

    @property
    def ca_path(self) -> Path:
        return self.certificates.ca_path

    @property
    def port(self) -> int:
        """The bound port; still known after stop(), so a test can show the lab is gone."""
        if self._bound_port is None:
            raise RuntimeError("the lab server is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def requests_served(self) -> int:
        with self._count_lock:
            return self._served

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far: with keep-alive, one per client connection, not per request."""
        return self._accepted

    def start(self) -> LabServer:
        if self._httpd is not None:
            raise RuntimeError("the lab server is already started")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certificates.cert_path, self.certificates.key_path)
        self._httpd = _LabHTTPServer((self.host, self._port), self, context)
        self._bound_port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"lab-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        # Open keep-alive connections are cut too, so a client sees the lab go away, as it would
        # see a node go away.
        httpd.drop_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _count_answer(self) -> int:
        with self._count_lock:
            self._served += 1
            return self._served


# --- the lab as a process -------------------------------------------------------------------------


class LabProcess:
    """`python -m attest.lab.server` in a child process; `with LabProcess(dir) as lab: lab.url`."""

    def __init__(self, state_dir: str | os.PathLike[str], *, port: int = 0, die_after: int | None = None,
                 not_json_paths: Iterable[str] = (), error_paths: Mapping[str, int] | None = None,
                 slow_paths: Mapping[str, float] | None = None, startup_timeout: float = 15.0,
                 world: str = "demo", now: int | None = None, pve_major: int = 9, pbs: bool = False,
                 offline_nodes: Iterable[str] = (), latency_s: float = 0.0, big_nodes: int = 50,
                 big_guests: int = 5000, tsa_p12: str | os.PathLike[str] | None = None,
                 tsa_password_file: str | os.PathLike[str] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.startup_timeout = startup_timeout
        self._args = ["--state-dir", str(self.state_dir), "--port", str(port), "--world", world,
                      "--pve-major", str(pve_major), "--latency", str(latency_s),
                      "--big-nodes", str(big_nodes), "--big-guests", str(big_guests)]
        if now is not None:
            self._args += ["--now", str(now)]
        if pbs:
            self._args.append("--pbs")
        if (tsa_p12 is None) != (tsa_password_file is None):
            raise ValueError("give both tsa_p12 and tsa_password_file, or neither")
        if tsa_p12 is not None and tsa_password_file is not None:
            self._args += ["--tsa-p12", str(tsa_p12), "--tsa-password-file", str(tsa_password_file)]
        self._args += [a for n in offline_nodes for a in ("--offline-node", n)]
        if die_after is not None:
            self._args += ["--die-after", str(die_after)]
        self._args += [a for p in not_json_paths for a in ("--not-json", p)]
        self._args += [a for p, s in (error_paths or {}).items() for a in ("--error", f"{p}={s}")]
        self._args += [a for p, s in (slow_paths or {}).items() for a in ("--slow", f"{p}={s}")]
        self._proc: subprocess.Popen[bytes] | None = None
        self._info: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return str(self._started()["url"])

    @property
    def ca_path(self) -> Path:
        return Path(self._started()["ca"])

    @property
    def pbs_url(self) -> str:
        """The PBS lab's URL (started with `pbs=True`); same CA as the PVE lab."""
        info = self._started()
        if "pbs_url" not in info:
            raise RuntimeError("the lab process was started without pbs=True")
        return str(info["pbs_url"])

    @property
    def tsa_url(self) -> str:
        """The timestamp authority's URL (started with `tsa_p12=`)."""
        info = self._started()
        if "tsa_url" not in info:
            raise RuntimeError("the lab process was started without a TSA (tsa_p12=)")
        return str(info["tsa_url"])

    @property
    def pid(self) -> int:
        return int(self._started()["pid"])

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def start(self) -> LabProcess:
        if self._proc is not None:
            raise RuntimeError("the lab process is already started")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # The child must import this same checkout of attest, installed or not.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # The child's stderr goes to a file (a pipe nobody reads could fill up and hang it); the
        # child keeps its own descriptor, ours can be closed at once.
        with open(self.state_dir / LOG_FILE, "ab") as log:
            self._proc = subprocess.Popen([sys.executable, "-m", "attest.lab.server", *self._args],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env)
        try:
            self._info = json.loads(self._first_line())
        except BaseException:
            self.kill()
            raise
        return self

    def wait(self, timeout: float | None = None) -> int:
        if self._proc is None:
            raise RuntimeError("the lab process is not started")
        return self._proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: the lab vanishes mid-whatever, like a node losing power."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close_files()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not go in time."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._close_files()

    def __enter__(self) -> LabProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _started(self) -> dict[str, Any]:
        if not self._info:
            raise RuntimeError("the lab process is not started")
        return self._info

    def _first_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        lines: queue.Queue[bytes] = queue.Queue()
        # readline() has no timeout; a helper thread makes the wait bounded.
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=self.startup_timeout)
        except queue.Empty:
            raise RuntimeError(f"lab server did not start within {self.startup_timeout:g} s"
                               f"{self._log_tail()}") from None
        if not line:
            code = self._proc.wait(timeout=5)
            raise RuntimeError(f"lab server exited with status {code} before starting{self._log_tail()}")
        return line.decode()

    def _log_tail(self) -> str:
        try:
            tail = (self.state_dir / LOG_FILE).read_bytes()[-2000:].decode(errors="replace").strip()
        except OSError:
            return ""
        return f":\n{tail}" if tail else ""

    def _close_files(self) -> None:
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()


# --- CLI --------------------------------------------------------------------------------------------


def _path_value(kind: type[int] | type[float]) -> Callable[[str], tuple[str, float]]:
    def parse(text: str) -> tuple[str, float]:
        path, sep, value = text.rpartition("=")
        if not sep or not path:
            raise argparse.ArgumentTypeError(f"expected PATH=VALUE, got {text!r}")
        try:
            return path, kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad value in {text!r}") from None
    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m attest.lab.server",
                                description="Serve the simulated Proxmox VE API over HTTPS on 127.0.0.1.")
    p.add_argument("--state-dir", required=True, type=Path, help="where the lab's TLS certificates are kept")
    p.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    p.add_argument("--die-after", type=int, metavar="N",
                   help="crash (exit 137, no cleanup) right after answering the N-th request")
    p.add_argument("--not-json", action="append", default=[], metavar="PATH",
                   help="answer PATH (e.g. /cluster/resources) with a 200 HTML page")
    p.add_argument("--error", action="append", default=[], type=_path_value(int), metavar="PATH=STATUS",
                   help="answer PATH with that HTTP status and a PVE error body")
    p.add_argument("--slow", action="append", default=[], type=_path_value(float), metavar="PATH=SECONDS",
                   help="wait that long before answering PATH")
    p.add_argument("--log-requests", action="store_true", help="print method, path and status to stderr")
    p.add_argument("--world", choices=("demo", "big"), default="demo", help="which world to serve")
    p.add_argument("--pve-major", type=int, choices=(8, 9), default=9, help="demo world: PVE 8 or 9 shapes")
    p.add_argument("--now", type=int, help="epoch seconds the history is relative to (default: now)")
    p.add_argument("--offline-node", action="append", default=[], metavar="NODE",
                   help="this node answers 595 and shows offline")
    p.add_argument("--big-nodes", type=int, default=50, help="big world: number of nodes")
    p.add_argument("--big-guests", type=int, default=5000, help="big world: number of guests")
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                   help="sleep this long before every answer (a network round trip)")
    p.add_argument("--pbs", action="store_true", help="also serve the Proxmox Backup Server API on another port")
    add_tsa_arguments(p, required=False)
    return p


def _world(args: argparse.Namespace) -> LabWorld:
    if args.world == "big":
        world = big_world(args.big_nodes, args.big_guests, now=args.now)
    else:
        world = demo_world(pve_major=args.pve_major, now=args.now)
    if args.offline_node:
        world = dataclasses.replace(world, offline_nodes=tuple(args.offline_node))
    return world


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    die_after: int | None = args.die_after

    def crash_when_due(count: int) -> None:
        if die_after is not None and count >= die_after:
            os._exit(137)  # abrupt on purpose: no shutdown, no flushing, sockets just vanish

    world = _world(args)
    server = LabServer(world, args.state_dir, port=args.port, not_json_paths=args.not_json,
                       error_paths={p: int(s) for p, s in args.error}, slow_paths=dict(args.slow),
                       on_answered=crash_when_due, log_requests=args.log_requests, latency_s=args.latency)
    if args.world == "big":
        assert isinstance(server.api, PveApi)
        server.api.warm()  # a benchmark measures serving, not the first computation
    pbs_server = (LabServer(PbsApi(world), args.state_dir, log_requests=args.log_requests, latency_s=args.latency)
                  if args.pbs else None)
    tsa_server = tsa_from_arguments(args, args.log_requests)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Handlers first: a SIGTERM sent right after the JSON line is read must still stop us cleanly.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    info = {"url": server.url, "ca": str(server.ca_path.resolve()), "pid": os.getpid()}
    if pbs_server is not None:
        info["pbs_url"] = pbs_server.start().url
    if tsa_server is not None:
        info["tsa_url"] = tsa_server.start().url
    print(json.dumps(info), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        if pbs_server is not None:
            pbs_server.stop()
        if tsa_server is not None:
            tsa_server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
