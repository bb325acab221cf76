"""Benchmark: a full Proxmox VE collection of the lab's big world (50 nodes, 5,000 guests by
default) over HTTPS with an injected round trip, into a fresh SQLite evidence log.

    python bench/collect_proxmox.py [--concurrency 16] [--latency-ms 20] [--nodes 50] [--guests 5000]
                                    [--profile FILE]

The lab runs in its own process (the other core). Prints the wall time (goal: < 60 s on a
2-core machine), the split between fetching and storing, the records, the API calls per
endpoint template and the calls per guest beyond those that grow with nodes and storages
(goal: <= 6 on average), the CPU of both processes and the time spent storing artifacts.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attest.lab.server import LabProcess
from attest.lab.world import big_world
from collectors.base import Emitter
from collectors.proxmox.client import Answer, Call
from collectors.proxmox.collector import ProxmoxCollector
from evidence.log import EvidenceLog


@contextmanager
def profiled_workers(enabled: bool) -> Iterator[list[cProfile.Profile]]:
    """cProfile sees one thread: give each API worker thread its own profiler around its GETs
    (merged with the main thread's into one file). Timer: each thread's own CPU time, so waiting
    for the network or the GIL does not count."""
    if not enabled:
        yield []
        return
    from collectors.proxmox.client import ApiClient

    local = threading.local()
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    original = ApiClient.get

    def get(self: ApiClient, call: Call) -> Answer:
        if threading.current_thread() is threading.main_thread():  # already under the main profiler
            return original(self, call)
        prof = getattr(local, "prof", None)
        if prof is None:
            prof = local.prof = cProfile.Profile(time.thread_time)
            with lock:
                profiles.append(prof)
        prof.enable()
        try:
            return original(self, call)
        finally:
            prof.disable()

    ApiClient.get = get  # type: ignore[method-assign]
    try:
        yield profiles
    finally:
        ApiClient.get = original  # type: ignore[method-assign]


def tree_cpu_s(pid: int) -> float:
    """User+system CPU seconds of *pid* and its live descendants (the lab may run workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0.0))[1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return total


@contextmanager
def big_lab(state_dir: Path, nodes: int, guests: int, latency_s: float, now: int) -> Iterator[tuple[str, str, int]]:
    """The lab's big world in its own process (the other core)."""
    with LabProcess(state_dir, world="big", big_nodes=nodes, big_guests=guests, latency_s=latency_s, now=now,
                    startup_timeout=900) as lab:
        yield lab.url, str(lab.ca_path), lab.pid


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--nodes", type=int, default=50)
    p.add_argument("--guests", type=int, default=5000)
    p.add_argument("--profile", type=Path, help="write a cProfile of the collecting process here")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--no-store", action="store_true",
                   help="hash artifacts and drop records instead of storing them: the collector alone")
    args = p.parse_args()

    now = int(time.time())
    world = big_world(args.nodes, args.guests, now=now)
    token = next(t for t in world.tokens if t.tokenid == "evidence")
    work = Path(tempfile.mkdtemp(prefix="attest-bench-"))
    t0 = time.perf_counter()
    with big_lab(work / "lab", args.nodes, args.guests, args.latency_ms / 1000, now) as (url, ca, lab_pid):
        started = time.perf_counter() - t0
        from attest.pki import create_demo_pki
        from attest.signing import ProviderSigner

        pki = create_demo_pki(work / "pki", "Bench", b"bench")
        signer = ProviderSigner.load(pki.signer_p12, b"bench")
        log = EvidenceLog.open(f"sqlite:///{work / 'attest.db'}", work / "evidence")
        collector = ProxmoxCollector("pve-big", url.removeprefix("https://"), token.userid, token.tokenid, token.secret,
                                     ca, timeout_s=30, concurrency=args.concurrency, node_sites={
                                         n.name: n.site for n in world.nodes})
        put = (lambda data, media: hashlib.sha256(data).hexdigest()) if args.no_store else log.put_artifact
        store_s = [0.0, 0.0]  # seconds in put_artifact, calls

        def timed_put(data: bytes, media: str) -> str:
            started = time.perf_counter()
            try:
                return put(data, media)
            finally:
                store_s[0] += time.perf_counter() - started
                store_s[1] += 1

        run_id = log.begin_run("collect", signer)
        # As attest.collect.run_collection: records go to the log in batches while collecting.
        out = Emitter("pve-big", timed_put, sink=None if args.no_store else lambda b: len(log.append(run_id, b)))
        profiler = cProfile.Profile(time.thread_time) if args.profile else None
        t1 = time.perf_counter()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        lab_cpu1 = tree_cpu_s(lab_pid)
        if profiler:
            profiler.enable()
        with profiled_workers(profiler is not None) as worker_profiles:
            collector.collect(out)
        t2 = time.perf_counter()
        cpu2 = resource.getrusage(resource.RUSAGE_SELF)
        lab_cpu2 = tree_cpu_s(lab_pid)
        out.flush()
        stored_count = len(out.records) if args.no_store else out.stored
        t3 = time.perf_counter()
        if profiler:
            profiler.disable()
            stats = pstats.Stats(profiler)
            for prof in worker_profiles:
                stats.add(prof)
            stats.dump_stats(args.profile)
        log.finish_run(run_id, "partial" if out.failures else "ok", signer, {"sources": [
            {"source": "pve-big", "status": "partial" if out.failures else "ok", "records": stored_count,
             "sections": out.sections, "failures": [f.as_dict() for f in out.failures[:100]]}]})
        t4 = time.perf_counter()
        log.close()

    calls: Counter[str] = collector.calls
    per_guest = {t: n for t, n in calls.items() if "{vmid}" in t}
    pools = calls.get("/pools", 0) - 1
    figures = {
        "nodes": args.nodes, "guests": collector.guests, "concurrency": args.concurrency,
        "latency_ms": args.latency_ms, "lab_start_s": round(started, 1),
        "collect_s": round(t2 - t1, 1), "final_append_s": round(t3 - t2, 1), "checkpoint_s": round(t4 - t3, 1),
        "wall_s": round(t4 - t1, 1),
        # CPU of this process (the lab is another one) while collecting: client HTTP/TLS + artifacts.
        "collect_cpu_s": round(cpu2.ru_utime + cpu2.ru_stime - cpu1.ru_utime - cpu1.ru_stime, 1),
        "lab_cpu_s": round(lab_cpu2 - lab_cpu1, 1),
        "put_artifact_s": round(store_s[0], 1), "artifacts_put": int(store_s[1]),
        "records": stored_count, "failures": len(out.failures),
        "sections": out.sections, "api_calls": sum(calls.values()),
        "calls_per_template": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
        "guest_calls_per_guest": round(sum(per_guest.values()) / max(1, collector.guests), 2),
        "pool_detail_calls_per_guest": round(pools / max(1, collector.guests), 2),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"world: {args.nodes} nodes, {collector.guests} guests; concurrency {args.concurrency}, "
          f"round trip {args.latency_ms:g} ms (lab started in {started:.1f} s)")
    print(f"wall time {figures['wall_s']} s  (fetch, artifacts and batched appends {figures['collect_s']} s; "
          f"last append {figures['final_append_s']} s, checkpoint {figures['checkpoint_s']} s)"
          "  goal < 60 s")
    print(f"CPU while fetching: collecting process {figures['collect_cpu_s']} s, lab {figures['lab_cpu_s']} s; "
          f"put_artifact {figures['put_artifact_s']} s (in the collecting thread)")
    print(f"records {stored_count}, failures {len(out.failures)}, sections {', '.join(out.sections)}")
    print(f"API calls {figures['api_calls']}:")
    for template, n in figures["calls_per_template"].items():
        print(f"  {n:7d}  {template}")
    print(f"calls per guest (templates with {{vmid}}): {figures['guest_calls_per_guest']}  goal <= 6"
          f"  (+ {figures['pool_detail_calls_per_guest']} pool reads per guest: one per pool)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
