"""The built-in SIP OPTIONS prober against a real Kamailio on loopback (kamailio.py), plus tiny SIP
servers of our own for what Kamailio will not do on request (stray datagrams, lost requests,
fragmented TCP answers). Assertions are on content only, never on how long something took."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from attest.errors import BadInput
from collectors.sla.samples import Sample
from collectors.sla.sip_probe import (
    ProbeResult,
    ProbeTarget,
    parse_target,
    probe,
    probe_command,
    run_probes,
    sample_line,
)
from tests.collectors.sla.kamailio import HOST, Kamailio, free_port, running_kamailio

KEYS = ["timestamp", "vantage", "instance", "up", "latency_ms", "detail"]


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    with running_kamailio(tmp_path_factory.mktemp("kamailio")) as server:
        yield server


@pytest.fixture
def kamailio_fresh(tmp_path: Path) -> Iterator[Kamailio]:
    """A server of the test's own, for tests that stop it or change its answer."""
    with running_kamailio(tmp_path / "kamailio") as server:
        yield server


def _port(server: Kamailio, transport: str) -> int:
    return server.tls_port if transport == "tls" else server.port


# --- against Kamailio ----------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_options_answered_200(kamailio: Kamailio, transport: str) -> None:
    result = probe(kamailio.host, _port(kamailio, transport), transport, tls_verify=str(kamailio.ca.cert_pem))
    assert result.ok, result
    assert result.code == 200
    assert result.reason == "SIP 200"
    assert result.latency_ms is not None and result.latency_ms > 0


def test_tls_verifies_server_name_with_the_test_ca(kamailio: Kamailio) -> None:
    good = probe(kamailio.host, kamailio.tls_port, "tls", tls_verify=str(kamailio.ca.cert_pem),
                 server_name=kamailio.server_name)
    assert good.ok and good.code == 200
    wrong_name = probe(kamailio.host, kamailio.tls_port, "tls", tls_verify=str(kamailio.ca.cert_pem),
                       server_name="other.test")
    assert not wrong_name.ok and wrong_name.code is None and wrong_name.latency_ms is None
    assert wrong_name.reason.startswith("tls: certificate verify failed")
    assert "other.test" in wrong_name.reason


def test_tls_with_the_wrong_ca_fails_clearly(kamailio: Kamailio) -> None:
    result = probe(kamailio.host, kamailio.tls_port, "tls", tls_verify=str(kamailio.wrong_ca.cert_pem))
    assert not result.ok and result.code is None and result.latency_ms is None
    assert result.reason == "tls: certificate verify failed: unable to get local issuer certificate"
    # the system CAs do not know the test CA either
    assert probe(kamailio.host, kamailio.tls_port, "tls").reason.startswith("tls: certificate verify failed")
    # without verification it answers
    assert probe(kamailio.host, kamailio.tls_port, "tls", tls_verify=False).ok


def test_tls_with_a_missing_ca_bundle(kamailio: Kamailio, tmp_path: Path) -> None:
    result = probe(kamailio.host, kamailio.tls_port, "tls", tls_verify=str(tmp_path / "nope.pem"))
    assert not result.ok and result.reason.startswith("tls: cannot load CA bundle")


def test_tls_spoken_to_a_plain_port_is_not_up(kamailio: Kamailio) -> None:
    result = probe(kamailio.host, kamailio.port, "tls", tls_verify=False, timeout_s=0.5)
    assert not result.ok and result.code is None
    assert result.reason == "timeout" or result.reason.startswith("tls: ")


def test_503_is_down_with_its_code(kamailio_fresh: Kamailio) -> None:
    kamailio_fresh.restart(503, "Service Unavailable")
    for transport in ("udp", "tcp", "tls"):
        result = probe(kamailio_fresh.host, _port(kamailio_fresh, transport), transport,
                       tls_verify=str(kamailio_fresh.ca.cert_pem))
        assert result == ProbeResult(ok=False, code=503, reason="SIP 503", latency_ms=result.latency_ms), transport
        assert result.latency_ms is not None and result.latency_ms > 0


