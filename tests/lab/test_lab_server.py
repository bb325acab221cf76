"""The lab as a server: TLS, keep-alive, request counting, quiet logs, and the lab as a process
that can be stopped, killed, or told to crash in the middle of a collection run."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

import pytest
import requests
from cryptography import x509
from proxmoxer import ProxmoxAPI

from attest.lab.server import CA_FILE, CERT_FILE, KEY_FILE, LabProcess, LabServer
from attest.lab.world import demo_world

WORLD = demo_world()
EVIDENCE = next(t for t in WORLD.tokens if t.tokenid == "evidence")
AUTH = {"Authorization": f"PVEAPIToken={EVIDENCE.full_id}={EVIDENCE.secret}"}
REPO = Path(__file__).resolve().parents[2]


def _pve(url: str, ca: Path, timeout: float = 5) -> ProxmoxAPI:
    return ProxmoxAPI(url.removeprefix("https://"), user=EVIDENCE.userid, token_name=EVIDENCE.tokenid,
                      token_value=EVIDENCE.secret, verify_ssl=str(ca), timeout=timeout)


# --- in-process server ------------------------------------------------------------------------------


def test_https_with_the_labs_own_ca(tmp_path: Path) -> None:
    with LabServer(WORLD, tmp_path) as lab:
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+", lab.url) and lab.port > 0
        ca = x509.load_pem_x509_certificate(lab.ca_path.read_bytes())
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        r = requests.get(f"{lab.url}/api2/json/version", headers=AUTH, verify=str(lab.ca_path), timeout=5)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json;charset=UTF-8"
        assert r.json()["data"]["version"] == "9.1.2"
        with pytest.raises(requests.exceptions.SSLError):  # the system trust store does not know the lab
            requests.get(f"{lab.url}/api2/json/version", headers=AUTH, timeout=5)
        for host in ("localhost", "127.0.0.1"):  # both names are in the certificate
            assert _pve(f"{host}:{lab.port}", lab.ca_path).version.get()["release"] == "9.1"


def test_certificates_are_reused_and_remade_when_broken(tmp_path: Path) -> None:
    with LabServer(WORLD, tmp_path):
        first = {name: (tmp_path / name).read_bytes() for name in (CA_FILE, CERT_FILE, KEY_FILE)}
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o077 == 0  # the private key is not world-readable
    with LabServer(WORLD, tmp_path):
        assert {name: (tmp_path / name).read_bytes() for name in first} == first
    (tmp_path / CERT_FILE).write_text("not a certificate")
    with LabServer(WORLD, tmp_path) as lab:
        assert (tmp_path / CA_FILE).read_bytes() != first[CA_FILE]
        assert _pve(lab.url, lab.ca_path).version.get()["version"] == "9.1.2"


def test_counts_every_answer_and_reports_it(tmp_path: Path) -> None:
    seen: list[int] = []
    with LabServer(WORLD, tmp_path, on_answered=seen.append) as lab:
        assert lab.requests_served == 0
        with requests.Session() as s:  # one keep-alive connection, several requests
            for path in ("/version", "/cluster/status", "/nope", "/pools"):
                s.get(f"{lab.url}/api2/json{path}", headers=AUTH, verify=str(lab.ca_path), timeout=5)
            s.get(f"{lab.url}/api2/json/version", verify=str(lab.ca_path), timeout=5)  # a 401 counts too
        assert lab.requests_served == 5  # counted before the answer left
        # The callback runs just after the answer is out, so it may trail the client a little.
        deadline = time.monotonic() + 5
        while len(seen) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(seen) == [1, 2, 3, 4, 5]


def test_quiet_by_default_and_never_logs_the_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with LabServer(WORLD, tmp_path) as lab:
        _pve(lab.url, lab.ca_path).version.get()
        requests.get(f"{lab.url}/api2/json/version", verify=str(lab.ca_path), timeout=5)
    assert capsys.readouterr().err == ""
    with LabServer(WORLD, tmp_path, log_requests=True) as lab:
        _pve(lab.url, lab.ca_path).cluster.resources.get(type="vm")
    err = capsys.readouterr().err
    assert "lab: GET /api2/json/cluster/resources -> 200" in err
    assert EVIDENCE.secret not in err and "PVEAPIToken" not in err


def test_stop_cuts_open_connections(tmp_path: Path) -> None:
    lab = LabServer(WORLD, tmp_path).start()
    with requests.Session() as s:
        assert s.get(f"{lab.url}/api2/json/version", headers=AUTH, verify=str(lab.ca_path), timeout=5).ok
        lab.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            s.get(f"{lab.url}/api2/json/version", headers=AUTH, verify=str(lab.ca_path), timeout=5)
    lab.stop()  # idempotent


def test_url_needs_a_started_server(tmp_path: Path) -> None:
    lab = LabServer(WORLD, tmp_path)
    assert lab.ca_path.is_file()  # available before start, for clients configured up front
    with pytest.raises(RuntimeError):
        _ = lab.url


# --- the CLI and LabProcess ----------------------------------------------------------------------------


def test_cli_prints_exactly_one_json_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "attest.lab.server", "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"url", "ca", "pid"} and info["pid"] == proc.pid
        assert Path(info["ca"]).is_absolute() and Path(info["ca"]).is_file()
        assert _pve(info["url"], Path(info["ca"])).version.get()["version"] == "9.1.2"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    assert out == b"" and err == b""  # nothing after the JSON line, and no request log


def test_lab_process_serves_and_stops(tmp_path: Path) -> None:
    with LabProcess(tmp_path) as lab:
        assert lab.pid != os.getpid()
        assert [n["node"] for n in _pve(lab.url, lab.ca_path).nodes.get()] == ["pve1", "pve2", "pve3", "pve4"]
    assert lab.returncode == 0


def test_die_after_crashes_the_process_mid_run(tmp_path: Path) -> None:
    with LabProcess(tmp_path, die_after=2) as lab:
        pve = _pve(lab.url, lab.ca_path)
        assert pve.version.get()["version"] == "9.1.2"
        assert len(pve.cluster.resources.get(type="vm")) == len(WORLD.guests)  # the 2nd answer is whole
        assert lab.wait(timeout=10) == 137
        with pytest.raises(requests.exceptions.ConnectionError):
            pve.cluster.status.get()


def test_kill_is_abrupt(tmp_path: Path) -> None:
    lab = LabProcess(tmp_path).start()
    pve = _pve(lab.url, lab.ca_path)
    assert pve.version.get()
    lab.kill()
    assert lab.returncode == -signal.SIGKILL
    with pytest.raises(requests.exceptions.ConnectionError):
        pve.version.get()


def test_lab_process_passes_faults_through(tmp_path: Path) -> None:
    with LabProcess(tmp_path, not_json_paths=["/pools"], error_paths={"/nodes": 595}) as lab:
        pve = _pve(lab.url, lab.ca_path)
        assert set(pve.pools.get()) == {"errors"}
        r = requests.get(f"{lab.url}/api2/json/nodes", headers=AUTH, verify=str(lab.ca_path), timeout=5)
        assert (r.status_code, r.reason) == (595, "No route to host")


def test_startup_failure_is_reported(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(RuntimeError, match=r"exited with status 1(.|\n)*Address already in use"):
            LabProcess(tmp_path, port=busy.getsockname()[1]).start()


def test_lab_process_serves_pbs_big_world_and_latency(tmp_path: Path) -> None:
    with LabProcess(tmp_path, pbs=True, world="big", big_nodes=4, big_guests=40, latency_s=0.05,
                    now=1795680000, offline_nodes=["pve2"]) as lab:
        pve = _pve(lab.url, lab.ca_path)
        start = time.monotonic()
        assert len(pve.cluster.resources.get(type="vm")) == 40
        assert time.monotonic() - start >= 0.05
        assert [s["online"] for s in pve.cluster.status.get()[1:]] == [1, 0, 1, 1]
        pbs_token = next(t for t in demo_world().pbs.tokens if t.tokenid == "evidence")  # type: ignore[union-attr]
        pbs = ProxmoxAPI(lab.pbs_url.removeprefix("https://"), service="PBS", user=pbs_token.userid,
                         token_name=pbs_token.tokenid, token_value=pbs_token.secret, verify_ssl=str(lab.ca_path))
        assert [d["store"] for d in pbs.admin.datastore.get()] == ["store1", "store2"]
    with LabProcess(tmp_path) as plain, pytest.raises(RuntimeError):
        _ = plain.pbs_url


def test_many_concurrent_keep_alive_connections(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with LabServer(WORLD, tmp_path, latency_s=0.05) as lab:
        sessions = [requests.Session() for _ in range(32)]

        def call(i: int) -> int:
            return sessions[i % 32].get(f"{lab.url}/api2/json/version", headers=AUTH, verify=str(lab.ca_path),
                                        timeout=10).status_code

        start = time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            codes = list(pool.map(call, range(128)))
        assert codes == [200] * 128
        assert time.monotonic() - start < 128 * 0.05 / 4  # the waits overlap
        for s in sessions:
            s.close()


# --- the wire: keep-alive, no Nagle stall, replayed answers, throughput ---------------------------------


def _raw_connection(lab: LabServer | LabProcess) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(lab.ca_path))
    host, port = lab.url.removeprefix("https://").rsplit(":", 1)
    return context.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname=host)


def _read_answer(rfile: BinaryIO) -> tuple[str, dict[str, str], bytes]:
    status = rfile.readline().decode("latin-1").rstrip("\r\n")
    headers: dict[str, str] = {}
    while (line := rfile.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.lower()] = value.strip()
    return status, headers, rfile.read(int(headers.get("content-length", "0")))


def test_keep_alive_reuses_one_connection_per_client(tmp_path: Path) -> None:
    with LabServer(WORLD, tmp_path) as lab:
        with requests.Session() as s:
            for path in ("/version", "/cluster/status", "/nope", "/pools", "/version") * 4:
                s.get(f"{lab.url}/api2/json{path}", headers=AUTH, verify=str(lab.ca_path), timeout=5)
        assert (lab.requests_served, lab.connections_accepted) == (20, 1)
        with requests.Session() as a, requests.Session() as b:
            for s in (a, b, a, b):
                assert s.get(f"{lab.url}/api2/json/version", headers=AUTH, verify=str(lab.ca_path), timeout=5).ok
        assert lab.connections_accepted == 3


def test_no_delayed_ack_stall_between_sequential_requests(tmp_path: Path) -> None:
    """Head and body leave in one send on a TCP_NODELAY socket: a keep-alive request-answer round
    trip costs no 40 ms delayed-ACK wait (it did when the head and body were two writes)."""
    with LabServer(WORLD, tmp_path) as lab, requests.Session() as s:
        url = f"{lab.url}/api2/json/cluster/resources"
        s.get(url, headers=AUTH, verify=str(lab.ca_path), timeout=5)
        start = time.perf_counter()
        for _ in range(20):
            assert s.get(url, headers=AUTH, verify=str(lab.ca_path), timeout=5).ok
        assert (time.perf_counter() - start) / 20 < 0.02


def test_wire_format_of_an_answer(tmp_path: Path) -> None:
    with LabServer(WORLD, tmp_path) as lab, _raw_connection(lab) as conn, conn.makefile("rb") as rfile:
        auth = AUTH["Authorization"]
        for _ in range(2):  # computed, then replayed: the same bytes but the Date
            conn.sendall(f"GET /api2/json/version HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n".encode())
            status, headers, body = _read_answer(rfile)
            assert status == "HTTP/1.1 200 OK"
            assert headers["server"] == "pve-api-daemon/3.0" and headers["date"].endswith(" GMT")
            assert headers["content-type"] == "application/json;charset=UTF-8"
            assert (headers["cache-control"], headers["pragma"]) == ("max-age=0", "no-cache")
            assert "connection" not in headers and json.loads(body)["data"]["version"] == "9.1.2"
        # A request body is read and dropped, so the connection stays in step.
        conn.sendall(f"POST /api2/json/version HTTP/1.1\r\nAuthorization: {auth}\r\nContent-Length: 5\r\n\r\n"
                     f"hello".encode())
        assert _read_answer(rfile)[0] == "HTTP/1.1 501 Method 'POST /version' not implemented"
        conn.sendall(b"GET /api2/json/version HTTP/1.1\r\nConnection: close\r\n\r\n")
        status, headers, body = _read_answer(rfile)
        assert (status, headers["connection"], body) == ("HTTP/1.1 401 No ticket", "close", b"")
        assert rfile.read() == b""  # and the lab hung up
    assert lab.connections_accepted == 1


def test_http_1_0_and_malformed_requests(tmp_path: Path) -> None:
    with LabServer(WORLD, tmp_path) as lab:
        with _raw_connection(lab) as conn, conn.makefile("rb") as rfile:
            conn.sendall(b"GET /api2/json/version HTTP/1.0\r\n" + f"Authorization: {AUTH['Authorization']}\r\n\r\n"
                         .encode())
            status, headers, _ = _read_answer(rfile)
            assert status == "HTTP/1.1 200 OK" and headers["connection"] == "close" and rfile.read() == b""
        with _raw_connection(lab) as conn, conn.makefile("rb") as rfile:
            conn.sendall(b"GET /api2/json/version HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            assert _read_answer(rfile)[0] == "HTTP/1.1 401 No ticket"
            conn.sendall(b"nonsense\r\n\r\n")
            assert _read_answer(rfile)[0] == "HTTP/1.1 400 Bad request syntax" and rfile.read() == b""
        with _raw_connection(lab) as conn, conn.makefile("rb") as rfile:
            conn.sendall(b"GET /api2/json/version HTTP/1.1\r\nno colon here\r\n\r\n")
            assert _read_answer(rfile)[0] == "HTTP/1.1 400 Bad header line"
        with _raw_connection(lab) as conn, conn.makefile("rb") as rfile:
            conn.sendall(b"HEAD /api2/json/version HTTP/1.1\r\n\r\n")
            assert _read_answer(rfile)[0] == "HTTP/1.1 501 Unsupported method"
        assert lab.requests_served == 3  # unparseable requests are refused, not answered by the API


def test_replayed_answers_keep_their_side_effects_and_errors(tmp_path: Path) -> None:
    with LabServer(WORLD, tmp_path, slow_paths={"/version": 0.2}) as lab, requests.Session() as s:
        for _ in range(2):  # a slow path is slow every time, not only the first
            start = time.monotonic()
            assert s.get(f"{lab.url}/api2/json/version", headers=AUTH, verify=str(lab.ca_path), timeout=5).ok
            assert time.monotonic() - start >= 0.2
        bad = {"Authorization": AUTH["Authorization"][:-1] + "0"}
        for headers, status in ((AUTH, 200), (bad, 401), (AUTH, 200), (bad, 401), ({}, 401)):
            r = s.get(f"{lab.url}/api2/json/cluster/status", headers=headers, verify=str(lab.ca_path), timeout=5)
            assert r.status_code == status
        q = s.get(f"{lab.url}/api2/json/cluster/resources?type=node", headers=AUTH, verify=str(lab.ca_path),
                  timeout=5).json()["data"]
        assert {e["type"] for e in q} == {"node"}


def test_injected_latency_holds_only_its_own_connection(tmp_path: Path) -> None:
    """The injected round trip sleeps in the connection's own thread, so connections wait side by
    side, not one after another: 16 connections x 3 requests x 0.2 s take about 0.6 s, where
    serialised answers would take 9.6 s. (Throughput itself is measured by bench/lab_throughput.py.)"""
    request = f"GET /api2/json/version HTTP/1.1\r\nHost: lab\r\nAuthorization: {AUTH['Authorization']}\r\n\r\n"

    def client(lab: LabProcess, done: list[int]) -> None:
        with _raw_connection(lab) as conn:
            for _ in range(3):
                conn.sendall(request.encode())
                got = b""
                while b"\r\n\r\n" not in got or not got.endswith(b"}"):  # the small JSON answer, whole
                    chunk = conn.recv(65536)
                    assert chunk
                    got += chunk
                assert got.startswith(b"HTTP/1.1 200 OK")
                done.append(1)

    with LabProcess(tmp_path, latency_s=0.2) as lab:
        done: list[int] = []
        threads = [threading.Thread(target=client, args=(lab, done)) for _ in range(16)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    assert len(done) == 48
    assert elapsed < 4.0, elapsed  # far from 9.6 s: the sleeps overlapped
