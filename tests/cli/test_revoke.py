"""Supersession and revocation through the installed `attest` command: issuing again for the same
tenant and period supersedes; `attest revoke` records a signed revocation; `attest verify` still
finds old and revoked documents authentic and says which is current, superseded or revoked;
refusals exit 2 and leave the log unchanged."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from attest.config import load_config
from evidence.log import REVOCATION_KIND, EvidenceLog
from tests.cli.test_demo_end_to_end import attest

PERIOD = "2026-10"
REASON = "The tenant's legal name was [wrong] on page 1"


def _render(ws: Path, as_of: str) -> str:
    # Another as-of instant: the document shows something new, so it is issued again (attest/incremental.py).
    proc = attest("render", "--tenant", "acme", "--period", PERIOD, "--as-of", as_of, "--config", ws / "attest.yaml",
                  cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (doc,) = [line for line in proc.stdout.split() if line.startswith("AT-")]
    return doc


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A fresh workspace (no sources collected: cheap) where acme's October was issued twice."""
    ws = tmp_path_factory.mktemp("revoke") / "ws"
    assert attest("init", ws, cwd=ws.parent).returncode == 0
    return ws, _render(ws, "2026-10-20T12:00:00Z"), _render(ws, "2026-10-25T12:00:00Z")


@pytest.fixture
def ws(issued: tuple[Path, str, str], tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(issued[0], target)
    return target


def _files(ws: Path, doc: str) -> list[Path]:
    folder = ws / "documents" / "acme" / PERIOD
    return [folder / f"{doc}.pdf", folder / f"{doc}.json", folder / f"{doc}.html"]


def _verify(ws: Path, *files: Path) -> tuple[int, str]:
    proc = attest("verify", "--config", ws / "attest.yaml", *files, cwd=ws)
    return proc.returncode, " ".join(proc.stdout.split())  # rich wraps long lines


def _log(ws: Path) -> EvidenceLog:
    loaded = load_config(ws / "attest.yaml")
    return EvidenceLog.open(loaded.database_url, loaded.evidence_dir)


def _size(ws: Path) -> tuple[int, int]:
    log = _log(ws)
    try:
        return log.size(), len(log.checkpoints())
    finally:
        log.close()


def test_reissue_names_what_it_supersedes_and_verify_reports_it(issued: tuple[Path, str, str]) -> None:
    ws, first, second = issued
    assert json.loads(_files(ws, first)[1].read_text())["supersedes"] is None
    assert json.loads(_files(ws, second)[1].read_text())["supersedes"] == first
    code, text = _verify(ws, *_files(ws, first), *_files(ws, second))
    assert code == 0, text
    assert text.count("VALID") == 6 and "INVALID" not in text
    assert text.count(f"status: superseded by {second} (issued ") == 3, text
    assert text.count("status: current (the newest document for acme, 2026-10") == 3, text


def test_revoke_records_a_signed_revocation_and_verify_reports_it(ws: Path) -> None:
    first, second = (p.stem for p in sorted((ws / "documents" / "acme" / PERIOD).glob("*.pdf"),
                                            key=lambda p: json.loads(p.with_suffix(".json").read_text())["supersedes"]
                                            is not None))
    before = _size(ws)
    proc = attest("revoke", second, "--reason", REASON, "--by", "Mario Rossi", "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stderr
    said = " ".join(proc.stderr.split())
    assert f"revoked {second} (acme, 2026-10; it was current): record #{before[0]}" in said, said
    assert f"signed in checkpoint {before[1] + 1}" in said and REASON in said
    assert "now has no current document" in said

    log = _log(ws)
    try:
        (rec,) = list(log.records(kind=REVOCATION_KIND))
        assert rec.subject == f"document/{second}" and rec.source == "attest"
        assert {k: rec.payload[k] for k in ("document_id", "tenant", "period", "reason", "revoked_by")} == {
            "document_id": second, "tenant": "acme", "period": PERIOD, "reason": REASON, "revoked_by": "Mario Rossi"}
        assert rec.idx < log.signed_size()  # covered by the new signed checkpoint
        closing = log.run_statuses()[rec.run_id]
        assert closing == "ok"
    finally:
        log.close()
    assert attest("evidence", "verify", "--config", ws / "attest.yaml", cwd=ws).returncode == 0

    code, text = _verify(ws, *_files(ws, second))
    assert code == 0, text  # still authentic: status is reported, not judged
    assert text.count("VALID") == 3 and text.count("status: revoked on ") == 3, text
    assert f"by Mario Rossi: {REASON}" in text
    code, text = _verify(ws, _files(ws, first)[0])
    assert code == 0 and f"superseded by {second}" in text and f"{second} is revoked" in text, text


def test_refusals_exit_2_and_leave_the_log_unchanged(ws: Path) -> None:
    docs = [p.stem for p in (ws / "documents" / "acme" / PERIOD).glob("*.pdf")]
    cfg = ("--config", ws / "attest.yaml")
    size = _size(ws)
    for args, expected in [
        (["AT-0000000000000000000A", "--reason", REASON], "no document with this id was issued"),
        (["AT-IOU", "--reason", REASON], "not a document id"),
        ([docs[0], "--reason", ""], "--reason: empty"),
        ([docs[0], "--reason", "oops"], "too short"),
        ([docs[0]], "Missing option '--reason'"),
    ]:
        proc = attest("revoke", *args, *cfg, cwd=ws)
        assert proc.returncode == 2, (args, proc.stdout + proc.stderr)
        assert expected in " ".join(proc.stderr.split()), (args, proc.stderr)
        assert _size(ws) == size, args
    assert attest("revoke", docs[0].lower(), "--reason", REASON, "--by", "auditor", *cfg, cwd=ws).returncode == 0
    size = _size(ws)
    again = attest("revoke", docs[0], "--reason", "Another reason, given twice", *cfg, cwd=ws)
    said = " ".join(again.stderr.split())
    assert again.returncode == 2 and f"{docs[0]}: already revoked on " in said and f"by auditor: {REASON}" in said, said
    assert _size(ws) == size
    assert attest("evidence", "verify", *cfg, cwd=ws).returncode == 0


def test_status_needs_the_log_that_issued_the_document(issued: tuple[Path, str, str], tmp_path: Path) -> None:
    ws, _, second = issued
    pdf = _files(ws, second)[0]
    ca = ws / "keys" / "demo-ca.pem"
    proc = attest("verify", "--trust", ca, pdf, cwd=tmp_path)  # no attest.yaml here
    assert proc.returncode == 0 and "status: not checked: no evidence log" in " ".join(proc.stdout.split())
    # Another workspace's log (holding one record, so it has a signed checkpoint).
    other = tmp_path / "other"
    assert attest("init", other, cwd=tmp_path).returncode == 0
    note = tmp_path / "note.txt"
    note.write_text("A note.\n")
    assert attest("evidence", "add", note, "--kind", "document", "--subject", "tenant/acme",
                  "--config", other / "attest.yaml", cwd=other).returncode == 0
    proc = attest("verify", "--trust", ca, "--config", other / "attest.yaml", pdf, cwd=other)
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0 and "VALID" in text and "status: unknown to this log" in text, text


def test_a_tampered_log_gives_no_status_and_no_false_current(ws: Path) -> None:
    second = next(p.stem for p in (ws / "documents" / "acme" / PERIOD).glob("*.pdf")
                  if json.loads(p.with_suffix(".json").read_text())["supersedes"])
    assert attest("revoke", second, "--reason", REASON, "--config", ws / "attest.yaml", cwd=ws).returncode == 0
    with sqlite3.connect(ws / "attest.db") as conn:  # hide the revocation
        conn.execute("DELETE FROM records WHERE kind = ?", (REVOCATION_KIND,))
    code, text = _verify(ws, _files(ws, second)[0])
    assert code == 0 and "VALID" in text, text  # the document's own signature is unaffected
    assert "status: not checked:" in text and "no longer matches signed checkpoint" in text, text
    assert "current" not in text.split("status:")[1]


def test_rendering_again_after_a_revocation_issues_a_new_document(ws: Path) -> None:
    second = next(p.stem for p in (ws / "documents" / "acme" / PERIOD).glob("*.pdf")
                  if json.loads(p.with_suffix(".json").read_text())["supersedes"])
    assert attest("revoke", second, "--reason", REASON, "--config", ws / "attest.yaml", cwd=ws).returncode == 0
    third = _render(ws, "2026-10-25T12:00:00Z")  # the same content as the revoked document
    assert third != second
    assert json.loads(_files(ws, third)[1].read_text())["supersedes"] == second
