"""`attest demo`: the whole pipeline against the simulated provider, ending with signed
documents for every lab tenant and a summary table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from attest.config import load_config
from attest.demo_documents import add_demo_documents
from attest.lab.world import LabWorld, demo_world
from attest.workspace import CONFIG_NAME, init_workspace, point_at_lab

if TYPE_CHECKING:
    from attest.config import LoadedConfig
    from attest.issue import IssuedDocument
    from attest.signing import ProviderSigner
    from evidence.log import EvidenceLog

SYMBOL = {"pass": "✓", "fail": "✗", "insufficient_evidence": "?", "not_applicable": "–", "waived": "○"}


def _lab_instances(world: LabWorld) -> dict[str, list[str]]:
    """tenant id -> the guest subjects the lab assigns to it (by tag or pool)."""
    return {t.id: [f"pve-main/{g.type}/{g.vmid}" for g in world.guests
                   if (t.tag and t.tag in g.tags) or (t.pool and g.pool == t.pool)]
            for t in world.tenants}


def _summary(docs: list[IssuedDocument], styles: dict[str, str]) -> Table:
    """One row per tenant, one column per control: the verdicts at a glance."""
    from attest.attestation import Attestation

    atts = [(d, Attestation.from_json_bytes(d.json.read_bytes())) for d in docs]
    controls = sorted({r.control_id for _, a in atts for r in a.results})
    table = Table(title="Attest demo: one signed attestation per tenant", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True,
                  caption="✓ pass  ✗ fail  ? insufficient evidence  ○ waived  (column BK over 2 = control BK-02, …)")
    table.add_column("tenant", no_wrap=True)
    for c in controls:  # two-line headers (family over number) keep the table within 80 columns
        table.add_column(_short(c), no_wrap=True, justify="center")
    for d, att in atts:
        by_id = {r.control_id: r.verdict.value for r in att.results}
        cells = [f"[{styles.get(v, '')}]{SYMBOL.get(v, v)}[/{styles.get(v, '')}]" if (v := by_id.get(c)) else ""
                 for c in controls]
        table.add_row(d.tenant_id, *cells)
    return table


def _short(control_id: str) -> str:
    """`BK-02` -> "BK" over "2": a column header a terminal can fit fifteen of."""
    prefix, _, number = control_id.partition("-")
    return f"{prefix}\n{int(number)}" if number.isdigit() else control_id


# The tenant whose tender and audit packs the demo writes (its documents pass every control).
DEMO_PACK_TENANT = "acme"


def _write_packs(loaded: LoadedConfig, log: EvidenceLog, signer: ProviderSigner, tenant: str,
                 period: str) -> list[Path]:
    """A tender and an audit pack of *tenant*, and the provider-wide pack, in <workspace>/packs/
    (written while the demo's timestamp authority runs: the audit report is signed B-T)."""
    from attest.pack.build import build_pack, write_pack
    from attest.pack.fleet import build_fleet_pack

    folder = loaded.base / "packs"
    folder.mkdir(exist_ok=True)
    written = []
    for name, build in ((f"{tenant}-{period}-tender.zip", lambda: build_pack(loaded, log, signer, tenant, period)),
                        (f"{tenant}-{period}-audit.zip",
                         lambda: build_pack(loaded, log, signer, tenant, period, "audit")),
                        (f"fleet-{period}.zip", lambda: build_fleet_pack(loaded, log, signer, period))):
        path = folder / name
        path.unlink(missing_ok=True)  # the demo's own output from an earlier run
        write_pack(path, build().data)
        written.append(path)
    return written


def run_demo(directory: Path, period: str | None, err: Console, out: Console) -> None:
    from attest.cli import VERDICT_STYLE, _collect, _period, _render, _render_fleet, _signer  # the commands' steps
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
    now = int(time.time())  # one instant for the lab's history and the probes: their events line up
    # The demo timestamp authority (workspaces made before it existed sign PAdES B-B).
    tsa_p12 = directory / "keys" / "demo-tsa.p12"
    tsa = tsa_p12.exists()
    with LabProcess(directory / "lab", pbs=True, now=now, tsa_p12=tsa_p12 if tsa else None,
                    tsa_password_file=directory / "secrets" / "signing-password" if tsa else None) as lab:
        err.print(f"Simulated Proxmox VE cluster listening on {lab.url}, Proxmox Backup Server on {lab.pbs_url}"
                  + (f", RFC 3161 timestamp authority on {lab.tsa_url}" if tsa else ""))
        point_at_lab(directory, lab.url, Path(lab.ca_path), lab.pbs_url, now=now,
                     tsa_url=lab.tsa_url if tsa else None)
        loaded = load_config(directory / CONFIG_NAME)
        _period(loaded, period)  # refuse a period that has not started before collecting anything
        log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
        try:
            _collect(loaded, log, None)
            added = add_demo_documents(loaded, log, _signer(loaded), _lab_instances(demo_world()))
            if added:
                err.print(f"Added {added} made-up documents (site certificates, restore tests) with "
                          "`attest evidence add`'s code")
            docs = _render(loaded, log, None, period, None)
            fleet = _render_fleet(loaded, log, period, None, "en")
            packs = _write_packs(loaded, log, _signer(loaded), DEMO_PACK_TENANT, docs[0].pdf.parent.name)
        finally:
            log.close()
    out.print(_summary(docs, VERDICT_STYLE))
    out.print(f"Provider-wide attestation (for tenders, names no tenant): {fleet.pdf}", soft_wrap=True)
    out.print("Evidence packs: " + ", ".join(str(p) for p in packs) + f"; verify one offline with\n"
              f"  attest verify {packs[0]} --trust {directory / 'keys' / 'demo-ca.pem'}", soft_wrap=True)
    out.print(f"Documents (PDF, HTML, JSON + .dsse.json) are in {loaded.output_dir}/<tenant>/<period>/; "
              "verify one with\n"
              f"  attest verify --config {directory / CONFIG_NAME} {docs[0].pdf}\n"
              f"Demo finished in {time.perf_counter() - started:.1f} s.")
