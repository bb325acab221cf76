"""The provider-wide (fleet) attestation over the demo workspace, through the installed `attest`
command where a user would use it: figures equal to the per-tenant evaluation, no customer named in
the JSON, HTML or PDF, signatures that `attest verify` and poppler's pdfsig accept, supersession,
and the refusals."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from attest.attestation import Verdict
from attest.config import load_config
from attest.demo import _lab_instances
from attest.engine import evaluate
from attest.fleet.aggregate import aggregate, combined
from attest.fleet.model import FLEET_SCHEMA, FLEET_SCOPE, FleetAttestation
from attest.lab.sla_data import instance_of
from attest.lab.world import demo_world
from attest.period import current_period
from attest.signing import ProviderSigner
from attest.status import DocumentIndex
from evidence.log import EvidenceLog
from tests.cli.test_demo_end_to_end import attest


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`attest demo`'s workspace (collected, one document per tenant), its timestamp authority
    dropped (the demo's lab, which served it, has stopped)."""
    root = tmp_path_factory.mktemp("fleet")
    proc = attest("demo", "--dir", root / "ws", cwd=root)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    cfg = root / "ws" / "attest.yaml"
    cfg.write_text("".join(line for line in cfg.read_text().splitlines(keepends=True)
                           if "tsa_url:" not in line and "tsa_ca_file:" not in line))
    return root / "ws"


def _render_fleet(ws: Path, *args: str) -> tuple[str, Path]:
    proc = attest("render", "--fleet", *args, "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (doc_id,) = set(re.findall(r"AT-[0-9A-Z]{20}", proc.stdout.split("supersedes")[0]))
    (json_path,) = (ws / "documents" / FLEET_SCOPE).glob(f"*/{doc_id}.json")
    return doc_id, json_path


@pytest.fixture(scope="module")
def issued(ws: Path) -> tuple[str, Path]:
    return _render_fleet(ws)


def test_the_document_is_stored_apart_and_names_its_schema(issued: tuple[str, Path]) -> None:
    doc_id, path = issued
    data = json.loads(path.read_bytes())
    assert data["schema"] == FLEET_SCHEMA and data["document_id"] == doc_id
    assert path.parent.parent.name == FLEET_SCOPE
    for suffix in (".pdf", ".html", ".html.dsse.json", ".json.dsse.json"):
        assert path.with_name(doc_id + suffix).exists()
    envelope = json.loads(path.with_name(path.name + ".dsse.json").read_bytes())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"


def test_figures_equal_the_per_tenant_evaluation(ws: Path) -> None:
    config = load_config(ws / "attest.yaml")
    log = EvidenceLog.open(config.database_url, config.evidence_dir)
    try:
        signer = ProviderSigner.from_config(config)
        ev = evaluate(config, log, signer, current_period(config.model.time_zone),
                      datetime.now(UTC).replace(microsecond=0))
        fleet = aggregate(config, log, ev, key=b"0" * 32)
    finally:
        log.close()
    world = demo_world()
    lab = _lab_instances(world)
    assert fleet.tenant_count == len(world.tenants) == len(ev.results)
    # Every guest the lab gives a tenant, counted once per tenant (a shared guest counts for each).
    assert fleet.instance_count == sum(len(v) for v in lab.values())
    verdicts: set[Verdict] = set()
    for fig in fleet.figures:
        assert fig.tenants.denominator == fleet.tenant_count and fig.instances.denominator == fleet.instance_count
        expected = {v: 0 for v in Verdict}
        expected_instances = {v: 0 for v in Verdict}
        for tid, results in ev.results.items():
            mine = [r.verdict for r in results if r.control_id in fig.controls]
            assert len(mine) == len(fig.controls)
            verdict = combined(mine)
            if verdict == Verdict.PASS:
                assert all(v in (Verdict.PASS, Verdict.NOT_APPLICABLE) for v in mine)
            expected[verdict] += 1
            expected_instances[verdict] += len(lab[tid])
        verdicts |= {v for v, n in expected.items() if n}
        got = fig.tenants
        assert (got.passed, got.failed, got.insufficient_evidence, got.waived, got.not_applicable) == (
            expected[Verdict.PASS], expected[Verdict.FAIL], expected[Verdict.INSUFFICIENT_EVIDENCE],
            expected[Verdict.WAIVED], expected[Verdict.NOT_APPLICABLE]), fig.area
        assert fig.instances.passed == expected_instances[Verdict.PASS], fig.area
    # The demo has failures, a waiver and a month not measured enough: the test sees each kind.
    assert {Verdict.PASS, Verdict.FAIL, Verdict.WAIVED, Verdict.INSUFFICIENT_EVIDENCE} <= verdicts
    assert {f.area for f in fleet.figures} >= {"dedicated", "datacenter", "cluster_ha", "backup_rpo", "backup_kept",
                                                "backup_offsite", "firewall", "lists", "isolation", "sla", "all"}
    flagged = [(tid, r.control_id) for tid, rs in ev.results.items() for r in rs
               if r.verdict in (Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE, Verdict.WAIVED)]
    assert len(fleet.exceptions) == len(flagged)
    dist = fleet.availability
    sla = {tid: next(r for r in rs if r.control_id == "SLA-01") for tid, rs in ev.results.items()}
    assert dist.with_target == sum(len(config.tenant(t).sla_instances) for t in ev.results)
    met = sum(1 for r in sla.values() for m in r.measures if m.name == "availability" and m.met)
    assert {b.key: b.count for b in dist.buckets}["met"] == met
    assert dist.measured < dist.with_target  # lombardi's month has a gap: not measured, not met


def _forbidden(ws: Path) -> list[str]:
    """Everything that would name a customer: tenant ids and legal names, guest names and vmids,
    SLA instance and PBX source names, nodes and their addresses."""
    world = demo_world()
    words = [t.id for t in world.tenants] + [t.legal_name for t in world.tenants]
    words += [g.name for g in world.guests] + [instance_of(t.id) for t in world.tenants]
    words += [n.name for n in world.nodes] + [f"pve-main/{g.type}/{g.vmid}" for g in world.guests]
    words += [re.escape(line.split(":", 1)[1].strip()) for line in (ws / "attest.yaml").read_text().splitlines()
              if line.strip().startswith("- 10.") or "address: 10." in line]
    return words


def _assert_names_nobody(text: str, ws: Path, what: str) -> None:
    world = demo_world()
    for word in _forbidden(ws):
        assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.IGNORECASE), (what, word)
    for vmid in {g.vmid for g in world.guests}:
        assert not re.search(rf"(?:VM|CT|qemu|lxc|vmid)\W{{0,2}}{vmid}\b", text, re.IGNORECASE), (what, vmid)
    assert not re.search(r"\b10\.20\.\d+\.\d+\b", text), what


