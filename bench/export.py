"""Benchmark: evidence packs (issue 7) — a 12-month audit pack for one tenant (goal: < 10 s) and
the provider-wide (fleet) attestation and pack over 1,000 lab tenants (goal: < 30 s).

Audit: builds the demo workspace (collection, documents and the current month's attestations;
not timed), issues acme's attestations for the 11 months before (not timed), then times
`attest export --kind audit` as the code runs it: the first build (which lays out and signs the
audit report and records it), a rebuild (which reuses the stored report), and a tender pack for
comparison. Documents are signed PAdES B-T against the demo's timestamp authority, as in the demo.

Fleet: see bench/fleet.py (the 1,000-tenant lab, collected once, not timed); this script runs it
and then times `attest export --fleet` on the same workspace.

    python bench/export.py [--skip-fleet] [--tenants 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

TENANT = "acme"
MONTHS = 12


def _months_before(label: str, count: int) -> list[str]:
    year, month = map(int, label.split("-"))
    out = []
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        out.append(f"{year:04d}-{month:02d}")
    return out


def bench_audit() -> None:
    from rich.console import Console

    from attest.config import load_config
    from attest.demo import run_demo
    from attest.engine import evaluate
    from attest.issue import issue
    from attest.lab.tsa import TimestampAuthority, TsaServer
    from attest.pack.build import build_pack
    from attest.period import current_period, parse_period
    from attest.signing import ProviderSigner, TimestampSettings
    from evidence.log import EvidenceLog

    with tempfile.TemporaryDirectory(prefix="attest-bench-export-") as tmp:
        ws = Path(tmp) / "ws"
        quiet = Console(file=open("/dev/null", "w"), stderr=False)  # noqa: SIM115 - lives as long as the process
        started = time.perf_counter()
        run_demo(ws, None, quiet, quiet)
        print(f"setup: demo workspace (collection, current month's documents) in {time.perf_counter() - started:.1f} s")
        config = load_config(ws / "attest.yaml")
        log = EvidenceLog.open(config.database_url, config.evidence_dir)
        password = config.signing_password()
        tsa = TsaServer(TimestampAuthority.from_pkcs12(ws / "keys" / "demo-tsa.p12", password)).__enter__()
        signer = ProviderSigner.load(config.resolve(config.model.provider.signing.pkcs12_file), password,
                                     timestamp=TimestampSettings(tsa.url))
        try:
            current = current_period(config.model.time_zone)
            t0 = time.perf_counter()
            for label in _months_before(current.label, MONTHS - 1):
                period = parse_period(label, config.model.time_zone)
                ev = evaluate(config, log, signer, period, tenant_ids=[TENANT])
                issue(config, log, signer, ev, jobs=1)
            print(f"setup: {TENANT}'s attestations for the {MONTHS - 1} months before {current.label} "
                  f"in {time.perf_counter() - t0:.1f} s")
            timings: dict[str, float] = {}
            for label, kind in (("audit pack, first (issues the report)", "audit"),
                                ("audit pack, rebuilt (report reused)", "audit"), ("tender pack", "tender")):
                t0 = time.perf_counter()
                pack = build_pack(config, log, signer, TENANT, current.label, kind)
                timings[label] = time.perf_counter() - t0
                print(f"{label:>38}: {timings[label]:.2f} s, {len(pack.data) / 1e6:.2f} MB, {pack.files} files, "
                      f"{pack.records} records")
            first = timings["audit pack, first (issues the report)"]
            print(f"12-month audit pack: {first:.2f} s (goal < 10 s: {'met' if first < 10 else 'NOT met'})")
        finally:
            log.close()
            tsa.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-fleet", action="store_true")
    parser.add_argument("--tenants", type=int, default=1000)
    args = parser.parse_args()
    print(f"bench/export.py at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    bench_audit()
    if not args.skip_fleet:
        bench_fleet(args.tenants)


def bench_fleet(tenants: int) -> None:
    """Run bench/fleet.py (its own figures: evaluate, aggregate, render + sign over *tenants*
    tenants), keeping its workspace, then time `attest export --fleet` on it."""
    import subprocess
    import sys

    from attest.cli import _signer
    from attest.config import load_config
    from attest.pack.fleet import build_fleet_pack
    from evidence.log import EvidenceLog

    with tempfile.TemporaryDirectory(prefix="attest-bench-fleet-") as tmp:
        ws = Path(tmp) / "ws"
        script = Path(__file__).resolve().parent / "fleet.py"
        subprocess.run([sys.executable, str(script), "--guests", str(2 * tenants), "--keep", str(ws)], check=True)
        config = load_config(ws / "attest.yaml")
        log = EvidenceLog.open(config.database_url, config.evidence_dir)
        try:
            signer = _signer(config)
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                pack = build_fleet_pack(config, log, signer, None)
                best = min(best, time.perf_counter() - t0)
            print(f"fleet pack over {tenants} tenants: {best:.2f} s (best of 3), {len(pack.data) / 1e6:.2f} MB, "
                  f"{pack.files} files, {pack.records} certificate record(s)")
        finally:
            log.close()


if __name__ == "__main__":
    main()
