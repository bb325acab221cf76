"""`attest demo`: the whole pipeline against the simulated provider, ending with signed
documents for every lab tenant and a summary table."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from attest.config import load_config
from attest.workspace import CONFIG_NAME, init_workspace, point_at_lab


def run_demo(directory: Path, period: str | None, err: Console, out: Console) -> None:
    from attest.cli import VERDICT_STYLE, _collect, _period, _render  # the same steps as the commands
    from attest.lab.server import LabProcess
    from evidence.log import EvidenceLog

    started = time.perf_counter()
    directory = directory.resolve()
    if period is not None:
        from attest.period import parse_period

        parse_period(period, "Europe/Rome")  # refuse a malformed period before doing any work
    if not (directory / CONFIG_NAME).exists():
        init_workspace(directory)
        err.print(f"Created demo workspace {directory}")
    with LabProcess(directory / "lab") as lab:
        err.print(f"Simulated Proxmox VE cluster listening on {lab.url}")
        point_at_lab(directory, lab.url, Path(lab.ca_path))
        loaded = load_config(directory / CONFIG_NAME)
        _period(loaded, period)  # refuse a period that has not started before collecting anything
        log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
        try:
            _collect(loaded, log, None)
            docs = _render(loaded, log, None, period, None)
        finally:
            log.close()

    table = Table(title="Attest demo: one signed attestation per tenant")
    table.add_column("tenant", no_wrap=True)
    table.add_column("ISO-01", no_wrap=True)
    table.add_column("reason", ratio=1)
    table.add_column("document id", no_wrap=True)
    from attest.attestation import Attestation

    for d in docs:
        att = Attestation.from_json_bytes(d.json.read_bytes())
        for r in att.results:
            style = VERDICT_STYLE.get(r.verdict.value, "")
            table.add_row(d.tenant_id, f"[{style}]{r.verdict.value}[/{style}]", r.reason.get("en", ""),
                          d.document_id)
    out.print(table)
    out.print(f"Documents (PDF, HTML, JSON + .dsse.json) are in {loaded.output_dir}/<tenant>/<period>/; "
              "verify one with\n"
              f"  attest verify --config {directory / CONFIG_NAME} {docs[0].pdf}\n"
              f"Demo finished in {time.perf_counter() - started:.1f} s.")
