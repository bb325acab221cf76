"""Benchmark: wall time of `attest demo` (install excluded) and the share spent in WeasyPrint layout.

Runs the demo in a child process on a fresh workspace, timing it from the parent (so Python
start-up and imports count, as they do for a user), while the child reports how long WeasyPrint
spent laying out (`HTML.render()`) and writing PDFs, summed over its render worker
processes. Goal (issue 2): under 60 s on 2 cores.

    python bench/demo.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(workdir: Path, stats_file: Path) -> None:
    from rich.console import Console

    from attest.demo import run_demo
    from attest.render.pdf import stats

    quiet = Console(file=open("/dev/null", "w"), stderr=False)  # noqa: SIM115 - lives as long as the process
    run_demo(workdir / "ws", None, quiet, quiet)
    stats_file.write_text(json.dumps({"layout_s": stats.layout_s, "write_s": stats.write_s,
                                      "documents": stats.documents}))


def one_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="attest-bench-") as tmp:
        work = Path(tmp)
        stats_file = work / "stats.json"
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", str(work), str(stats_file)], check=True, cwd=work,
                       stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        stats = json.loads(stats_file.read_text())
    return {"wall_s": wall, **stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("WORKDIR", "STATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return
    runs = [one_run() for _ in range(args.runs)]
    for i, r in enumerate(runs, 1):
        print(f"run {i}: demo wall {r['wall_s']:.2f} s; {int(r['documents'])} PDFs; WeasyPrint layout "
              f"{r['layout_s']:.2f} s, write_pdf {r['write_s']:.2f} s (summed over the render worker processes, one "
              "per core: the sum can exceed the wall time)")
    wall = statistics.median(r["wall_s"] for r in runs)
    layout = statistics.median(r["layout_s"] / r["wall_s"] for r in runs)
    per_doc = statistics.median(r["wall_s"] / max(r["documents"], 1) for r in runs)
    print(f"median demo wall time: {wall:.2f} s (goal < 60 s); WeasyPrint layout time / wall time: {layout:.0%}; "
          f"wall per tenant document: {per_doc:.2f} s")


if __name__ == "__main__":
    main()