def test_stopped_server(kamailio_fresh: Kamailio) -> None:
    kamailio_fresh.stop()
    assert probe(HOST, kamailio_fresh.port, "udp", timeout_s=0.6).reason == "timeout"
    assert probe(HOST, kamailio_fresh.port, "tcp").reason == "refused"
    assert probe(HOST, kamailio_fresh.tls_port, "tls").reason == "refused"
    kamailio_fresh.start()
    assert probe(HOST, kamailio_fresh.port, "udp").ok


# --- nothing listening, bad arguments ------------------------------------------------------------

def test_nothing_listening() -> None:
    port = free_port()
    udp = probe(HOST, port, "udp", timeout_s=0.6)
    assert udp == ProbeResult(ok=False, code=None, reason="timeout", latency_ms=None)
    assert probe(HOST, port, "tcp") == ProbeResult(ok=False, code=None, reason="refused", latency_ms=None)
    assert probe(HOST, port, "tls").reason == "refused"


def test_unknown_host_and_transport() -> None:
    assert probe("no-such-host.invalid", 5060, "udp", timeout_s=0.5).reason.startswith("dns: ")
    with pytest.raises(ValueError, match="transport"):
        probe(HOST, 5060, "sctp")


# --- tiny SIP servers of our own ---------------------------------------------------------------------

def _headers(request: bytes) -> dict[str, str]:
    lines = request.decode().split("\r\n")
    return {name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)}


def _response(request: bytes, code: int = 200, phrase: str = "OK", body: bytes = b"",
              call_id: str | None = None, branch: str | None = None) -> bytes:
    h = _headers(request)
    via = h["via"] if branch is None else re.sub(r"branch=[^;]+", f"branch={branch}", h["via"])
    head = (f"SIP/2.0 {code} {phrase}\r\nv: {via};received=127.0.0.1\r\nFrom: {h['from']}\r\n"
            f"To: {h['to']};tag=srv\r\ni: {call_id or h['call-id']}\r\nCSeq: {h['cseq']}\r\n"
            f"Content-Type: text/plain\r\nl: {len(body)}\r\n\r\n")
    return head.encode() + body


