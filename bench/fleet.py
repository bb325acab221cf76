"""Benchmark: the provider-wide (fleet) attestation over the lab's big world (1,000 tenants by
default: two guests per tenant) — `attest render --fleet` without the CLI around it.

Builds a workspace whose configuration names every big-world tenant, collects it once from the
big lab (its own process; printed, not part of the timing), then times evaluate (every control
for every tenant), aggregate (the fleet figures) and render + sign (HTML, PDF/A-3b, PAdES, DSSE),
and prints the split and the figures. Goal: under 30 s on a 2-core machine.

    python bench/fleet.py [--guests 2000] [--nodes 20] [--profile FILE] [--keep DIR]

No probe samples are written (a month of 60 s samples for 1,000 instances is ~90 M lines), so
SLA-01 is "insufficient evidence" for every tenant and the availability distribution reads "not
measured" throughout; the other controls run on the collected Proxmox evidence.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--guests", type=int, default=2000, help="big-world guests (two per tenant)")
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--profile", type=Path, help="write a cProfile of evaluate + aggregate + render here")
    p.add_argument("--keep", type=Path, help="keep the workspace in this (new) directory")
    p.add_argument("--repeat", type=int, default=1, help="time the fleet document this many times (best kept)")
    args = p.parse_args()

    from attest.config import load_config
    from attest.engine import evaluate
    from attest.fleet.issue import issue_fleet
    from attest.lab.big import big_world
    from attest.lab.server import LabProcess
    from attest.period import current_period
    from attest.signing import ProviderSigner
    from attest.workspace import config_document, init_workspace, write_config
    from evidence.log import EvidenceLog

    work = Path(tempfile.mkdtemp(prefix="attest-bench-fleet-"))
    ws = args.keep.resolve() if args.keep else work / "ws"
    now = int(time.time())
    world = big_world(args.nodes, args.guests, now=now)
    try:
        t0 = time.perf_counter()
        init_workspace(ws)
        with LabProcess(work / "lab", world="big", big_nodes=args.nodes, big_guests=args.guests, now=now,
                        startup_timeout=900) as lab:
            write_config(ws, config_document(world, lab.url, os.path.relpath(lab.ca_path, ws)))
            config = load_config(ws / "attest.yaml")
            from attest.collect import run_collection

            signer = ProviderSigner.load(config.resolve(config.model.provider.signing.pkcs12_file),
                                         config.signing_password())
            log = EvidenceLog.open(config.database_url, config.evidence_dir)
            summary = run_collection(config, log, signer, None)
        print(f"setup (workspace, big lab, collection of {len(world.tenants)} tenants / {len(world.guests)} guests, "
              f"status {summary.status}, {summary.checkpoint.tree_size} records): {time.perf_counter() - t0:.1f} s")

        period = current_period(config.model.time_zone)
        as_of = datetime.now(UTC).replace(microsecond=0)
        prof = cProfile.Profile() if args.profile else None
        best: tuple[float, float, float] | None = None
        for _ in range(max(1, args.repeat)):
            if prof:
                prof.enable()
            t1 = time.perf_counter()
            ev = evaluate(config, log, signer, period, as_of)
            t2 = time.perf_counter()
            issued = issue_fleet(config, log, signer, ev)
            t3 = time.perf_counter()
            if prof:
                prof.disable()
            times = (t2 - t1, issued.aggregate_s, t3 - t2 - issued.aggregate_s)
            if best is None or sum(times) < sum(best):
                best = times
        assert best is not None
        evaluate_s, aggregate_s, render_s = best
        total = evaluate_s + aggregate_s + render_s
        print(f"fleet attestation over {len(ev.results)} tenants: {total:.1f} s (goal < 30 s)"
              f"{' best of ' + str(args.repeat) if args.repeat > 1 else ''}")
        print(f"  evaluate  {evaluate_s:6.2f} s  ({evaluate_s / len(ev.results) * 1000:.1f} ms per tenant)")
        n = len(ev.results)
        print(f"  aggregate {aggregate_s:6.2f} s  ({aggregate_s / n * 1000:.1f} ms per tenant)")
        print(f"  render + sign + record {render_s:6.2f} s  ({render_s / n * 1000:.1f} ms per tenant)")
        fleet = issued.fleet
        print(f"document {fleet.document_id}: {fleet.tenant_count} tenants, {fleet.instance_count} instances")
        for fig in fleet.figures:
            print(f"  {fig.area:<22} tenants {fig.tenants.passed:>5}/{fig.tenants.denominator:<5} "
                  f"instances {fig.instances.passed:>5}/{fig.instances.denominator:<5} "
                  f"fail {fig.tenants.failed} insufficient {fig.tenants.insufficient_evidence} "
                  f"waived {fig.tenants.waived} n/a {fig.tenants.not_applicable}")
        dist = fleet.availability
        print(f"  availability: {dist.with_target} instances with a target, "
              + ", ".join(f"{b.key} {b.count}" for b in dist.buckets))
        print(f"  exceptions: {len(fleet.exceptions)}; files: {issued.pdf.parent}")
        if prof and args.profile:
            prof.dump_stats(args.profile)
            pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(25)
        log.close()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
