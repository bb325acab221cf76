"""Benchmark: the customer portal under load (issue 8) — the document list and a PDF download
with 1,000 tenants × 24 months of documents and 20 concurrent signed-in clients on loopback, and
the server's memory while it streams a 50 MB pack.

Seeding (not timed): `attest init`, one real `attest render` (tenant acme), a configuration with
1,000 more tenants (t0001…t1000), then one log run appending an `attest.document` record for
every (tenant, month) of 24 months, signed like any other run. Corners cut, on purpose:

* every seeded document's files are hard links to the one real document's files: the records'
  digests are that document's, so every download checks out, and the list page's verdict summary
  is read from a JSON that names acme (the page does not check the tenant inside it);
* the 50 MB pack is 50 MB of random bytes placed in the pack cache, with its digest beside it, for
  t0001's current document: it measures streaming from the cache, not building (a real pack is
  built and timed separately, for acme's real document).

The portal runs as `attest serve` in its own process (access log on, as in production); the load
comes from another process (asyncio + aiohttp, one keep-alive connection per client), each client
signed in as its own tenant user, alternating GET /documents and GET /documents/<id>/pdf.

    python bench/portal.py [--seconds 30] [--clients 20] [--tenants 1000] [--months 24] [--profile]

--profile runs the server under cProfile (same app, same settings) and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REAL_TENANT = "acme"
LAST_PERIOD = "2026-10"
AS_OF = "2026-10-20T12:00:00Z"
PASSWORD = "correct horse battery staple"
PACK_MB = 50
AUDIT_SEAL_S = 30.0  # portal.audit_seal_seconds, the default
ATTEST = [str(Path(sys.executable).with_name("attest"))]


def _periods(months: int) -> list[str]:
    year, month = map(int, LAST_PERIOD.split("-"))
    out = []
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return sorted(out)


def _run(*args: str | Path, cwd: Path) -> str:
    proc = subprocess.run([*ATTEST, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})
    if proc.returncode != 0:
        raise SystemExit(f"attest {args[0]} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def seed(root: Path, tenants: int, months: int, clients: int) -> dict[str, Any]:
    """The workspace, its 1 + tenants × months documents, the accounts; returns what the load needs."""
    import yaml
    from sqlalchemy.orm import Session

    from attest.attestation import new_document_id
    from attest.canonical import sha256_hex, utc_iso
    from attest.cli import _signer
    from attest.config import load_config
    from attest.portal.models import Account
    from attest.portal.passwords import hash_password
    from attest.signing import DSSE_SUFFIX
    from attest.workspace import CONFIG_NAME, init_workspace, write_config
    from evidence.log import DOCUMENT_KIND, EvidenceLog, NewRecord

    ws = init_workspace(root / "ws").parent  # it returns the configuration file
    t0 = time.perf_counter()
    out = _run("render", "--tenant", REAL_TENANT, "--period", LAST_PERIOD, "--as-of", AS_OF,
               "--config", ws / CONFIG_NAME, cwd=ws)
    (real_id,) = [w for w in out.split() if w.startswith("AT-")]
    print(f"seed: rendered {real_id} ({time.perf_counter() - t0:.1f} s)")

    doc = yaml.safe_load((ws / CONFIG_NAME).read_text(encoding="utf-8"))
    ids = [f"t{n:04d}" for n in range(1, tenants + 1)]
    doc["tenants"] += [{"id": t, "legal_name": f"Bench Tenant {t.upper()} Ltd", "language": "en",
                        "match": {"proxmox_tags": [f"bench-{t}"]}} for t in ids]
    doc.setdefault("portal", {})["client_logins_per_minute"] = 10_000  # every client signs in from 127.0.0.1
    doc["portal"]["audit_seal_seconds"] = AUDIT_SEAL_S
    write_config(ws, doc)
    loaded = load_config(ws / CONFIG_NAME)
    signer = _signer(loaded)

    real_dir = loaded.output_dir / REAL_TENANT / LAST_PERIOD
    suffixes = ("pdf", "html", "json", "html" + DSSE_SUFFIX, "json" + DSSE_SUFFIX)
    files = {ext: sha256_hex((real_dir / f"{real_id}.{ext}").read_bytes()) for ext in ("pdf", "html", "json")}
    t0 = time.perf_counter()
    log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
    real_payload = next(r.payload for r in log.records(kind=DOCUMENT_KIND, subject=f"document/{real_id}"))
    documents: dict[str, list[str]] = {}
    records: list[NewRecord] = []
    now = datetime.now(UTC)
    for tenant in ids:
        for period in _periods(months):
            doc_id = new_document_id()
            folder = loaded.output_dir / tenant / period
            folder.mkdir(parents=True, exist_ok=True)
            for suffix in suffixes:
                os.link(real_dir / f"{real_id}.{suffix}", folder / f"{doc_id}.{suffix}")
            documents.setdefault(tenant, []).append(doc_id)
            records.append(NewRecord(source="attest", kind=DOCUMENT_KIND, subject=f"document/{doc_id}", payload={
                **real_payload, "document_id": doc_id, "tenant": tenant, "period": period, "supersedes": None,
                "files": files}, collected_at=now))
    run_id = log.begin_run("render", signer)
    log.append(run_id, records)
    log.finish_run(run_id, "ok", signer, {"documents": len(records), "note": "bench/portal.py seed"})
    print(f"seed: {len(records)} documents of {tenants} tenants × {months} months appended and signed, "
          f"{len(records) * len(suffixes)} hard links ({time.perf_counter() - t0:.1f} s)")

    users = {f"bench-{t}": t for t in ids[:clients]}
    password_hash = hash_password(PASSWORD)  # through the portal's own hashing, as `attest users` sets it
    with Session(log.writer) as s, s.begin():
        s.add_all([Account(username=u, role="tenant", tenant_id=t, password_hash=password_hash, disabled=False,
                           failed_logins=0, created_at=utc_iso(now))
                   for u, t in [*users.items(), ("bench-acme", REAL_TENANT)]])

    # The 50 MB "pack": random bytes (incompressible, like the PDFs a real big pack holds) in the
    # pack cache of t0001's current document, its SHA-256 beside it as the portal writes it.
    big_tenant, big_id = ids[0], documents[ids[0]][-1]
    packs = loaded.output_dir / big_tenant / LAST_PERIOD / "packs"
    packs.mkdir(parents=True)
    data = os.urandom(PACK_MB * 2**20)
    (packs / f"{big_id}-tender.zip").write_bytes(data)
    (packs / f"{big_id}-tender.zip.sha256").write_text(sha256_hex(data) + "\n", encoding="ascii")
    del data
    log.close()
    return {"config": str(ws / CONFIG_NAME), "users": {u: documents[t] for u, t in users.items()},
            "big": ["bench-" + big_tenant, big_id], "real": real_id}


# --- the server ----------------------------------------------------------------------------------------


def serve_profiled(config: str, port: int, out: str) -> None:
    """`attest serve`, under cProfile until SIGTERM; the stats go to *out*."""
    import cProfile
    import signal

    import uvicorn

    from attest.cli import _signer
    from attest.config import load_config
    from attest.portal.app import create_app
    from attest.portal.context import Portal
    from evidence.log import EvidenceLog

    loaded = load_config(Path(config))
    log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
    server = uvicorn.Server(uvicorn.Config(create_app(Portal(loaded, log, _signer(loaded))), host="127.0.0.1",
                                           port=port, proxy_headers=False, log_level="info"))
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    profiler = cProfile.Profile()
    # Every thread: the request handlers run in the threadpool, not the event loop's thread.
    threading.setprofile(lambda *_: profiler.enable())
    profiler.enable()
    server.run()
    profiler.disable()
    profiler.dump_stats(out)


def start_server(config: str, port: int, profile: str | None) -> subprocess.Popen[bytes]:
    cmd = ([sys.executable, __file__, "--serve", config, str(port), profile] if profile
           else [*ATTEST, "serve", "--config", config, "--port", str(port)])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if proc.poll() is not None:
            raise SystemExit("the portal did not start")
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the portal did not start in 60 s")


# --- the load (its own process) ---------------------------------------------------------------------------


async def _login(session: Any, url: str, username: str) -> str:
    async with session.get(f"{url}/login") as r:
        text = await r.text()
        login_cookie = r.cookies["attest_login"].value
    token = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert token, text[:300]
    async with session.post(f"{url}/login", data={"username": username, "password": PASSWORD,
                                                  "csrf_token": token.group(1)},
                            headers={"Cookie": f"attest_login={login_cookie}"}, allow_redirects=False) as r:
        assert r.status == 303, (r.status, await r.text())
        return str(r.cookies["attest_session"].value)


async def _client(url: str, username: str, ids: list[str], until: float, samples: dict[str, list[float]],
                  errors: dict[str, int]) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=1)  # one keep-alive connection, like a browser tab
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
        cookie = {"Cookie": f"attest_session={await _login(session, url, username)}"}
        turn = 0
        while time.monotonic() < until:
            name, path = (("list", "/documents") if turn % 2 == 0 else ("pdf", f"/documents/{random.choice(ids)}/pdf"))
            turn += 1
            t0 = time.perf_counter()
            try:
                async with session.get(url + path, headers=cookie, allow_redirects=False) as r:
                    body = await r.read()
                    ok = r.status == 200 and (name != "pdf" or body.startswith(b"%PDF"))
            except aiohttp.ClientError:
                ok = False
            samples[name].append(time.perf_counter() - t0)
            if not ok:
                errors[name] = errors.get(name, 0) + 1


def load(url: str, spec_file: str, seconds: float, out: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    samples: dict[str, list[float]] = {"list": [], "pdf": []}
    errors: dict[str, int] = {}

    async def main() -> float:
        until = time.monotonic() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(url, u, ids, until, samples, errors) for u, ids in spec["users"].items()))
        return time.perf_counter() - t0

    wall = asyncio.run(main())
    Path(out).write_text(json.dumps({"samples": samples, "errors": errors, "wall": wall}))


# --- memory while streaming a pack ----------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    """CPU seconds of this process's finished children (the load generator's runs)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stream_pack(url: str, pid: int, username: str, doc_id: str) -> dict[str, float]:
    """Download a pack (reading and dropping chunks) while sampling the server's RSS every 50 ms."""
    import httpx

    with httpx.Client(base_url=url, timeout=120, follow_redirects=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
                        headers={"Cookie": f"attest_login={page.cookies['attest_login']}"})
        assert r.status_code == 303, r.text
        cookie = {"Cookie": f"attest_session={r.cookies['attest_session']}"}
        client.get("/documents", headers=cookie)  # the document view is loaded before the baseline
        before = _rss_kib(pid)
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak.append(_rss_kib(pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        t0 = time.perf_counter()
        size = 0
        with client.stream("GET", f"/documents/{doc_id}/pack/tender", headers=cookie) as response:
            assert response.status_code == 200, response.read()[:300]
            for chunk in response.iter_bytes():
                size += len(chunk)
        elapsed = time.perf_counter() - t0
        done.set()
        sampler.join()
        time.sleep(0.2)
        return {"bytes": size, "seconds": elapsed, "before_kib": before, "peak_kib": max(peak),
                "after_kib": _rss_kib(pid)}


def real_pack(url: str, username: str, doc_id: str) -> tuple[float, float, int]:
    """Seconds for acme's real tender pack: first download (built, then cached) and second (cached)."""
    import httpx

    with httpx.Client(base_url=url, timeout=300, follow_redirects=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
                        headers={"Cookie": f"attest_login={page.cookies['attest_login']}"})
        cookie = {"Cookie": f"attest_session={r.cookies['attest_session']}"}
        times = []
        bodies = []
        for _ in range(2):
            t0 = time.perf_counter()
            response = client.get(f"/documents/{doc_id}/pack/tender", headers=cookie)
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text[:300]
            bodies.append(response.content)
        assert bodies[0] == bodies[1]
        return times[0], times[1], len(bodies[0])


# --- report -------------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(result: dict[str, Any], clients: int) -> None:
    wall = result["wall"]
    total = sum(len(v) for v in result["samples"].values())
    print(f"\nload: {clients} clients, {wall:.1f} s, {total} requests, {total / wall:.0f} requests/s, "
          f"errors {result['errors'] or 0}")
    print(f"{'endpoint':<16}{'n':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'mean ms':>9}")
    for name, label in (("list", "GET /documents"), ("pdf", "GET …/pdf")):
        v = result["samples"][name]
        if not v:
            continue
        print(f"{label:<16}{len(v):>7}{len(v) / wall:>8.0f}{_pct(v, .5):>9.1f}{_pct(v, .95):>9.1f}"
              f"{_pct(v, .99):>9.1f}{max(v) * 1000:>9.1f}{statistics.mean(v) * 1000:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="run the server under cProfile and print its top")
    parser.add_argument("--keep", action="store_true", help="keep the workspace (its path is printed)")
    parser.add_argument("--serve", nargs=3, metavar=("CONFIG", "PORT", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=4, metavar=("URL", "SPEC", "SECONDS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve_profiled(args.serve[0], int(args.serve[1]), args.serve[2])
    if args.load:
        return load(args.load[0], args.load[1], float(args.load[2]), args.load[3])

    root = Path(tempfile.mkdtemp(prefix="attest-bench-portal-"))
    try:
        spec = seed(root, args.tenants, args.months, args.clients)
        spec_file = root / "spec.json"
        spec_file.write_text(json.dumps(spec))
        port = args.port
        if not port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
        url = f"http://127.0.0.1:{port}"
        profile = str(root / "server.prof") if args.profile else None
        server = start_server(spec["config"], port, profile)
        try:
            t0 = time.perf_counter()
            import httpx

            httpx.get(f"{url}/d/{spec['real']}.json", timeout=120)  # the first request reads the whole log
            print(f"server: pid {server.pid}, first document lookup {time.perf_counter() - t0:.2f} s "
                  f"(reads the signed log once)")
            # A short warm-up (summaries cached, connections open), then the measured run.
            for seconds, out in ((3.0, root / "warm.json"), (args.seconds, root / "load.json")):
                cpu_before, load_before = _cpu_s(server.pid), _children_cpu_s()
                subprocess.run([sys.executable, __file__, "--load", url, str(spec_file), str(seconds), str(out)],
                               check=True)
                cpu, load_cpu = _cpu_s(server.pid) - cpu_before, _children_cpu_s() - load_before
            result = json.loads((root / "load.json").read_text())
            report(result, args.clients)
            served = sum(len(v) for v in result["samples"].values())
            # CPU time, not wall time: the figure the machine's other load disturbs least.
            print(f"server CPU: {cpu:.1f} s for {served} requests, {cpu / served * 1000:.2f} ms a request "
                  f"(includes sealing the audit trail every {AUDIT_SEAL_S:g} s); load generator CPU "
                  f"{load_cpu:.1f} s ({load_cpu / result['wall'] * 100:.0f}% of a core)")
            first, second, size = real_pack(url, "bench-acme", spec["real"])
            print(f"\nreal tender pack of {spec['real']} ({size / 1024:.0f} KiB): first download (built) "
                  f"{first * 1000:.0f} ms, second (from the cache) {second * 1000:.0f} ms")
            m = stream_pack(url, server.pid, *spec["big"])
            print(f"{m['bytes'] / 2**20:.0f} MiB pack streamed in {m['seconds']:.2f} s "
                  f"({m['bytes'] / 2**20 / m['seconds']:.0f} MiB/s); server RSS before {m['before_kib'] / 1024:.1f} "
                  f"MiB, peak {m['peak_kib'] / 1024:.1f} MiB, after {m['after_kib'] / 1024:.1f} MiB")
        finally:
            server.terminate()
            server.wait(timeout=60)
        if profile:
            import pstats

            print("\nserver profile (cumulative, top 35):")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
            print("\nserver profile (own time, top 30):")
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
            if os.environ.get("ATTEST_BENCH_CALLERS"):
                pstats.Stats(profile).sort_stats("tottime").print_callers(os.environ["ATTEST_BENCH_CALLERS"])
    finally:
        if args.keep:
            print(f"workspace kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
