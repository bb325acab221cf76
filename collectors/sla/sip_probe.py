"""The built-in SLA prober: SIP OPTIONS over UDP, TCP or TLS, with the response code and latency.

`probe()` sends one RFC 3261 OPTIONS request and waits for the final response; `run_probes()` probes
a set of targets on a fixed schedule and appends one JSON line per sample, in the JSON-lines import
format of the SLA file source:

    {"timestamp": "2025-03-01T10:00:00.000Z", "vantage": "mil-1", "instance": "pbx-a", "up": true,
     "latency_ms": 3.412, "detail": "SIP 200"}

`detail` is "SIP <code>" when a final response came back (only 2xx is up: a 503 is down, its code
kept), else "timeout", "refused", "closed", "tls: <why>", "dns: <why>" or "error: <why>".

Latency is measured with `time.perf_counter` from the first transmission of the request to the
final response: for UDP it includes any retransmission (a lost datagram shows as a slow answer),
for TCP and TLS it excludes the connection set-up and handshake, which the overall timeout covers.
Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any, Literal, Protocol

import typer

Transport = Literal["udp", "tcp", "tls"]
TRANSPORTS: tuple[str, ...] = ("udp", "tcp", "tls")
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
USER_AGENT = "Attest-probe"
T1 = 0.5  # RFC 3261 §17.1.2.2: timer E starts at T1 and doubles…
T2 = 4.0  # …up to T2; after a provisional response retransmissions continue every T2
MAX_MESSAGE = 65_535  # largest response accepted (a SIP message over UDP cannot be bigger)
MAX_WORKERS = 32  # probe threads per round at most


@dataclass(frozen=True)
class ProbeResult:
    ok: bool  # a final 2xx response came back
    code: int | None  # the final response's status code, None when none came back
    reason: str  # "SIP 200", "SIP 503", "timeout", "refused", "closed", "tls: …", "dns: …", "error: …"
    latency_ms: float | None  # request sent → final response; None without a final response


@dataclass(frozen=True)
class ProbeTarget:
    instance: str  # the SLA instance id the samples are recorded for
    host: str
    port: int
    transport: str  # "udp" | "tcp" | "tls"
    server_name: str | None = None  # TLS: the name to send (SNI) and verify; default: host


class _Failure(Exception):
    """A probe ends without a final response: `reason` is what the sample's detail says."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- the request ---------------------------------------------------------------------------------

def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True)
class _Request:
    data: bytes
    call_id: str
    branch: str


