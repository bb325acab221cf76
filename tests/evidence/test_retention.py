"""Payload retention (evidence/retention.py) on SQLite and PostgreSQL: old `portal.audit`
payloads are removed behind a signed `attest.redaction` record while their leaves stay, so the
log, its checkpoints and every other record's proofs still verify; documents, revocations and
run records can never be redacted; and `verify` still names every change redaction could hide."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from attest.pki import DemoPki
from attest.signing import ProviderSigner
from attest.verify import load_trust_anchors
from evidence import merkle, retention
from evidence.log import (
    DOCUMENT_KIND,
    REDACTION_KIND,
    REVOCATION_KIND,
    RUN_KIND,
    EvidenceLog,
    LogIntegrityError,
    NewRecord,
    RedactedPayload,
)
from evidence.retention import Coverage, RedactionRefused, index_ranges

AUDIT = "portal.audit"
OLD = datetime(2025, 1, 10, 8, 0, tzinfo=UTC)
NEW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CUTOFF = datetime(2026, 1, 1, tzinfo=UTC)


def _audit(entry: int, at: datetime, tenant: str = "acme") -> NewRecord:
    return NewRecord("portal", AUDIT, f"tenant/{tenant}", {"entry": entry, "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                           "action": "login", "account": f"user{entry}",
                                                           "client": f"203.0.113.{entry}"}, at)


def _document(doc: str) -> NewRecord:
    return NewRecord("attest", DOCUMENT_KIND, f"document/{doc}", {"document_id": doc, "tenant": "acme",
                                                                  "period": "2025-01"}, OLD)


@pytest.fixture
def log(db_url: str, tmp_path: Path, signer: ProviderSigner) -> Iterator[EvidenceLog]:
    """Run 1: a document and 3 old audit entries; run 2: 2 old entries and a revocation; run 3:
    2 entries within retention."""
    log = EvidenceLog.open(db_url, tmp_path / "evidence")
    batches = [[_document("AT-1"), _audit(1, OLD), _audit(2, OLD), _audit(3, OLD, "bellini")],
               [_audit(4, OLD), _audit(5, OLD),
                NewRecord("attest", REVOCATION_KIND, "document/AT-1", {"document_id": "AT-1"}, OLD)],
               [_audit(6, NEW), _audit(7, NEW)]]
    for batch in batches:
        run = log.begin_run("test", signer)
        log.append(run, batch)
        log.finish_run(run, "ok", signer)
    yield log
    log.close()


@pytest.fixture
def anchors(demo_pki: DemoPki) -> list:  # type: ignore[type-arg]
    return load_trust_anchors([demo_pki.ca_cert])


def _exec(log: EvidenceLog, sql: str, **params: object) -> None:
    with log.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _idx(log: EvidenceLog, entry: int) -> int:
    (rec,) = [r for r in log.records(kind=AUDIT) if r.payload["entry"] == entry]
    return rec.idx


def _expire(log: EvidenceLog, signer: ProviderSigner, **kw: object) -> retention.Expiry:
    return log.expire_payloads(AUDIT, CUTOFF, signer, reason="test retention", **kw)  # type: ignore[arg-type]


def test_old_audit_payloads_are_removed_and_the_log_still_verifies(log: EvidenceLog, signer: ProviderSigner,
                                                                   anchors: list) -> None:  # type: ignore[type-arg]
    roots_before = [(cp.tree_size, cp.root_hash) for cp in log.checkpoints()]
    leaves_before = log.leaf_hashes()
    old = {_idx(log, e) for e in range(1, 6)}

    done = _expire(log, signer)

    assert (done.due, done.redacted, done.resumed) == (5, 5, 0)
    # The earlier checkpoints are untouched and every leaf is still there: only bodies went.
    assert [(cp.tree_size, cp.root_hash) for cp in log.checkpoints()][:3] == roots_before
    assert log.leaf_hashes()[:len(leaves_before)] == leaves_before
    outcome = log.verify(anchors)
    assert outcome.ok, outcome.problems
    assert outcome.redacted == 5
    assert any("5 record(s) had their payload redacted" in n and "5 portal.audit" in n for n in outcome.notes)

    # Readers never see an emptied payload as if it were real: skipped, or flagged and unreadable.
    assert [r.payload["entry"] for r in log.records(kind=AUDIT)] == [6, 7]
    flagged = [r for r in log.records(kind=AUDIT, include_redacted=True) if r.redacted]
    assert {r.idx for r in flagged} == old and all(r.body == b"" for r in flagged)
    with pytest.raises(RedactedPayload):
        _ = flagged[0].payload

    # The redaction is itself a signed record, in a run of its own closed "ok".
    assert done.statement is not None and done.checkpoint is not None
    statement = done.statement.payload
    assert (statement["kind"], statement["count"], statement["reason"]) == (AUDIT, 5, "test retention")
    assert statement["ranges"] == index_ranges(old) and statement["older_than"] == "2026-01-01T00:00:00Z"
    assert done.statement.idx < done.checkpoint.tree_size
    assert log.run_statuses()[done.statement.run_id] == "ok"


def test_proofs_of_other_records_still_verify(log: EvidenceLog, signer: ProviderSigner) -> None:
    _expire(log, signer)
    cp = log.checked_checkpoint()
    assert cp is not None
    doc = next(log.records(kind=DOCUMENT_KIND))
    proofs = log.inclusion_proofs([doc.idx], cp.tree_size)
    assert merkle.verify_inclusion(merkle.leaf_hash(doc.body), doc.idx, cp.tree_size, proofs[doc.idx], cp.root_hash)
    # A redacted record's leaf is still provably in the signed tree (it existed), without its content.
    gone = next(r for r in log.records(kind=AUDIT, include_redacted=True) if r.redacted)
    proof = log.inclusion_proofs([gone.idx], cp.tree_size)[gone.idx]
    assert merkle.verify_inclusion(gone.leaf_hash, gone.idx, cp.tree_size, proof, cp.root_hash)
    # Consistency from the first checkpoint to the latest still holds over the same leaves.
    first = log.checkpoints()[0]
    leaves = log.leaf_hashes(cp.tree_size)
    assert merkle.verify_consistency(first.tree_size, cp.tree_size, first.root_hash, cp.root_hash,
                                     merkle.consistency_proof(leaves, first.tree_size))


def test_dry_run_counts_and_changes_nothing_and_a_second_run_is_a_no_op(log: EvidenceLog,
                                                                        signer: ProviderSigner) -> None:
    size, checkpoints = log.size(), len(log.checkpoints())
    dry = _expire(log, signer, dry_run=True)
    assert (dry.due, dry.redacted, dry.statement) == (5, 0, None)
    assert (log.size(), len(log.checkpoints())) == (size, checkpoints)
    assert len(list(log.records(kind=AUDIT))) == 7

    _expire(log, signer)
    checkpoints = len(log.checkpoints())
    again = _expire(log, signer)
    assert (again.due, again.redacted) == (0, 0)
    assert len(log.checkpoints()) == checkpoints  # nothing due: no run, no checkpoint
    assert len(list(log.records(kind=REDACTION_KIND))) == 1


@pytest.mark.parametrize("kind", [DOCUMENT_KIND, REVOCATION_KIND, RUN_KIND, REDACTION_KIND, "proxmox.guest"])
def test_documents_revocations_and_run_records_cannot_be_redacted(log: EvidenceLog, signer: ProviderSigner,
                                                                  kind: str) -> None:
    size = log.size()
    with pytest.raises(RedactionRefused, match="cannot have their payload removed"):
        log.expire_payloads(kind, NEW + timedelta(days=1), signer, reason="x")
    assert log.size() == size
    assert len(list(log.records(kind=DOCUMENT_KIND))) == 1 and len(list(log.records(kind=REVOCATION_KIND))) == 1


def test_never_redacted_wins_over_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "REDACTABLE_KINDS", frozenset({AUDIT, DOCUMENT_KIND}))
    retention.check_redactable(AUDIT)
    with pytest.raises(RedactionRefused):
        retention.check_redactable(DOCUMENT_KIND)


def test_a_tampered_body_is_still_caught_after_redaction(log: EvidenceLog, signer: ProviderSigner,
                                                         anchors: list) -> None:  # type: ignore[type-arg]
    _expire(log, signer)
    kept = _idx(log, 6)
    _exec(log, "UPDATE records SET body = :b WHERE idx = :i",
          b=json.dumps({"payload": {"entry": 6}}).encode(), i=kept)
    problems = [p.what for p in log.verify(anchors).problems]
    assert any(f"record #{kept}" in p and "no longer matches its leaf hash" in p for p in problems), problems
    with pytest.raises(LogIntegrityError):
        list(log.records(kind=AUDIT))


def test_a_redacted_records_changed_leaf_breaks_the_root(log: EvidenceLog, signer: ProviderSigner,
                                                         anchors: list) -> None:  # type: ignore[type-arg]
    _expire(log, signer)
    gone = next(r for r in log.records(kind=AUDIT, include_redacted=True) if r.redacted)
    _exec(log, "UPDATE records SET leaf_hash = :h WHERE idx = :i", h=b"\x07" * 32, i=gone.idx)
    problems = [p.what for p in log.verify(anchors).problems]
    assert any("do not match signed checkpoint" in p for p in problems), problems
    with pytest.raises(LogIntegrityError):
        log.checked_checkpoint()


def test_a_payload_emptied_without_a_signed_redaction_is_a_deletion(log: EvidenceLog,
                                                                    anchors: list) -> None:  # type: ignore[type-arg]
    victim = _idx(log, 6)
    _exec(log, "UPDATE records SET body = :b, redacted_at = '2026-07-01T00:00:00Z' WHERE idx = :i", b=b"", i=victim)
    problems = [p.what for p in log.verify(anchors).problems]
    assert any(f"record #{victim}" in p and "no signed redaction record names it" in p for p in problems), problems


def test_an_emptied_document_is_never_taken_for_a_redaction(log: EvidenceLog, signer: ProviderSigner,
                                                            anchors: list) -> None:  # type: ignore[type-arg]
    _expire(log, signer)
    doc = next(log.records(kind=DOCUMENT_KIND))
    _exec(log, "UPDATE records SET body = :b, redacted_at = '2026-07-01T00:00:00Z' WHERE idx = :i", b=b"", i=doc.idx)
    problems = [p.what for p in log.verify(anchors).problems]
    assert any(f"record #{doc.idx}" in p and "never redacted" in p for p in problems), problems
    with pytest.raises(LogIntegrityError):  # readers refuse it rather than skip it
        list(log.records(kind=DOCUMENT_KIND))


def test_a_changed_kind_column_or_mark_is_reported(log: EvidenceLog, signer: ProviderSigner,
                                                   anchors: list) -> None:  # type: ignore[type-arg]
    _expire(log, signer)
    kept = _idx(log, 7)
    _exec(log, "UPDATE records SET redacted_at = '2026-07-01T00:00:00Z' WHERE idx = :i", i=kept)
    problems = [p.what for p in log.verify(anchors).problems]
    assert any(f"record #{kept} is marked as redacted but still holds its payload" in p for p in problems), problems


def test_a_body_that_does_not_match_its_leaf_is_never_redacted(log: EvidenceLog, signer: ProviderSigner) -> None:
    victim = _idx(log, 2)
    _exec(log, "UPDATE records SET body = :b WHERE idx = :i", b=b'{"edited":true}', i=victim)
    size, checkpoints = log.size(), len(log.checkpoints())
    with pytest.raises(LogIntegrityError, match=f"record #{victim}"):
        _expire(log, signer)
    assert (log.size(), len(log.checkpoints())) == (size, checkpoints)  # refused before any run
    with log.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM records WHERE redacted_at IS NOT NULL")).scalar_one() == 0


def test_an_interrupted_redaction_is_finished_by_the_next_call(log: EvidenceLog, signer: ProviderSigner,
                                                               anchors: list,  # type: ignore[type-arg]
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = retention._empty
    calls: list[int] = []

    def crash(*args: object) -> int:
        if not calls:
            calls.append(1)
            raise RuntimeError("killed between signing and emptying")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(retention, "_empty", crash)
    with pytest.raises(RuntimeError):
        _expire(log, signer)
    outcome = log.verify(anchors)  # signed, not applied yet: consistent, and said so
    assert outcome.ok and outcome.redacted == 0, outcome.problems
    assert any("named by a signed redaction still hold their payload" in n for n in outcome.notes)

    done = _expire(log, signer)
    assert (done.resumed, done.redacted, done.statement) == (5, 0, None)  # finished, not stated twice
    assert len(list(log.records(kind=REDACTION_KIND))) == 1
    assert log.verify(anchors).redacted == 5


def test_coverage_and_ranges() -> None:
    assert index_ranges([9, 3, 5, 4]) == [[3, 5], [9, 9]]
    cov = Coverage([{"kind": AUDIT, "ranges": [[3, 5], [9, 9]]}, {"kind": AUDIT, "ranges": [[6, 6]]}])
    assert [cov.kind_of(i) for i in (2, 3, 6, 7, 9, 10)] == [None, AUDIT, AUDIT, None, AUDIT, None]
    assert retention.statement_problem({"kind": AUDIT, "ranges": [[5, 3]]}) == "its ranges are not well-formed"
    assert "never redacted" in str(retention.statement_problem({"kind": DOCUMENT_KIND, "ranges": []}))


def test_a_relabelled_record_is_refused_not_laundered(log: EvidenceLog, signer: ProviderSigner,
                                                      anchors: list) -> None:  # type: ignore[type-arg]
    """A record of another kind whose kind column was changed to portal.audit is not emptied
    (that would remove the only trace of the change): retention refuses, and verify still reports."""
    victim = next(r for r in log.records() if r.kind != AUDIT and r.kind not in (RUN_KIND,))
    _exec(log, "UPDATE records SET kind = :k, collected_at = :t WHERE idx = :i", k=AUDIT,
          t="2025-06-01T00:00:00Z", i=victim.idx)
    with pytest.raises(LogIntegrityError, match="columns do not match its body"):
        log.expire_payloads(AUDIT, CUTOFF, signer, reason="test")
    assert not log.verify(anchors).ok
    with log.engine.connect() as conn:  # nothing was emptied
        assert conn.execute(sa.text("SELECT COUNT(*) FROM records WHERE redacted_at IS NOT NULL")).scalar_one() == 0


def test_a_record_emptied_and_marked_by_hand_does_not_vanish_from_reads(log: EvidenceLog) -> None:
    """Reads skip a redacted record only when a signed redaction names it: one emptied, marked
    and relabelled by hand is an error for every read that meets it, not a silent gap."""
    victim = next(r for r in log.records() if r.kind != AUDIT and r.kind != RUN_KIND)
    _exec(log, "UPDATE records SET body = :b, redacted_at = '2026-01-01T00:00:00Z', kind = :k WHERE idx = :i",
          b=b"", k=AUDIT, i=victim.idx)
    with pytest.raises(LogIntegrityError, match="no signed redaction names it"):
        list(log.records(run_id=victim.run_id))