class UdpServer:
    """Answers on UDP what `script(request, n)` returns (datagrams to send back; n counts requests)."""

    def __init__(self, script: Callable[[bytes, int], list[bytes]]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.requests: list[bytes] = []
        self.script = script
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.requests.append(data)
            for reply in self.script(data, len(self.requests)):
                self.sock.sendto(reply, peer)

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def udp_server() -> Iterator[Callable[[Callable[[bytes, int], list[bytes]]], UdpServer]]:
    servers: list[UdpServer] = []

    def make(script: Callable[[bytes, int], list[bytes]]) -> UdpServer:
        servers.append(UdpServer(script))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_request_is_a_valid_options(udp_server: Callable[..., UdpServer]) -> None:
    server = udp_server(lambda req, n: [_response(req)])
    assert probe(HOST, server.port, "udp", from_domain="probe.example").ok
    request = server.requests[0]
    first, *_ = request.decode().split("\r\n")
    assert first == f"OPTIONS sip:{HOST}:{server.port} SIP/2.0"
    assert request.endswith(b"\r\n\r\n")
    h = _headers(request)
    assert re.fullmatch(r"SIP/2\.0/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK[0-9a-f]+;rport", h["via"])
    assert h["max-forwards"] == "70"
    assert re.fullmatch(r"<sip:attest-probe@probe\.example>;tag=[0-9a-f]+", h["from"])
    assert h["to"] == f"<sip:{HOST}:{server.port}>"
    assert h["call-id"].endswith("@probe.example")
    assert h["cseq"] == "1 OPTIONS"
    assert re.fullmatch(r"<sip:attest-probe@127\.0\.0\.1:\d+>", h["contact"])
    assert h["accept"] == "application/sdp"
    assert h["user-agent"] == "Attest-probe"
    assert h["content-length"] == "0"
    # a second probe is a new transaction
    assert probe(HOST, server.port, "udp").ok
    h2 = _headers(server.requests[1])
    assert h2["call-id"] != h["call-id"] and h2["via"] != h["via"]


def test_stray_datagrams_are_ignored(udp_server: Callable[..., UdpServer]) -> None:
    def script(req: bytes, n: int) -> list[bytes]:
        return [b"\x00\xffgarbage, not SIP at all",
                b"SIP/2.0 200 OK\r\nbroken: yes",  # a response without the transaction's headers
                _response(req, 200, call_id="someone-else@elsewhere"),  # another dialog's answer
                _response(req, 200, branch="z9hG4bKnot-ours"),  # another transaction's
                _response(req, 100, "Trying"),  # provisional: keep waiting
                _response(req, 486, "Busy Here")]  # the final answer
    server = udp_server(script)
    result = probe(HOST, server.port, "udp")
    assert result.code == 486 and result.reason == "SIP 486" and not result.ok


def test_udp_retransmits_a_lost_request(udp_server: Callable[..., UdpServer]) -> None:
    server = udp_server(lambda req, n: [] if n == 1 else [_response(req)])  # the first datagram is "lost"
    result = probe(HOST, server.port, "udp", timeout_s=3.0)
    assert result.ok and result.code == 200
    assert len(server.requests) == 2
    assert server.requests[0] == server.requests[1]  # a retransmission: same branch, Call-ID and CSeq


class TcpServer:
    """Accepts one connection and writes back what `script(request)` returns, piece by piece; then
    waits for the client to close (`linger`) or closes the connection itself."""

    def __init__(self, script: Callable[[bytes], list[bytes]], linger: bool = True) -> None:
        self.linger = linger
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((HOST, 0))
        self.listener.listen(1)
        self.port = int(self.listener.getsockname()[1])
        self.script = script
        self.request = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while b"\r\n\r\n" not in self.request:
                self.request += conn.recv(65535)
            # The prober may hang up as soon as it has its final response: later pieces (e.g. the
            # junk after a Content-Length-framed body) can meet a reset, which is fine here.
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                for piece in self.script(self.request):
                    conn.sendall(piece)
            if not self.linger:
                return
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(1)  # until the client closes

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.listener.close()


def test_tcp_response_framed_by_content_length() -> None:
    def script(req: bytes) -> list[bytes]:
        trying = _response(req, 100, "Trying")
        final = _response(req, 200, body=b"Allow: INVITE\r\n\r\nnot a header")
        whole = b"\r\n\r\n" + trying + final + b"SIP/2.0 500 Trailing junk\r\n\r\n"
        return [whole[i:i + 7] for i in range(0, len(whole), 7)]  # in small pieces

    server = TcpServer(script)
    try:
        result = probe(HOST, server.port, "tcp")
    finally:
        server.close()
    assert result.ok and result.code == 200
    h = _headers(server.request)
    assert server.request.startswith(f"OPTIONS sip:{HOST}:{server.port};transport=tcp SIP/2.0\r\n".encode())
    assert h["via"].startswith("SIP/2.0/TCP 127.0.0.1:")
    assert h["contact"].endswith(";transport=tcp>")


def test_tcp_closed_before_an_answer() -> None:
    server = TcpServer(lambda req: [_response(req, 100, "Trying"), _response(req)[:-10]], linger=False)
    try:
        result = probe(HOST, server.port, "tcp")
    finally:
        server.close()
    assert result == ProbeResult(ok=False, code=None, reason="closed", latency_ms=None)


# --- scheduled probing -----------------------------------------------------------------------------

class FakeClock:
    """Virtual time: sleep() advances it (optionally overshooting) and runs the hook registered for
    the n-th sleep, i.e. just before round n starts."""

    def __init__(self, t0: float, hooks: dict[int, Callable[[], None]] | None = None,
                 overshoot: float = 0.0) -> None:
        self.now = t0
        self.hooks = hooks or {}
        self.overshoot = overshoot
        self.sleeps = 0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float, /) -> None:
        self.now += seconds + self.overshoot
        hook = self.hooks.get(self.sleeps)
        self.sleeps += 1
        if hook is not None:
            hook()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _epoch(stamp: object) -> float:
    assert isinstance(stamp, str) and stamp.endswith("Z")
    return datetime.fromisoformat(stamp).timestamp()