def test_no_customer_is_named_in_json_html_or_pdf(ws: Path, issued: tuple[str, Path]) -> None:
    _, path = issued
    data: dict[str, Any] = json.loads(path.read_bytes())
    # No inclusion proof, no cited record: the only digests are the checkpoint's and the config's.
    assert "proofs" not in data and "results" not in data
    hexes = set(re.findall(r"\b[0-9a-f]{64}\b", path.read_text()))
    assert hexes <= {data["checkpoint"]["root_hash"], data["checkpoint"]["signer_fingerprint"],
                     data["config_digest"]}
    body = dict(data)
    body.pop("checkpoint")  # certificates and signature in base64: provider data, and noise to a regex
    _assert_names_nobody(json.dumps(body, ensure_ascii=False), ws, "json")
    _assert_names_nobody(path.with_suffix(".html").read_text(), ws, "html")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(path.with_suffix(".pdf")), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "Provider-wide attestation" in text
        _assert_names_nobody(text, ws, "pdf")
    for exception in data["exceptions"]:
        assert re.fullmatch(r"tenant \d+", exception["tenant"])


def test_attest_verify_accepts_the_pdf_html_and_json(ws: Path, issued: tuple[str, Path]) -> None:
    _, path = issued
    files = [path.with_suffix(".pdf"), path.with_suffix(".html"), path]
    proc = attest("verify", "--config", ws / "attest.yaml", *files, cwd=ws)
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.count("VALID") == 3 and "checkpoint signature checks out" in out


def test_a_changed_fleet_json_does_not_verify(ws: Path, issued: tuple[str, Path], tmp_path: Path) -> None:
    _, path = issued
    for name in (path.name, path.name + ".dsse.json"):
        shutil.copy(path.with_name(name), tmp_path / name)
    copy = tmp_path / path.name
    copy.write_bytes(copy.read_bytes().replace(b'"tenant_count":12', b'"tenant_count":13'))
    proc = attest("verify", "--trust", ws / "keys" / "demo-ca.pem", copy, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "changed after signing" in " ".join(proc.stdout.split())


@pytest.mark.skipif(not shutil.which("pdfsig") or not shutil.which("certutil"), reason="poppler-utils/libnss3-tools")
def test_pdfsig_reports_the_pdf_valid_and_trusted(ws: Path, issued: tuple[str, Path], tmp_path: Path) -> None:
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "demo-ca", "-t", "C,C,C", "-i",
                    str(ws / "keys" / "demo-ca.pem")], check=True)
    lines = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(issued[1].with_suffix(".pdf"))],
                           capture_output=True, text=True).stdout
    assert "Signature Validation: Signature is Valid." in lines, lines
    assert "Certificate Validation: Certificate is Trusted." in lines, lines


def test_a_second_fleet_document_supersedes_the_first(ws: Path, issued: tuple[str, Path]) -> None:
    first, _ = issued
    second, path = _render_fleet(ws, "--lang", "it")
    data = FleetAttestation.from_json_bytes(path.read_bytes())
    assert data.supersedes == first and second != first
    assert "intero servizio" in path.with_suffix(".html").read_text()
    config = load_config(ws / "attest.yaml")
    log = EvidenceLog.open(config.database_url, config.evidence_dir)
    try:
        index = DocumentIndex.load(log)
        old, new = index.status(first), index.status(second)
        assert old.state == "superseded" and new.state == "current", (old, new)
        assert log.latest_document(FLEET_SCOPE, data.period) == second
        # The tenants' own documents are untouched: acme's newest is still a per-tenant one.
        acme = log.latest_document("acme", data.period)
        assert acme is not None and acme not in (first, second)
    finally:
        log.close()


def test_fleet_refuses_a_tenant_and_an_unknown_language(ws: Path) -> None:
    proc = attest("render", "--fleet", "--tenant", "acme", "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    proc = attest("render", "--fleet", "--lang", "fr", "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 2, proc.stdout + proc.stderr