def build_options(host: str, port: int, transport: str, local: tuple[str, int], *,
                  from_domain: str = "attest.invalid") -> _Request:
    """An RFC 3261 OPTIONS request to host:port sent from `local` (address, port) over `transport`."""
    branch = "z9hG4bK" + secrets.token_hex(10)
    tag = secrets.token_hex(6)
    call_id = f"{secrets.token_hex(12)}@{from_domain}"
    hostport = f"{_uri_host(host)}:{port}"
    if transport == "tls":
        ruri = f"sips:{hostport}"
    elif transport == "tcp":
        ruri = f"sip:{hostport};transport=tcp"
    else:
        ruri = f"sip:{hostport}"
    local_hp = f"{_uri_host(local[0])}:{local[1]}"
    contact_scheme = "sips" if transport == "tls" else "sip"
    contact_params = "" if transport == "udp" else f";transport={transport}"
    lines = [
        f"OPTIONS {ruri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {local_hp};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:attest-probe@{from_domain}>;tag={tag}",
        f"To: <{ruri.split(';')[0]}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <{contact_scheme}:attest-probe@{local_hp}{contact_params}>",
        "Accept: application/sdp",
        f"User-Agent: {USER_AGENT}",
        "Content-Length: 0",
    ]
    return _Request(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"), call_id, branch)


# --- the response --------------------------------------------------------------------------------

_COMPACT = {"v": "via", "i": "call-id", "l": "content-length", "f": "from", "t": "to", "m": "contact",
            "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding"}
_STATUS = re.compile(r"SIP/2\.0 ([1-6]\d\d)(?: (.*))?$")


@dataclass(frozen=True)
class _Response:
    code: int
    phrase: str
    headers: dict[str, list[str]]  # lower-case full names → values, in order

    def first(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


def _split_head(head: bytes) -> tuple[str, dict[str, list[str]]]:
    """The start line and the headers (lower-case full names → values, folded lines joined)."""
    text = head.decode("utf-8", errors="replace")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    headers: dict[str, list[str]] = {}
    for line in unfolded:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        key = _COMPACT.get(key, key)
        headers.setdefault(key, []).append(value.strip())
    return lines[0].strip(), headers


def _parse_head(head: bytes) -> _Response | None:
    """Status line and headers of a response (None when it is not a SIP response)."""
    start, headers = _split_head(head)
    match = _STATUS.match(start)
    if not match:
        return None
    return _Response(int(match.group(1)), (match.group(2) or "").strip(), headers)


def _top_via_branch(resp: _Response) -> str | None:
    via = resp.first("via")
    if via is None:
        return None
    top = via.split(",")[0]
    match = re.search(r";\s*branch\s*=\s*([^;\s,]+)", top, re.IGNORECASE)
    return match.group(1) if match else None


def _matches(resp: _Response, req: _Request) -> bool:
    """The response belongs to our transaction: same Call-ID, top Via branch and CSeq method."""
    cseq = (resp.first("cseq") or "").split()
    return (resp.first("call-id") == req.call_id and _top_via_branch(resp) == req.branch
            and len(cseq) == 2 and cseq[1].upper() == "OPTIONS")


def _content_length(headers: dict[str, list[str]]) -> int:
    values = headers.get("content-length")
    if not values:
        return 0  # RFC 3261 §18.3 makes it mandatory over streams; treat a missing one as no body
    value = values[0]
    try:
        length = int(value)
    except ValueError:
        raise _Failure(f"error: bad Content-Length {value[:40]!r}") from None
    if length < 0 or length > MAX_MESSAGE:
        raise _Failure(f"error: bad Content-Length {length}")
    return length


def _result(resp: _Response, started: float) -> ProbeResult:
    latency = (time.perf_counter() - started) * 1000.0
    return ProbeResult(ok=200 <= resp.code < 300, code=resp.code, reason=f"SIP {resp.code}", latency_ms=latency)


# --- transports ----------------------------------------------------------------------------------

def _remaining(deadline: float) -> float:
    left = deadline - time.perf_counter()
    if left <= 0:
        raise _Failure("timeout")
    return left


def _resolve(host: str, port: int, socktype: int) -> tuple[int, Any]:
    try:
        infos = socket.getaddrinfo(host, port, type=socktype)
    except socket.gaierror as exc:
        raise _Failure(f"dns: {exc.strerror or exc}") from None
    if not infos:
        raise _Failure(f"dns: no address for {host}")
    family, _, _, _, addr = infos[0]
    return family, addr


def _probe_udp(host: str, port: int, deadline: float, from_domain: str) -> ProbeResult:
    family, addr = _resolve(host, port, socket.SOCK_DGRAM)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        # Not connect()ed: the answer may legitimately come from another address of the server (RFC 3261
        # §18.2.2), and ICMP errors are not reported, so a closed port is a timeout, as in the field.
        sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        # The Via must name an address the server can answer to: the one the kernel routes from.
        with socket.socket(family, socket.SOCK_DGRAM) as route:
            route.connect(addr)
            local_ip = route.getsockname()[0]
        req = build_options(host, port, "udp", (local_ip, sock.getsockname()[1]), from_domain=from_domain)
        started = time.perf_counter()
        interval = T1
        next_send = started
        while True:
            now = time.perf_counter()
            if now >= deadline:
                raise _Failure("timeout")
            if now >= next_send:
                try:
                    sock.sendto(req.data, addr)
                except OSError as exc:
                    raise _Failure(f"error: {exc.strerror or exc}") from None
                next_send = now + interval
                interval = min(interval * 2, T2)
            sock.settimeout(max(0.001, min(deadline, next_send) - time.perf_counter()))
            try:
                data, _ = sock.recvfrom(MAX_MESSAGE)
            except TimeoutError:
                continue
            except OSError as exc:
                raise _Failure(f"error: {exc.strerror or exc}") from None
            head = data.split(b"\r\n\r\n", 1)[0]
            resp = _parse_head(head)
            if resp is None or not _matches(resp, req):
                continue  # a stray datagram, or an answer to someone else: keep waiting
            if resp.code < 200:
                next_send = time.perf_counter() + T2  # Proceeding: retransmit every T2 only
                interval = T2
                continue
            return _result(resp, started)


class _StreamReader:
    """Reads SIP messages framed by Content-Length off a TCP or TLS stream."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""

    def _fill(self) -> None:
        self.sock.settimeout(_remaining(self.deadline))
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise _Failure("timeout") from None
        except ssl.SSLError as exc:
            raise _Failure(f"tls: {_ssl_reason(exc)}") from None
        except ConnectionResetError:
            raise _Failure("closed") from None
        except OSError as exc:
            raise _Failure(f"error: {exc.strerror or exc}") from None
        if not chunk:
            raise _Failure("closed")
        self.buffer += chunk
        if len(self.buffer) > 2 * MAX_MESSAGE:
            raise _Failure("error: response too large")

    def message(self) -> tuple[bytes, _Response | None]:
        while True:
            self.buffer = self.buffer.lstrip(b"\r\n")  # RFC 5626 keep-alive CRLFs between messages
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
        _, headers = _split_head(head)
        length = _content_length(headers)  # framing holds for requests from the server too
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return head + b"\r\n\r\n" + body, _parse_head(head)


def _ssl_reason(exc: ssl.SSLError) -> str:
    """"certificate verify failed: self-signed certificate", "wrong version number"…"""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return str(exc)


def _tls_context(tls_verify: bool | str) -> ssl.SSLContext:
    if tls_verify is False:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    cafile = tls_verify if isinstance(tls_verify, str) else None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise _Failure(f"tls: cannot load CA bundle {cafile}: {exc}") from None


def _probe_stream(host: str, port: int, transport: str, deadline: float, from_domain: str,
                  tls_verify: bool | str, server_name: str | None) -> ProbeResult:
    family, addr = _resolve(host, port, socket.SOCK_STREAM)
    ctx = _tls_context(tls_verify) if transport == "tls" else None
    raw = socket.socket(family, socket.SOCK_STREAM)
    sock: socket.socket = raw
    try:
        raw.settimeout(_remaining(deadline))
        try:
            raw.connect(addr)
        except TimeoutError:
            raise _Failure("timeout") from None
        except ConnectionRefusedError:
            raise _Failure("refused") from None
        except OSError as exc:
            raise _Failure(f"error: {exc.strerror or exc}") from None
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ctx is not None:
            raw.settimeout(_remaining(deadline))
            try:
                sock = ctx.wrap_socket(raw, server_hostname=server_name or host)
            except TimeoutError:
                raise _Failure("timeout") from None
            except ssl.SSLError as exc:
                raise _Failure(f"tls: {_ssl_reason(exc)}") from None
            except (ConnectionResetError, BrokenPipeError):
                raise _Failure("tls: connection closed during the handshake") from None
            except OSError as exc:
                raise _Failure(f"tls: {exc.strerror or exc}") from None
        local = sock.getsockname()
        req = build_options(host, port, transport, (local[0], local[1]), from_domain=from_domain)
        started = time.perf_counter()
        sock.settimeout(_remaining(deadline))
        try:
            sock.sendall(req.data)
        except TimeoutError:
            raise _Failure("timeout") from None
        except OSError as exc:
            raise _Failure(f"error: {exc.strerror or exc}") from None
        reader = _StreamReader(sock, deadline)
        while True:
            _, resp = reader.message()
            if resp is None or not _matches(resp, req) or resp.code < 200:
                continue  # a request from the server, a keep-alive, a provisional response
            return _result(resp, started)
    finally:
        sock.close()


def probe(host: str, port: int, transport: str, *, timeout_s: float = 2.0, tls_verify: bool | str = True,
          server_name: str | None = None, from_domain: str = "attest.invalid") -> ProbeResult:
    """Send one SIP OPTIONS to host:port over `transport` ("udp", "tcp" or "tls") and wait at most
    `timeout_s` (connection, handshake, retransmissions and all) for its final response.

    ok is True for a final 2xx response only; any other final response is not ok, its code kept.
    Over UDP the request is retransmitted per RFC 3261 timer E (500 ms, doubling, at most 4 s), stray
    datagrams are ignored and the answer is matched on Call-ID and Via branch. Over TCP and TLS the
    response is framed by its Content-Length. For TLS, `tls_verify` is True (system CAs), a CA bundle
    path, or False (no verification); `server_name` is sent as SNI and verified (default: host).
    """
    transport = transport.lower()
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
    deadline = time.perf_counter() + timeout_s
    try:
        if transport == "udp":
            return _probe_udp(host, port, deadline, from_domain)
        return _probe_stream(host, port, transport, deadline, from_domain, tls_verify, server_name)
    except _Failure as failure:
        return ProbeResult(ok=False, code=None, reason=failure.reason, latency_ms=None)
    except ssl.SSLError as exc:  # a safety net: a probe reports, it never raises for the network's sake
        return ProbeResult(ok=False, code=None, reason=f"tls: {_ssl_reason(exc)}", latency_ms=None)
    except OSError as exc:
        return ProbeResult(ok=False, code=None, reason=f"error: {exc.strerror or exc}", latency_ms=None)


# --- scheduled probing ---------------------------------------------------------------------------

class Clock(Protocol):
    def time(self) -> float: ...

    def sleep(self, seconds: float, /) -> None: ...


def utc_timestamp(t: float) -> str:
    """ISO 8601 UTC with milliseconds and a Z: 2025-03-01T10:00:00.300Z."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sample_line(t: float, vantage: str, instance: str, result: ProbeResult) -> str:
    """One JSON line of the import format (exactly these keys, in this order)."""
    latency = None if result.latency_ms is None else round(result.latency_ms, 3)
    return json.dumps({"timestamp": utc_timestamp(t), "vantage": vantage, "instance": instance, "up": result.ok,
                       "latency_ms": latency, "detail": result.reason}, ensure_ascii=False)


def run_probes(targets: Sequence[ProbeTarget], *, vantage: str, interval_s: float, rounds: int | None = None,
               stop_after: float | None = None, out: Path, clock: Clock = time, timeout_s: float = 2.0,
               tls_verify: bool | str = True, from_domain: str = "attest.invalid", align: bool = True,
               max_workers: int = MAX_WORKERS) -> None:
    """Probe every target once per `interval_s` and append one JSON line per sample to `out`.

    Round k starts at start + k × interval_s (a fixed schedule: no drift; a round that overruns
    skips the slots it missed rather than bursting), and every sample of a round carries the
    round's scheduled start as its timestamp. With `align`, start is the next multiple of the
    interval since the Unix epoch, so vantage points probing at the same interval sample the same
    instants. Targets are probed in parallel threads (at most `max_workers`), each with a timeout of
    `timeout_s` capped at 80 % of the interval. Lines are written in target order and flushed after
    each round. Stops after `rounds` rounds, or before the first slot at or past start + `stop_after`
    seconds; with neither, runs until interrupted.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    if rounds is not None and rounds < 0:
        raise ValueError("rounds must not be negative")
    targets = list(targets)
    for target in targets:
        if target.transport not in TRANSPORTS:
            raise ValueError(f"{target.instance}: transport must be one of {', '.join(TRANSPORTS)}")
    per_probe = min(timeout_s, interval_s * 0.8)
    now = clock.time()
    start = (int(now // interval_s) + 1) * interval_s if align else now
    end = None if stop_after is None else start + stop_after
    k = 0
    done = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(targets) or 1)),
                            thread_name_prefix="sip-probe") as pool, open(out, "a", encoding="utf-8") as fh:
        while rounds is None or done < rounds:
            slot = start + k * interval_s
            if end is not None and slot >= end:
                break
            wait = slot - clock.time()
            if wait > 0:
                clock.sleep(wait)
            late = clock.time() - slot
            if late >= interval_s:  # this slot is gone (an overrun, a suspended machine): take the next one
                k += int(late // interval_s)
                continue
            results = list(pool.map(lambda t: probe(t.host, t.port, t.transport, timeout_s=per_probe,
                                                    tls_verify=tls_verify, server_name=t.server_name,
                                                    from_domain=from_domain), targets))
            _write_round(fh, slot, vantage, targets, results)
            done += 1
            k += 1


def _write_round(fh: IO[str], slot: float, vantage: str, targets: Iterable[ProbeTarget],
                 results: Iterable[ProbeResult]) -> None:
    for target, result in zip(targets, results, strict=True):
        fh.write(sample_line(slot, vantage, target.instance, result) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


# --- the command ---------------------------------------------------------------------------------

_TARGET = re.compile(r"^(?P<instance>[^=\s]+)=(?P<scheme>sips?):(?P<host>\[[0-9A-Fa-f:.]+\]|[^:;\[\]\s]+)"
                     r"(?::(?P<port>\d{1,5}))?(?P<params>(?:;[^;=\s]+(?:=[^;\s]*)?)*)$")


def parse_target(spec: str) -> ProbeTarget:
    """INSTANCE=sip[s]:host[:port][;transport=udp|tcp|tls] → ProbeTarget. sips means TLS; the port
    defaults to 5060 (5061 for TLS); an IPv6 host goes in brackets."""
    match = _TARGET.match(spec.strip())
    if not match:
        raise ValueError(f"{spec!r}: expected INSTANCE=sip[s]:host[:port][;transport=udp|tcp|tls]")
    params: dict[str, str] = {}
    for part in match.group("params").split(";")[1:]:
        name, _, value = part.partition("=")
        params[name.lower()] = value.lower()
    unknown = set(params) - {"transport"}
    if unknown:
        raise ValueError(f"{spec!r}: unknown parameter {sorted(unknown)[0]!r} (only transport=…)")
    transport = params.get("transport") or ("tls" if match.group("scheme") == "sips" else "udp")
    if transport not in TRANSPORTS:
        raise ValueError(f"{spec!r}: transport must be one of {', '.join(TRANSPORTS)}")
    if match.group("scheme") == "sips" and transport != "tls":
        raise ValueError(f"{spec!r}: a sips: target is probed over TLS only")
    host = match.group("host").strip("[]")
    if match.group("host").startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{spec!r}: {host!r} is not an IPv6 address") from None
    port = int(match.group("port")) if match.group("port") else DEFAULT_PORTS[transport]
    if not 0 < port < 65536:
        raise ValueError(f"{spec!r}: port {port} out of range")
    return ProbeTarget(instance=match.group("instance"), host=host, port=port, transport=transport)


def probe_command(
        target: Annotated[list[str], typer.Option("--target", help="INSTANCE=sip:host[:port][;transport=udp|"
                                                                   "tcp|tls] or INSTANCE=sips:host[:port] "
                                                                   "(repeatable)",
                                                  show_default=False)],
        vantage: Annotated[str, typer.Option("--vantage", help="This vantage point's name, e.g. mil-1",
                                             show_default=False)],
        out: Annotated[Path, typer.Option("--out", help="JSON-lines file the samples are appended to",
                                          show_default=False)],
        interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between rounds")] = 60.0,
        rounds: Annotated[int | None, typer.Option("--rounds", min=1, help="Stop after N rounds (default: run "
                                                                          "until interrupted)")] = None,
        timeout: Annotated[float, typer.Option("--timeout", min=0.05, help="Seconds to wait for an answer "
                                                                           "(at most 80 % of the interval)")] = 2.0,
        ca_file: Annotated[Path | None, typer.Option("--ca-file", help="TLS: CA bundle to verify servers with "
                                                                       "(default: the system's)")] = None,
        insecure: Annotated[bool, typer.Option("--insecure", help="TLS: do not verify server certificates")]
        = False) -> None:
    """Probe PBX instances with SIP OPTIONS from this vantage point, every --interval seconds.

    Each round sends one OPTIONS to every --target in parallel (UDP, TCP or TLS)
    and appends one JSON line per target to --out, for example:

        attest probe --vantage mil-1 --out samples-mil-1.jsonl \\
            --target pbx-a=sip:pbx-a.example.net \\
            --target 'pbx-b=sip:203.0.113.7:5080;transport=tcp' \\
            --target pbx-c=sips:pbx-c.example.net

    writes lines like

        {"timestamp": "2025-03-01T10:00:00.000Z", "vantage": "mil-1",
         "instance": "pbx-a", "up": true, "latency_ms": 3.4, "detail": "SIP 200"}

    up is true only for a final 2xx answer; detail is "SIP <code>", "timeout",
    "refused", "closed" or "tls: <why>". sips: means TLS; ports default to 5060
    (5061 for TLS). Rounds start at multiples of --interval since the epoch, so
    vantage points line up, and all samples of a round carry its start time.
    Import the file with the SLA CSV/JSON-lines source of `attest collect`.
    Stop with Ctrl-C, or give --rounds.
    """
    from attest.errors import BadInput

    if not target:
        raise BadInput("give at least one --target INSTANCE=sip[s]:host[:port][;transport=udp|tcp|tls]")
    try:
        targets = [parse_target(spec) for spec in target]
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    seen: set[str] = set()
    for t in targets:
        if t.instance in seen:  # two series for one instance from one vantage point would double its samples
            raise BadInput(f"--target {t.instance} is given twice")
        seen.add(t.instance)
    if ca_file is not None and insecure:
        raise BadInput("--ca-file and --insecure exclude each other")
    if ca_file is not None and not ca_file.is_file():
        raise BadInput(f"--ca-file {ca_file}: no such file")
    tls_verify: bool | str = False if insecure else (str(ca_file) if ca_file is not None else True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the run; every finished round is on disk
        run_probes(targets, vantage=vantage, interval_s=interval, rounds=rounds, stop_after=None, out=out,
                   timeout_s=timeout, tls_verify=tls_verify)