def test_run_probes_records_an_outage(kamailio_fresh: Kamailio, tmp_path: Path) -> None:
    k = kamailio_fresh
    targets = [ProbeTarget("pbx-udp", k.host, k.port, "udp", None),
               ProbeTarget("pbx-tcp", k.host, k.port, "tcp", None),
               ProbeTarget("pbx-tls", k.host, k.tls_port, "tls", k.server_name)]
    clock = FakeClock(1_700_000_000.1, hooks={3: k.stop, 6: k.start})
    out = tmp_path / "out" / "samples.jsonl"
    # virtual time, so a long interval costs nothing but the down rounds' UDP timeout (80 % of it),
    # and leaves the TLS handshakes of the up rounds ample time on a busy machine
    run_probes(targets, vantage="mil-1", interval_s=1.0, rounds=9, stop_after=None, out=out, clock=clock,
               tls_verify=str(k.ca.cert_pem))
    lines = _lines(out)
    assert len(lines) == 27
    assert all(list(line) == KEYS for line in lines)
    assert all(line["vantage"] == "mil-1" for line in lines)
    start = 1_700_000_001.0  # the next multiple of the interval
    for i, line in enumerate(lines):
        round_, target = divmod(i, 3)
        assert line["instance"] == targets[target].instance  # in target order within a round
        assert _epoch(line["timestamp"]) == pytest.approx(start + round_, abs=1e-3)
    by_instance = {t.instance: [line for line in lines if line["instance"] == t.instance] for t in targets}
    expected_down = {"pbx-udp": "timeout", "pbx-tcp": "refused", "pbx-tls": "refused"}
    for instance, series in by_instance.items():
        assert [line["up"] for line in series] == [True] * 3 + [False] * 3 + [True] * 3, instance
        assert [line["detail"] for line in series] == ["SIP 200"] * 3 + [expected_down[instance]] * 3 + ["SIP 200"] * 3
        assert all(isinstance(line["latency_ms"], float) and line["latency_ms"] > 0
                   for line in series if line["up"])
        assert all(line["latency_ms"] is None for line in series if not line["up"])
    # every line maps onto the engine's Sample
    samples = [Sample(t=_epoch(line["timestamp"]), vantage=str(line["vantage"]), instance=str(line["instance"]),
                      up=bool(line["up"]), latency_ms=line["latency_ms"], detail=str(line["detail"]))  # type: ignore[arg-type]
               for line in lines]
    assert sum(s.up for s in samples) == 18


def test_run_probes_keeps_a_fixed_schedule(kamailio: Kamailio, tmp_path: Path) -> None:
    target = [ProbeTarget("pbx-a", kamailio.host, kamailio.port, "udp", None)]
    out = tmp_path / "samples.jsonl"
    # every sleep overshoots by 40 % of the interval: the slots must not drift
    run_probes(target, vantage="v", interval_s=0.25, rounds=6, stop_after=None, out=out,
               clock=FakeClock(1_000.0, overshoot=0.1))
    stamps = [_epoch(line["timestamp"]) for line in _lines(out)]
    assert stamps == pytest.approx([1_000.25 + 0.25 * k for k in range(6)], abs=1e-3)
    # a round started more than an interval late gives up its slot instead of bursting
    out2 = tmp_path / "late.jsonl"
    clock = FakeClock(1_000.0)
    clock.hooks = {2: lambda: setattr(clock, "now", clock.now + 0.6)}
    run_probes(target, vantage="v", interval_s=0.25, rounds=4, stop_after=None, out=out2, clock=clock)
    stamps = [_epoch(line["timestamp"]) for line in _lines(out2)]
    assert stamps == pytest.approx([1_000.25, 1_000.5, 1_001.25, 1_001.5], abs=1e-3)


def test_run_probes_stop_after_and_append(kamailio: Kamailio, tmp_path: Path) -> None:
    target = [ProbeTarget("pbx-a", kamailio.host, kamailio.port, "tcp", None)]
    out = tmp_path / "samples.jsonl"
    out.write_text('{"earlier": "line"}\n')
    run_probes(target, vantage="v", interval_s=60, rounds=None, stop_after=300, out=out,
               clock=FakeClock(1_740_000_000.0), align=False)
    lines = _lines(out)
    assert lines[0] == {"earlier": "line"}
    assert [line["timestamp"] for line in lines[1:]] == [
        "2025-02-19T21:20:00.000Z", "2025-02-19T21:21:00.000Z", "2025-02-19T21:22:00.000Z",
        "2025-02-19T21:23:00.000Z", "2025-02-19T21:24:00.000Z"]


