"""`attest evidence add`: a document no API holds goes into the log like collected evidence, with
who added it and when; hostile or wrong input is refused with one clear message and leaves no trace."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from attest.config import load_config
from attest.lab.world import demo_world
from attest.workspace import config_document, init_workspace, write_config
from evidence.log import EvidenceLog
from tests.cli.test_demo_end_to_end import attest

CERT_NUMBER = "IT-27001-0042"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    directory = tmp_path / "ws"
    init_workspace(directory)
    doc = config_document(demo_world(), "https://127.0.0.1:9", False)
    doc["sites"][0]["certifications"] = [{"standard": "ISO/IEC 27001:2022", "issuer": "Example Cert S.p.A.",
                                          "number": CERT_NUMBER, "expires": "2028-03-31"}]
    write_config(directory, doc)
    return directory


def _pdf(tmp_path: Path, name: str = "cert.pdf", *, truncated: bool = False) -> Path:
    body = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n" + (b"" if truncated else b"%%EOF\n")
    path = tmp_path / name
    path.write_bytes(body)
    return path


def _log(ws: Path) -> EvidenceLog:
    loaded = load_config(ws / "attest.yaml")
    return EvidenceLog.open(loaded.database_url, loaded.evidence_dir)


def test_restore_test_is_stored_signed_and_verifiable(ws: Path, tmp_path: Path) -> None:
    report = tmp_path / "restore-101.txt"
    report.write_text("Restore of VM 101 from pbs-main:backup/vm/101/2026-11-20T01:30:00Z into VM 9101: OK\n")
    proc = attest("evidence", "add", report, "--kind", "restore-test", "--subject", "pve-main/qemu/101",
                  "--performed", "2026-11-20", "--by", "Mario Rossi", "--title", "Quarterly restore test",
                  "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stderr
    assert "manual.restore_test for pve-main/qemu/101" in proc.stderr
    log = _log(ws)
    try:
        (rec,) = list(log.records(kind="manual.restore_test"))
        assert rec.subject == "pve-main/qemu/101" and rec.source == "manual"
        doc = rec.payload["document"]
        assert doc["sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
        assert doc["media_type"].startswith("text/plain") and doc["filename"] == "restore-101.txt"
        assert rec.payload["added_by"] == "Mario Rossi"
        assert rec.payload["performed_at"] == "2026-11-20T12:00:00Z"
        assert log.get_artifact(rec.payload["document"]["sha256"]) == report.read_bytes()
        (outcome,) = log.source_outcomes("manual")
        assert outcome.status == "ok"
    finally:
        log.close()
    assert attest("evidence", "verify", "--config", ws / "attest.yaml", cwd=ws).returncode == 0


def test_site_certificate_must_match_a_declared_certification(ws: Path, tmp_path: Path) -> None:
    pdf = _pdf(tmp_path)
    ok = attest("evidence", "add", pdf, "--kind", "site-certificate", "--subject", "site/mil1",
                "--reference", CERT_NUMBER, "--config", ws / "attest.yaml", cwd=ws)
    assert ok.returncode == 0, ok.stderr
    wrong = attest("evidence", "add", pdf, "--kind", "site-certificate", "--subject", "site/mil1",
                   "--reference", "NOPE-1", "--config", ws / "attest.yaml", cwd=ws)
    assert wrong.returncode == 2
    assert "declares no certification with that number" in wrong.stderr and CERT_NUMBER in wrong.stderr


@pytest.mark.parametrize(("make", "args", "expected"), [
    (lambda p: _pdf(p, truncated=True), ["--kind", "site-certificate", "--subject", "site/mil1",
                                         "--reference", CERT_NUMBER], "truncated"),
    (lambda p: (p / "junk.bin").write_bytes(b"\x00\xff\xfe\x01" * 64) and p / "junk.bin",
     ["--kind", "document", "--subject", "site/mil1"], "unsupported file type"),
    (lambda p: (p / "empty.txt").write_bytes(b"") or p / "empty.txt",
     ["--kind", "document", "--subject", "site/mil1"], "the file is empty"),
    (lambda p: p / "missing.pdf", ["--kind", "document", "--subject", "site/mil1"], "no such file"),
    (lambda p: p, ["--kind", "document", "--subject", "site/mil1"], "not a regular file"),
    (lambda p: _pdf(p), ["--kind", "restore-test", "--subject", "pve-main/qemu/101"], "--performed"),
    (lambda p: _pdf(p), ["--kind", "restore-test", "--subject", "pve-main/qemu/101", "--performed", "2999-01-01"],
     "in the future"),
    (lambda p: _pdf(p), ["--kind", "restore-test", "--subject", "tenant/nobody", "--performed", "2026-11-01"],
     "unknown tenant"),
    (lambda p: _pdf(p), ["--kind", "restore-test", "--subject", "other/qemu/1", "--performed", "2026-11-01"],
     "expected tenant/<id>"),
    (lambda p: _pdf(p), ["--kind", "selfie", "--subject", "site/mil1"], "--kind 'selfie'"),
    (lambda p: _pdf(p), ["--kind", "site-certificate", "--subject", "site/mars"], "a site certificate is about"),
])
def test_bad_input_is_refused_and_leaves_no_trace(ws: Path, tmp_path: Path, make, args, expected) -> None:  # type: ignore[no-untyped-def]
    before = _log(ws)
    size = before.size()
    before.close()
    path = make(tmp_path)
    proc = attest("evidence", "add", path, *args, "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr
    after = _log(ws)
    try:
        assert after.size() == size
    finally:
        after.close()
