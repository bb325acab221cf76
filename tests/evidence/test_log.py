"""The evidence log on SQLite and PostgreSQL: exact bytes, scrubbing, checkpoints, and every
kind of tampering `attest evidence verify` must name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from attest.canonical import canonical_json
from attest.pki import DemoPki
from attest.signing import ProviderSigner
from attest.verify import load_trust_anchors
from evidence import merkle
from evidence.log import EvidenceLog, NewRecord

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _fill(log: EvidenceLog, signer: ProviderSigner, runs: int = 3, per_run: int = 4) -> None:
    for k in range(runs):
        run = log.begin_run("collect")
        log.append(run, [NewRecord("pve-main", "proxmox.guest", f"pve-main/qemu/{100 + i}",
                                   {"vmid": 100 + i, "run": k, "note": "é ✓"}, T0) for i in range(per_run)])
        log.finish_run(run, "ok", signer)


@pytest.fixture
def log(db_url: str, tmp_path: Path, signer: ProviderSigner) -> EvidenceLog:
    log = EvidenceLog.open(db_url, tmp_path / "evidence")
    _fill(log, signer)
    yield log
    log.close()


@pytest.fixture
def anchors(demo_pki: DemoPki) -> list:  # type: ignore[type-arg]
    return load_trust_anchors([demo_pki.ca_cert])


def _problems(log: EvidenceLog, anchors: list) -> list[str]:  # type: ignore[type-arg]
    return [p.what for p in log.verify(anchors).problems]


def _exec(log: EvidenceLog, sql: str, **params: object) -> None:
    with log.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_untouched_log_verifies(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    outcome = log.verify(anchors)
    assert outcome.ok, outcome.problems
    assert (outcome.tree_size, outcome.checkpoints) == (12, 3)


def test_records_are_stored_as_exact_canonical_bytes(log: EvidenceLog) -> None:
    rec = next(log.records(subject="pve-main/qemu/101"))
    assert rec.body == canonical_json(json.loads(rec.body))  # JCS: sorted keys, no spaces
    assert rec.leaf_hash == merkle.leaf_hash(rec.body)
    assert "é ✓" in rec.body.decode()
    assert list(json.loads(rec.body)) == sorted(json.loads(rec.body))  # key order kept (not JSONB)


def test_secrets_are_scrubbed_before_hashing(db_url: str, tmp_path: Path, signer: ProviderSigner) -> None:
    log = EvidenceLog.open(db_url, tmp_path / "ev2")
    run = log.begin_run("collect")
    [rec] = log.append(run, [NewRecord("s", "x.y", "s/1", {
        "password": "hunter2", "nested": {"token_value": "abc-123"},
        "header": "Authorization: PVEAPIToken=attest@pve!evidence=3f1c2a7e-5b9d", "url": "https://u:pw@h/x",
        "net0": "virtio=aa,secret=sesame,bridge=vmbr0"}, T0)])
    sha = log.put_artifact(b'{"data":{"ticket":"PVE:abc","x":1}}', "application/json")
    log.finish_run(run, "ok", signer)
    body = rec.body.decode()
    for secret in ("hunter2", "abc-123", "3f1c2a7e", "pw@", "sesame"):
        assert secret not in body
    assert "bridge=vmbr0" in body  # the rest of a property string survives
    assert b"PVE:abc" not in log.get_artifact(sha)
    log.close()


def test_identical_record_is_not_logged_twice(log: EvidenceLog, signer: ProviderSigner) -> None:
    run = log.begin_run("collect")
    rec = NewRecord("s", "k.k", "s/1", {"a": 1}, T0)
    assert len(log.append(run, [rec, rec])) == 1
    assert log.append(run, [rec]) == []


def test_edited_record_is_named(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    rec = next(log.records(subject="pve-main/qemu/102", run_id=2))
    forged = rec.body.replace(b'"vmid":102', b'"vmid":999')
    _exec(log, "UPDATE records SET body = :b WHERE idx = :i", b=forged, i=rec.idx)
    problems = _problems(log, anchors)
    assert any(f"record #{rec.idx}" in p and "altered" in p for p in problems), problems


def test_edit_with_recomputed_leaf_is_caught_by_the_signed_root(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    rec = next(log.records(subject="pve-main/qemu/100", run_id=2))
    forged = rec.body.replace(b'"vmid":100', b'"vmid":998')
    _exec(log, "UPDATE records SET body = :b, leaf_hash = :h WHERE idx = :i", b=forged,
          h=merkle.leaf_hash(forged), i=rec.idx)
    problems = _problems(log, anchors)
    assert any(f"#4–#{7}" in p and "checkpoint 2" in p for p in problems), problems


def test_deleted_record_is_named(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "DELETE FROM records WHERE idx = 5")
    problems = _problems(log, anchors)
    assert any("#5 missing" in p for p in problems), problems


def test_appended_record_is_named(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    body = canonical_json({"v": 1, "run": 1, "source": "pve-main", "kind": "proxmox.guest",
                           "subject": "pve-main/qemu/666", "collected_at": "2026-11-20T10:00:00Z",
                           "payload": {"vmid": 666}, "artifacts": []})
    _exec(log, "INSERT INTO records (idx, leaf_hash, body, run_id, source, kind, subject, collected_at) "
               "VALUES (12, :h, :b, 1, 'pve-main', 'proxmox.guest', 'pve-main/qemu/666', '2026-11-20T10:00:00Z')",
          h=merkle.leaf_hash(body), b=body)
    problems = _problems(log, anchors)
    assert any("#12" in p and "after the last signed checkpoint" in p for p in problems), problems


def test_truncated_log_is_named_even_with_its_checkpoints_removed(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "DELETE FROM records WHERE idx >= 8")
    _exec(log, "DELETE FROM checkpoints WHERE tree_size > 8")
    _exec(log, "UPDATE log_meta SET size = 8")
    problems = _problems(log, anchors)
    # the database alone now looks consistent: the witness file is what remembers
    assert any("checkpoint 3 (tree size 12) is in the witness file but was removed" in p for p in problems), problems


def test_truncated_records_under_a_checkpoint_are_named(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "DELETE FROM records WHERE idx >= 10")
    problems = _problems(log, anchors)
    assert any("truncated" in p and "#10–#11" in p for p in problems), problems


def test_checkpoint_signed_by_another_key_is_rejected(log: EvidenceLog, tmp_path: Path) -> None:
    from attest.pki import create_demo_pki

    other = create_demo_pki(tmp_path / "other", "Someone Else", b"pw")
    problems = _problems(log, load_trust_anchors([other.ca_cert]))
    assert any("which no trust anchor issued" in p for p in problems), problems


def test_forged_checkpoint_signature_is_rejected(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "UPDATE checkpoints SET tree_size = 11 WHERE id = 3")
    problems = _problems(log, anchors)
    assert any("checkpoint 3" in p for p in problems), problems


def test_inclusion_proofs_check_against_the_checkpoint(log: EvidenceLog) -> None:
    cp = log.latest_checkpoint()
    assert cp is not None
    leaves = log.leaf_hashes(cp.tree_size)
    proofs = log.inclusion_proofs([0, 5, 11], cp.tree_size)
    for i, proof in proofs.items():
        assert merkle.verify_inclusion(leaves[i], i, cp.tree_size, proof, cp.root_hash)