def test_probe_command_real_clock(kamailio: Kamailio, tmp_path: Path) -> None:
    out = tmp_path / "cmd.jsonl"
    probe_command(target=[f"a=sip:{kamailio.host}:{kamailio.port}",
                          f"b=sip:{kamailio.host}:{kamailio.port};transport=tcp",
                          f"c=sips:{kamailio.host}:{kamailio.tls_port}"],
                  vantage="fra-1", out=out, interval=0.3, rounds=2, timeout=2.0, ca_file=kamailio.ca.cert_pem,
                  insecure=False)
    lines = _lines(out)
    assert [line["instance"] for line in lines] == ["a", "b", "c", "a", "b", "c"]
    assert all(line["up"] is True and line["detail"] == "SIP 200" for line in lines), lines
    assert lines[0]["timestamp"] == lines[1]["timestamp"] == lines[2]["timestamp"] != lines[3]["timestamp"]
    assert _epoch(lines[3]["timestamp"]) - _epoch(lines[0]["timestamp"]) == pytest.approx(0.3, abs=1e-3)


def test_probe_command_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    common = {"vantage": "v", "out": out, "interval": 60.0, "rounds": 1, "timeout": 1.0, "ca_file": None,
              "insecure": False}
    with pytest.raises(BadInput, match="expected INSTANCE="):
        probe_command(target=["pbx.example.net"], **common)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="given twice"):
        probe_command(target=["a=sip:h1", "a=sips:h1"], **common)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="no such file"):
        probe_command(target=["a=sips:h1"], **{**common, "ca_file": tmp_path / "none.pem"})  # type: ignore[arg-type]
    assert not out.exists()


@pytest.mark.parametrize(("spec", "expected"), [
    ("pbx-a=sip:pbx.example.net", ProbeTarget("pbx-a", "pbx.example.net", 5060, "udp")),
    ("pbx-a=sip:pbx.example.net:5080;transport=TCP", ProbeTarget("pbx-a", "pbx.example.net", 5080, "tcp")),
    ("pbx-a=sip:10.0.0.1;transport=tls", ProbeTarget("pbx-a", "10.0.0.1", 5061, "tls")),
    ("pbx-a=sips:pbx.example.net", ProbeTarget("pbx-a", "pbx.example.net", 5061, "tls")),
    ("t1/pbx=sips:[2001:db8::1]:5071", ProbeTarget("t1/pbx", "2001:db8::1", 5071, "tls")),
    ("x=sip:[::1]", ProbeTarget("x", "::1", 5060, "udp")),
])
def test_parse_target(spec: str, expected: ProbeTarget) -> None:
    assert parse_target(spec) == expected


@pytest.mark.parametrize("spec", ["sip:pbx", "a=http:pbx", "a=sip:pbx;transport=sctp", "a=sips:pbx;transport=udp",
                                  "a=sip:pbx:99999", "a=sip:pbx;lr", "a=sip:[zz::1]", "a=sip:", "a=sip:h:5060:1"])
def test_parse_target_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_target(spec)


def test_sample_line_format() -> None:
    line = sample_line(1_740_000_000.25, "mil-1", "pbx-a", ProbeResult(True, 200, "SIP 200", 1.23456))
    assert line == ('{"timestamp": "2025-02-19T21:20:00.250Z", "vantage": "mil-1", "instance": "pbx-a", '
                    '"up": true, "latency_ms": 1.235, "detail": "SIP 200"}')
    down = json.loads(sample_line(0.0, "v", "i", ProbeResult(False, None, "timeout", None)))
    assert down == {"timestamp": "1970-01-01T00:00:00.000Z", "vantage": "v", "instance": "i", "up": False,
                    "latency_ms": None, "detail": "timeout"}
