"""Benchmark: bulk issuing (issue 6 item 7) — documents per second with 1 and N render workers,
and the cost of an incremental pass in which nothing changed.

Builds the demo workspace once (collection included, not timed), evaluates it as of a fixed
instant (so a second evaluation shows the same content), then issues every tenant's document:
forced with one worker, forced with --jobs workers, and once more without forcing, when every
document is unchanged and nothing is rendered. Prints wall times, documents/s and the ratios.

    python bench/render.py [--jobs 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="forced issuing rounds per worker count")
    args = parser.parse_args()

    from rich.console import Console

    from attest.config import load_config
    from attest.demo import run_demo
    from attest.engine import evaluate
    from attest.issue import issue
    from attest.lab.tsa import TimestampAuthority, TsaServer
    from attest.period import current_period
    from attest.signing import ProviderSigner, TimestampSettings
    from evidence.log import EvidenceLog

    with tempfile.TemporaryDirectory(prefix="attest-bench-render-") as tmp:
        ws = Path(tmp) / "ws"
        quiet = Console(file=open("/dev/null", "w"), stderr=False)  # noqa: SIM115 - lives as long as the process
        started = time.perf_counter()
        run_demo(ws, None, quiet, quiet)
        print(f"setup (demo workspace, collection and first issue): {time.perf_counter() - started:.1f} s")
        config = load_config(ws / "attest.yaml")
        log = EvidenceLog.open(config.database_url, config.evidence_dir)
        # The demo's lab (and its timestamp authority) stopped with the demo: serve the TSA again
        # here, so documents are signed PAdES B-T as in the demo (one TSA round trip each).
        password = config.signing_password()
        tsa = TsaServer(TimestampAuthority.from_pkcs12(ws / "keys" / "demo-tsa.p12", password)).__enter__()
        signer = ProviderSigner.load(config.resolve(config.model.provider.signing.pkcs12_file), password,
                                     timestamp=TimestampSettings(tsa.url))
        period = current_period(config.model.time_zone)
        as_of = datetime.now(UTC).replace(microsecond=0)
        try:
            ev = evaluate(config, log, signer, period, as_of)
            tenants = len(ev.results)
            figures: dict[str, float] = {}
            for label, jobs, force in (("1 worker, forced", 1, True), (f"{args.jobs} workers, forced", args.jobs,
                                                                        True)):
                best = float("inf")
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    docs = issue(config, log, signer, ev, jobs=jobs, force=force)
                    best = min(best, time.perf_counter() - t0)
                    assert not any(d.unchanged for d in docs)
                figures[label] = best
                print(f"{label:>22}: {tenants} documents in {best:.2f} s = {tenants / best:.2f} documents/s "
                      f"(best of {args.rounds})")
            t0 = time.perf_counter()
            docs = issue(config, log, signer, ev, jobs=args.jobs)
            skip = time.perf_counter() - t0
            assert all(d.unchanged for d in docs), "nothing changed, yet a document was issued again"
            print(f"{'incremental, unchanged':>22}: {tenants} documents kept in {skip:.2f} s")
            one, many = figures["1 worker, forced"], figures[f"{args.jobs} workers, forced"]
            print(f"speed-up with {args.jobs} workers: {one / many:.2f}x; an unchanged pass costs "
                  f"{skip / many * 100:.0f} % of a forced one")
        finally:
            log.close()
            tsa.__exit__(None, None, None)


if __name__ == "__main__":
    main()
