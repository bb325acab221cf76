"""Document status from the signed log (attest/status.py): current, superseded (following the
chain), revoked (which wins), unknown; only signed content counts; refusals leave no trace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from attest.attestation import new_document_id
from attest.errors import BadInput
from attest.pki import DemoPki, create_demo_pki
from attest.signing import ProviderSigner
from attest.status import (
    DOCUMENT_ID,
    clean_text,
    document_status,
    parse_document_id,
    revoke_document,
)
from attest.verify import load_trust_anchors
from evidence.log import DOCUMENT_KIND, REVOCATION_KIND, EvidenceLog, LogIntegrityError, NewRecord

REASON = "The tenant's legal name was wrong on page 1"


@pytest.fixture
def log(db_url: str, tmp_path: Path) -> Iterator[EvidenceLog]:
    opened = EvidenceLog.open(db_url, tmp_path / "evidence")
    yield opened
    opened.close()


def issue(log: EvidenceLog, signer: ProviderSigner, tenant: str = "acme", period: str = "2026-10",
          status: str = "ok", supersedes: str | bool | None = True) -> str:
    """An `attest.document` record as attest/issue.py writes it (without rendering anything);
    *supersedes* True: what issue() would name (the latest document of an ok run)."""
    doc = new_document_id()
    named = log.latest_document(tenant, period) if supersedes is True else supersedes or None
    run = log.begin_run("render", signer)
    log.append(run, [NewRecord("attest", DOCUMENT_KIND, f"document/{doc}", {
        "document_id": doc, "tenant": tenant, "period": period, "supersedes": named, "overall": "pass",
        "checkpoint": {"tree_size": 0, "root_hash": ""}, "files": {}}, datetime.now(UTC))])
    log.finish_run(run, status, signer, {"documents": [doc]})
    return doc


def _exec(log: EvidenceLog, sql: str, **params: object) -> None:
    with log.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_reissue_supersedes_and_revocation_wins(log: EvidenceLog, signer: ProviderSigner, demo_pki: DemoPki) -> None:
    anchors = load_trust_anchors([demo_pki.ca_cert])
    first = issue(log, signer)
    other_tenant = issue(log, signer, tenant="bellini")
    other_period = issue(log, signer, period="2026-09")
    second = issue(log, signer)
    a, b = document_status(log, first), document_status(log, second)
    assert (a.known, a.state, a.tenant, a.period) == (True, "superseded", "acme", "2026-10")
    assert (a.superseded_by, a.latest, a.supersedes) == (second, second, None)
    assert (b.state, b.supersedes, b.superseded_by, b.latest, b.current_document) == (
        "current", first, None, second, second)
    assert a.issued_at is not None and a.issued_at <= b.issued_at  # type: ignore[operator]
    assert f"superseded by {second}" in a.describe() and b.describe().startswith("current")
    for doc in (other_tenant, other_period):  # other tenants and periods are untouched
        assert document_status(log, doc).state == "current"

    done = revoke_document(log, signer, second, REASON, "Mario Rossi")
    assert (done.before.state, done.record.kind, done.record.subject) == ("current", REVOCATION_KIND,
                                                                         f"document/{second}")
    payload = done.record.payload
    assert {k: payload[k] for k in ("document_id", "tenant", "period", "reason", "revoked_by")} == {
        "document_id": second, "tenant": "acme", "period": "2026-10", "reason": REASON, "revoked_by": "Mario Rossi"}
    assert payload["document_record"]["idx"] == b.record_idx
    assert done.record.idx < done.checkpoint.tree_size == log.signed_size()

    b = document_status(log, second)
    assert (b.state, b.revoked_by, b.reason, b.current_document, b.latest_revoked) == (
        "revoked", "Mario Rossi", REASON, None, True)
    assert b.revoked_at is not None and "revoked on" in b.describe() and REASON in b.describe()
    # Revoking the successor does not bring the predecessor back.
    a = document_status(log, first)
    assert (a.state, a.superseded_by, a.latest_revoked, a.current_document) == ("superseded", second, True, None)
    assert "has no current document" in a.describe()
    assert a.as_json()["state"] == "superseded" and b.as_json()["revoked"]["reason"] == REASON

    third = issue(log, signer)  # names `second` (the latest document), although it is revoked
    a, c = document_status(log, first), document_status(log, third)
    assert (a.superseded_by, a.latest, a.latest_revoked, a.current_document) == (second, third, False, third)
    assert f"the newest for acme, 2026-10 is {third}" in a.describe()
    assert (c.state, c.supersedes) == ("current", second)
    assert document_status(log, second).state == "revoked"  # revoked wins over superseded
    assert f"superseded by {third}" in document_status(log, second).describe()
    assert log.verify(anchors).ok


def test_a_superseded_document_can_be_revoked(log: EvidenceLog, signer: ProviderSigner) -> None:
    first = issue(log, signer)
    second = issue(log, signer)
    revoke_document(log, signer, first, REASON, "auditor")
    a = document_status(log, first)
    assert (a.state, a.superseded_by) == ("revoked", second)
    assert document_status(log, second).state == "current"


def test_unknown_and_unsigned_documents(log: EvidenceLog, signer: ProviderSigner) -> None:
    nothing = document_status(log, new_document_id())
    assert (nothing.known, nothing.state, nothing.checkpoint_id) == (False, "unknown", None)
    assert "unknown to this log" in nothing.describe()
    issue(log, signer)
    # A render run still in progress: its record is not covered by a checkpoint yet.
    pending = new_document_id()
    run = log.begin_run("render", signer)
    log.append(run, [NewRecord("attest", DOCUMENT_KIND, f"document/{pending}", {
        "document_id": pending, "tenant": "acme", "period": "2026-10", "supersedes": None}, datetime.now(UTC))])
    assert not document_status(log, pending).known
    # Nor is the mutable table of reserved ids enough.
    reserved = new_document_id()
    log.register_document(reserved, "acme", "2026-10", None)
    assert not document_status(log, reserved).known
    log.finish_run(run, "ok", signer)
    assert document_status(log, pending).state == "current"


def test_documents_of_partial_runs_count_and_the_chain_follows_the_log(log: EvidenceLog,
                                                                       signer: ProviderSigner) -> None:
    first = issue(log, signer)
    partial = issue(log, signer, status="partial")  # names `first`
    third = issue(log, signer)  # latest_document skips partial runs: names `first` too
    assert document_status(log, third).supersedes == first
    a, p, c = (document_status(log, d) for d in (first, partial, third))
    assert (a.superseded_by, a.latest) == (partial, third)
    assert (p.state, p.superseded_by) == ("superseded", third)  # nobody names it: the next one for its period
    assert c.state == "current"
    unnamed = issue(log, signer, supersedes=None)
    assert document_status(log, third).superseded_by == unnamed


def test_an_interrupted_revocation_does_not_count(log: EvidenceLog, signer: ProviderSigner) -> None:
    doc = issue(log, signer)
    run = log.begin_run("revoke", signer)
    log.append(run, [NewRecord("attest", REVOCATION_KIND, f"document/{doc}", {
        "document_id": doc, "tenant": "acme", "period": "2026-10", "reason": REASON, "revoked_by": "x",
        "revoked_at": "2026-11-01T00:00:00Z"}, datetime.now(UTC))])
    # Its process died: the next run closes it as aborted, and signs its record.
    _exec(log, "UPDATE runs SET owner = 'gone-host|x|1|1', started_at = '2020-01-01T00:00:00Z' WHERE id = :r", r=run)
    issue(log, signer, tenant="bellini")
    assert log.run_statuses()[run] == "aborted"
    assert document_status(log, doc).state == "current"
    done = revoke_document(log, signer, doc, REASON, "Mario Rossi")  # so it can be done again
    assert document_status(log, doc).revocation.record_idx == done.record.idx  # type: ignore[union-attr]


@pytest.mark.parametrize(("doc", "reason", "expected"), [
    ("AT-IIII", REASON, "not a document id"),
    ("AT-7K3M9QX2D4F8HJ6TNV1R-x", REASON, "not a document id"),
    ("unknown", REASON, "no document with this id was issued"),
    ("first", "", "--reason: empty"),
    ("first", "   \n ", "--reason: empty"),
    ("first", "mistake", "too short"),
    ("first", "x" * 501, "more than the 500"),
    ("first", "wrong name \x1b[31m on page 1", "U+001B"),
    ("revoked", REASON, "already revoked on"),
])
def test_refusals_leave_no_trace(log: EvidenceLog, signer: ProviderSigner, doc: str, reason: str,
                                 expected: str) -> None:
    first = issue(log, signer)
    revoked = issue(log, signer, tenant="bellini")
    revoke_document(log, signer, revoked, "Issued for the wrong customer contract", "Mario Rossi")
    target = {"first": first, "revoked": revoked, "unknown": new_document_id()}.get(doc, doc)
    size, checkpoints = log.size(), len(log.checkpoints())
    with pytest.raises(BadInput, match=expected.replace("[", r"\[").replace("+", r"\+")) as caught:
        revoke_document(log, signer, target, reason, "Mario Rossi")
    if doc == "revoked":
        assert "Issued for the wrong customer contract" in str(caught.value) and "Mario Rossi" in str(caught.value)
    assert (log.size(), len(log.checkpoints())) == (size, checkpoints)


def test_ids_and_texts() -> None:
    for _ in range(50):
        doc = new_document_id()
        assert DOCUMENT_ID.match(doc) and parse_document_id(f" {doc.lower()} ") == doc
    assert clean_text("--reason", "  wrong\n  address  ", 5, 50) == "wrong address"
    with pytest.raises(BadInput, match="U\\+202E"):
        clean_text("--by", "Mario \u202eissoR", 1, 50)  # a right-to-left override disguises text


def test_a_log_that_does_not_match_its_checkpoint_gives_no_status(log: EvidenceLog, signer: ProviderSigner,
                                                                  tmp_path: Path, demo_pki: DemoPki) -> None:
    doc = issue(log, signer)
    done = revoke_document(log, signer, doc, REASON, "Mario Rossi")
    assert document_status(log, doc, load_trust_anchors([demo_pki.ca_cert])).state == "revoked"
    other = load_trust_anchors([create_demo_pki(tmp_path / "other", "Other CA", b"x").ca_cert])
    with pytest.raises(LogIntegrityError, match="not signed by a trusted signer"):
        document_status(log, doc, other)
    # Deleting the revocation (and the records after it) does not make the document current again.
    _exec(log, "DELETE FROM records WHERE idx >= :i", i=done.record.idx)
    with pytest.raises(LogIntegrityError, match="no longer matches signed checkpoint"):
        document_status(log, doc)
