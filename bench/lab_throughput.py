"""Benchmark: how fast the lab itself serves the big world over HTTPS keep-alive.

    python bench/lab_throughput.py [--threads 32] [--latency-ms 20] [--requests 20000]
                                   [--nodes 50] [--guests 5000] [--json]

Starts `LabProcess(world="big")` (its own process), opens one keep-alive HTTPS connection per
client thread (http.client, an SSL context trusting only the lab CA) and sends a realistic mix of
per-guest GETs: guest config, firewall options / rules / refs / ipset / ipset/{name}. Prints
requests per second, the server's CPU seconds per 1,000 requests (from /proc/<pid>/stat of the lab
process) and the number of connections the lab accepted (one per thread when keep-alive works).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attest.lab.server import LabProcess
from attest.lab.world import LabWorld, big_world

_GUEST_PARTS = ("config", "firewall/options", "firewall/rules", "firewall/refs", "firewall/ipset",
                "firewall/ipset/whitelist", "firewall/ipset/blacklist")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, in clock ticks)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_paths(world: LabWorld) -> list[str]:
    return [f"/api2/json/nodes/{g.node}/{g.type}/{g.vmid}/{part}"
            for g in world.guests for part in _GUEST_PARTS]


def hammer(host: str, port: int, context: ssl.SSLContext, headers: dict[str, str], paths: list[str],
           threads: int) -> tuple[float, int, list[BaseException]]:
    """Send every path once, spread over `threads` keep-alive connections; (seconds, answers, errors)."""
    errors: list[BaseException] = []
    done = [0] * threads
    start_line = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=30)
        try:
            conn.connect()  # the handshake is not part of the measured time
            start_line.wait()
            for path in paths[i::threads]:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200 or not body.startswith(b'{"data":'):
                    raise RuntimeError(f"GET {path}: {resp.status} {resp.reason}")
                done[i] += 1
        except BaseException as exc:  # reported below
            errors.append(exc)
            start_line.abort()
        finally:
            conn.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    start_line.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    return time.perf_counter() - t0, sum(done), errors


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=32)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--requests", type=int, default=10000, help="GETs per pass (cycling over the mix)")
    p.add_argument("--nodes", type=int, default=50)
    p.add_argument("--guests", type=int, default=5000)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()

    now = int(time.time())
    world = big_world(args.nodes, args.guests, now=now, history_days=1)
    token = next(t for t in world.tokens if t.tokenid == "evidence")
    headers = {"Authorization": f"PVEAPIToken={token.full_id}={token.secret}", "Accept": "application/json"}
    mix = request_paths(world)
    paths = [mix[i % len(mix)] for i in range(args.requests)]  # whole guests: their 7 paths together
    work = Path(tempfile.mkdtemp(prefix="attest-lab-bench-"))
    with LabProcess(work, world="big", big_nodes=args.nodes, big_guests=args.guests, now=now,
                    latency_s=args.latency_ms / 1000, startup_timeout=900) as lab:
        context = ssl.create_default_context(cafile=str(lab.ca_path))
        host, port = lab.url.removeprefix("https://").rsplit(":", 1)
        figures: dict[str, object] = {"threads": args.threads, "latency_ms": args.latency_ms,
                                      "ceiling_requests_per_s": round(args.threads / (args.latency_ms / 1000), 1)
                                      if args.latency_ms else None}
        # Pass 1 asks each path for the first time on this lab (as a collection run does; the lab
        # precomputed the answers at start, but not their bytes on the wire); pass 2 repeats it.
        for name in ("cold", "warm"):
            cpu0 = cpu_seconds(lab.pid)
            seconds, answered, errors = hammer(host, int(port), context, headers, paths, args.threads)
            cpu = cpu_seconds(lab.pid) - cpu0
            if errors:
                raise errors[0]
            figures[name] = {"requests": answered, "seconds": round(seconds, 3),
                             "requests_per_s": round(answered / seconds, 1),
                             "server_cpu_s_per_1000": round(cpu / answered * 1000, 4)}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{args.threads} keep-alive connections, {args.latency_ms:g} ms latency "
              f"(latency-bound ceiling {figures['ceiling_requests_per_s']} req/s)")
        for name in ("cold", "warm"):
            f = figures[name]
            assert isinstance(f, dict)
            print(f"  {name}: {f['requests']} GETs in {f['seconds']:.2f} s = {f['requests_per_s']} req/s; "
                  f"lab CPU {f['server_cpu_s_per_1000']} s per 1,000 requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
