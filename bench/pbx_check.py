"""Benchmark: `attest pbx-check` on generated 5,000-extension trees (50 tenants × 100).

    python bench/pbx_check.py [--tenants 50] [--per-tenant 100] [--runs 1]

Prints, for the FreePBX-style shared tree (every tenant in from-internal: the worst case for the
cross-tenant checks, which find a failure for each of the 2,450 tenant pairs) and for the
per-tenant-context tree (every check passes, so every pair is searched in full): the time to read
the tree, parse it and run the whole catalogue, and the peak resident memory of the process that
did it (each scenario runs in a fresh process, so the figures do not mix).
Target (issue 4): under 10 s on the reference machine (2 cores).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

from attest.lab.pbx_trees import write_freepbx_big_tree, write_isolated_big_tree
from attest.pbx.analysis import analyse
from attest.pbx.inventory import load_inventory
from collectors.pbx.local import read_local


def one(root: Path) -> tuple[float, float, float, int, str]:
    """Runs in a fresh process: (read s, analyse s, total s, peak RSS bytes, failed check ids)."""
    t0 = time.perf_counter()
    dump = read_local(root)
    t1 = time.perf_counter()
    analysis = analyse(dump, load_inventory(root / "inventory.yaml"))
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    failed = sorted(c.id for c in analysis.checks if c.status == "fail")
    return t1 - t0, t2 - t1, t2 - t0, peak, ", ".join(failed)


def baseline() -> int:
    """Peak RSS of a fresh process that only imported what `one` needs."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--per-tenant", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, writer in (("FreePBX-style, shared from-internal", write_freepbx_big_tree),
                              ("per-tenant contexts", write_isolated_big_tree)):
            root = writer(Path(tmp) / label.split(",")[0].replace(" ", "-"), tenant_count=args.tenants,
                          per_tenant=args.per_tenant)
            size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
            print(f"{label}: {args.tenants * args.per_tenant} extensions, {args.tenants} tenants, "
                  f"{size / 1e6:.1f} MB on disk")
            ctx = multiprocessing.get_context("spawn")
            for run in range(args.runs):
                with ctx.Pool(1) as pool:
                    base = pool.apply(baseline)
                with ctx.Pool(1) as pool:
                    read_s, analyse_s, total_s, peak, failed = pool.apply(one, (root,))
                print(f"  run {run + 1}: read {read_s:.2f} s + parse and check {analyse_s:.2f} s = {total_s:.2f} s; "
                      f"peak RSS {peak / 2**20:.0f} MiB (a fresh interpreter with the imports: {base / 2**20:.0f} MiB)")
            print(f"  failed checks: {failed or 'none'}")


if __name__ == "__main__":
    main()
