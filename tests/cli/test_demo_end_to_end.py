"""The README's first command, end to end, through the installed `attest` console script:
signed documents for every lab tenant, checked by `attest verify` and independently by
poppler's pdfsig; then tampering with documents and with the evidence log."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from attest.lab.world import demo_world

# The installed console script, as a user runs it (`python -m` would put the working folder,
# which holds an `evidence/` folder, ahead of the `evidence` package on sys.path).
ATTEST = [str(Path(sys.executable).parent / "attest")]
SHARED = {"moretti", "nautilus"}


def attest(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ATTEST, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(cwd or Path.cwd())})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    proc = attest("demo", "--dir", root / "ws", cwd=root)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return root / "ws"


def _docs(ws: Path, suffix: str) -> dict[str, Path]:
    found = {p.parts[-3]: p for p in (ws / "documents").glob(f"*/*/*{suffix}")
             if not p.name.endswith(".dsse.json") and p.parts[-3] != "_fleet"}  # _fleet: the provider-wide one
    assert len(found) == len(demo_world().tenants)
    return found


def test_demo_issues_signed_documents_with_the_expected_verdicts(demo: Path) -> None:
    for tenant, path in _docs(demo, ".json").items():
        att = json.loads(path.read_text())
        [iso] = [r for r in att["results"] if r["control_id"] == "ISO-01"]
        assert iso["verdict"] == ("fail" if tenant in SHARED else "pass"), (tenant, iso["reason"])
        if tenant in SHARED:
            assert "pbx-shared-01" in iso["reason"]["en"]
        assert (path.parent / (path.name + ".dsse.json")).exists()
        assert (path.with_suffix(".html").parent / (path.with_suffix(".html").name + ".dsse.json")).exists()
        assert att["provider"]["demo"] is True


def test_attest_verify_accepts_every_document(demo: Path) -> None:
    files = [*_docs(demo, ".pdf").values(), *_docs(demo, ".html").values(), *_docs(demo, ".json").values()]
    proc = attest("verify", "--config", demo / "attest.yaml", *files, cwd=demo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("VALID") == len(files)


@pytest.mark.skipif(not shutil.which("pdfsig") or not shutil.which("certutil"), reason="poppler-utils/libnss3-tools")
def test_pdfsig_reports_every_pdf_valid_and_trusted(demo: Path, tmp_path: Path) -> None:
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "demo-ca", "-t", "C,C,C", "-i",
                    str(demo / "keys" / "demo-ca.pem")], check=True)
    for tenant, pdf in _docs(demo, ".pdf").items():
        lines = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True,
                               text=True).stdout
        assert "Signature Validation: Signature is Valid." in lines, (tenant, lines)
        assert "Certificate Validation: Certificate is Trusted." in lines, (tenant, lines)
        assert "Total document signed" in lines, (tenant, lines)


def test_flipped_byte_is_invalid_and_names_the_signature(demo: Path, tmp_path: Path) -> None:
    pdf = _docs(demo, ".pdf")["acme"]
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    forged = tmp_path / pdf.name
    forged.write_bytes(bytes(data))
    proc = attest("verify", "--config", demo / "attest.yaml", forged, cwd=demo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "AttestSignature" in proc.stdout


def test_tampered_html_is_invalid(demo: Path, tmp_path: Path) -> None:
    html = _docs(demo, ".html")["acme"]
    copy = tmp_path / html.name
    copy.write_text(html.read_text().replace("ACME", "ACNE", 1))
    shutil.copy(html.parent / (html.name + ".dsse.json"), tmp_path)
    proc = attest("verify", "--config", demo / "attest.yaml", copy, cwd=demo)
    assert proc.returncode == 1 and "digest" in proc.stdout.lower(), proc.stdout


def test_untrusted_signer_and_unusable_input(demo: Path, tmp_path: Path) -> None:
    from attest.pki import create_demo_pki

    other = create_demo_pki(tmp_path / "other", "Another CA", b"x")
    pdf = _docs(demo, ".pdf")["acme"]
    proc = attest("verify", "--trust", other.ca_cert, pdf, cwd=tmp_path)
    assert proc.returncode == 1 and "UNTRUSTED" in proc.stdout, proc.stdout
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    proc = attest("verify", "--trust", other.ca_cert, junk, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr


@pytest.fixture
def ws_copy(demo: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(demo, target, ignore=shutil.ignore_patterns("lab"))
    return target


def _evidence_verify(ws: Path) -> subprocess.CompletedProcess[str]:
    return attest("evidence", "verify", "--config", ws / "attest.yaml", cwd=ws)


def _sql(ws: Path, statement: str) -> None:
    with sqlite3.connect(ws / "attest.db") as conn:
        conn.execute(statement)


def test_evidence_verify_passes_then_names_an_edited_record(ws_copy: Path) -> None:
    assert _evidence_verify(ws_copy).returncode == 0
    _sql(ws_copy, "UPDATE records SET body = CAST(replace(CAST(body AS TEXT), 'pbx-acme-01', 'pbx-acme-99') AS BLOB)"
                  " WHERE subject = 'pve-main/qemu/101'")
    proc = _evidence_verify(ws_copy)
    assert proc.returncode == 1 and "altered" in proc.stdout and "pve-main/qemu/101" in proc.stdout, proc.stdout


def test_evidence_verify_names_a_deleted_record(ws_copy: Path) -> None:
    _sql(ws_copy, "DELETE FROM records WHERE idx = 7")
    proc = _evidence_verify(ws_copy)
    assert proc.returncode == 1 and "#7 missing" in proc.stdout, proc.stdout


def test_evidence_verify_names_an_appended_record(ws_copy: Path) -> None:
    _sql(ws_copy, "INSERT INTO records (idx, leaf_hash, body, run_id, source, kind, subject, collected_at) "
                  "SELECT idx + 1000, randomblob(32), body, run_id, source, kind, subject, "
                  "collected_at FROM records WHERE idx = (SELECT max(idx) FROM records)")
    proc = _evidence_verify(ws_copy)
    assert proc.returncode == 1, proc.stdout
    assert "appended after the last signed checkpoint" in proc.stdout or "missing" in proc.stdout, proc.stdout


def test_evidence_verify_names_a_truncated_log(ws_copy: Path) -> None:
    _sql(ws_copy, "DELETE FROM records WHERE idx >= 20")
    _sql(ws_copy, "DELETE FROM checkpoints WHERE tree_size > 20")
    _sql(ws_copy, "UPDATE log_meta SET size = 20")
    proc = _evidence_verify(ws_copy)
    assert proc.returncode == 1 and "removed from the database" in proc.stdout, proc.stdout


def test_evaluate_json_shape(ws_copy: Path) -> None:
    proc = attest("evaluate", "--json", "--config", ws_copy / "attest.yaml", cwd=ws_copy)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "attest.evaluation/v1"
    assert {t["id"]: t["overall"] for t in data["tenants"]}["moretti"] == "fail"
    result = data["tenants"][0]["results"][0]
    assert {"control_id", "verdict", "reason", "facts", "evidence", "title", "duty"} <= set(result)


def test_attestation_json_proves_its_evidence_on_its_own(demo: Path) -> None:
    """From the JSON alone: the checkpoint is signed by a trusted signer and every cited record is
    in its tree; a changed proof, root or signed body is caught."""
    from attest.attestation import Attestation
    from attest.proofs import attestation_problems
    from attest.verify import load_trust_anchors

    anchors = load_trust_anchors([demo / "keys" / "demo-ca.pem"])
    att = Attestation.from_json_bytes(_docs(demo, ".json")["moretti"].read_bytes())
    assert attestation_problems(att, anchors) == []
    assert len(att.proofs) == len({h for r in att.results for h in r.evidence}) >= 4

    bad_path = att.proofs[0].model_copy(update={"audit_path": [("0" * 64), *att.proofs[0].audit_path[1:]]})
    forged = att.model_copy(update={"proofs": [bad_path, *att.proofs[1:]]})
    assert any("does not lead to the signed root" in p for p in attestation_problems(forged, anchors))

    cp = att.checkpoint.model_copy(update={"body": att.checkpoint.body.replace('"v":1', '"v":2')})
    assert any("signature does not match" in p for p in attestation_problems(att.model_copy(update={"checkpoint": cp}),
                                                                             anchors))
    from attest.pki import create_demo_pki

    other = load_trust_anchors([create_demo_pki(demo.parent / "other-ca", "Other", b"x").ca_cert])
    assert any("not trusted" in p for p in attestation_problems(att, other))
    missing = att.model_copy(update={"proofs": att.proofs[1:]})
    assert any("no inclusion proof" in p for p in attestation_problems(missing, anchors))


def test_verify_reports_the_evidence_proofs(demo: Path) -> None:
    js = _docs(demo, ".json")["acme"]
    proc = attest("verify", "--config", demo / "attest.yaml", js, _docs(demo, ".pdf")["acme"], cwd=demo)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("inclusion proof(s) check out") == 2, proc.stdout


def test_demo_writes_a_provider_wide_attestation_and_packs_that_verify_offline(demo: Path) -> None:
    fleet = [p for p in (demo / "documents" / "_fleet").glob("*/*.json") if not p.name.endswith(".dsse.json")]
    assert fleet and all(json.loads(f.read_text())["schema"] == "attest.fleet/v1" for f in fleet)
    names = sorted(p.name for p in (demo / "packs").glob("*.zip"))
    assert [re.sub(r"\d{4}-\d{2}", "P", n) for n in names] == ["acme-P-audit.zip", "acme-P-tender.zip",
                                                                "fleet-P.zip"], names
    for name in names:
        pack = demo / "packs" / name
        proc = attest("verify", pack, "--trust", demo / "keys" / "demo-ca.pem", cwd=pack.parent)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "VALID" in proc.stdout
