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
from evidence.log import EvidenceLog, LogIntegrityError, NewRecord, RunInProgress

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _fill(log: EvidenceLog, signer: ProviderSigner, runs: int = 3, per_run: int = 4) -> None:
    for k in range(runs):
        run = log.begin_run("collect", signer)
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
    assert (outcome.tree_size, outcome.checkpoints) == (15, 3)  # 3 runs x (4 records + their attest.run)


def test_records_are_stored_as_exact_canonical_bytes(log: EvidenceLog) -> None:
    rec = next(log.records(subject="pve-main/qemu/101"))
    assert rec.body == canonical_json(json.loads(rec.body))  # JCS: sorted keys, no spaces
    assert rec.leaf_hash == merkle.leaf_hash(rec.body)
    assert "é ✓" in rec.body.decode()
    assert list(json.loads(rec.body)) == sorted(json.loads(rec.body))  # key order kept (not JSONB)


def test_secrets_are_scrubbed_before_hashing(db_url: str, tmp_path: Path, signer: ProviderSigner) -> None:
    log = EvidenceLog.open(db_url, tmp_path / "ev2")
    run = log.begin_run("collect", signer)
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
    run = log.begin_run("collect", signer)
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
    assert any("#5–#9" in p and "checkpoint 2" in p for p in problems), problems
    assert not any("checkpoint 3" in p for p in problems), problems  # the damage is blamed once


def test_deleted_record_is_named(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "DELETE FROM records WHERE idx = 5")
    problems = _problems(log, anchors)
    assert any("#5 missing" in p for p in problems), problems


def test_appended_record_is_named(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    body = canonical_json({"v": 1, "run": 1, "source": "pve-main", "kind": "proxmox.guest",
                           "subject": "pve-main/qemu/666", "collected_at": "2026-11-20T10:00:00Z",
                           "payload": {"vmid": 666}, "artifacts": []})
    _exec(log, "INSERT INTO records (idx, leaf_hash, body, run_id, source, kind, subject, collected_at) "
               "VALUES (15, :h, :b, 1, 'pve-main', 'proxmox.guest', 'pve-main/qemu/666', '2026-11-20T10:00:00Z')",
          h=merkle.leaf_hash(body), b=body)
    problems = _problems(log, anchors)
    assert any("#15" in p and "after the last signed checkpoint" in p for p in problems), problems


def test_truncated_log_is_named_even_with_its_checkpoints_removed(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "DELETE FROM records WHERE idx >= 10")
    _exec(log, "DELETE FROM checkpoints WHERE tree_size > 10")
    _exec(log, "UPDATE log_meta SET size = 10")
    _exec(log, "DELETE FROM runs WHERE id = 3")
    problems = _problems(log, anchors)
    # the database alone now looks consistent: the witness file is what remembers
    assert any("checkpoint 3 (tree size 15) is in the witness file but was removed" in p for p in problems), problems


def test_truncated_records_under_a_checkpoint_are_named(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "DELETE FROM records WHERE idx >= 12")
    problems = _problems(log, anchors)
    assert any("truncated" in p and "#12–#14" in p for p in problems), problems


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


def test_signing_refuses_a_log_whose_signed_part_was_rewritten(log: EvidenceLog, signer: ProviderSigner) -> None:
    rec = next(log.records(subject="pve-main/qemu/100", run_id=2))
    forged = rec.body.replace(b'"vmid":100', b'"vmid":997')
    _exec(log, "UPDATE records SET body = :b, leaf_hash = :h WHERE idx = :i", b=forged,
          h=merkle.leaf_hash(forged), i=rec.idx)
    run = log.begin_run("evaluate", signer)
    with pytest.raises(LogIntegrityError, match="no longer matches signed checkpoint 3"):
        log.finish_run(run, "ok", signer)


def test_signing_refuses_records_slipped_in_under_another_run(log: EvidenceLog, signer: ProviderSigner) -> None:
    body = canonical_json({"v": 1, "run": 1, "source": "pve-main", "kind": "proxmox.guest",
                           "subject": "pve-main/qemu/666", "collected_at": "2026-11-20T10:00:00Z",
                           "payload": {"vmid": 666, "tags": ["t-acme"]}, "artifacts": []})
    _exec(log, "INSERT INTO records (idx, leaf_hash, body, run_id, source, kind, subject, collected_at) "
               "VALUES (15, :h, :b, 1, 'pve-main', 'proxmox.guest', 'pve-main/qemu/666', '2026-11-20T10:00:00Z')",
          h=merkle.leaf_hash(body), b=body)
    _exec(log, "UPDATE log_meta SET size = 16")
    run = log.begin_run("collect", signer)
    with pytest.raises(LogIntegrityError, match="record #15 claims run 1"):
        log.finish_run(run, "ok", signer)


def test_reading_an_edited_record_fails_loudly(log: EvidenceLog) -> None:
    rec = next(log.records(subject="pve-main/qemu/101", run_id=3))
    _exec(log, "UPDATE records SET body = :b WHERE idx = :i", b=rec.body.replace(b"101", b"109"), i=rec.idx)
    with pytest.raises(LogIntegrityError, match=f"record #{rec.idx}"):
        list(log.records(run_id=3))


def test_text_rewrite_of_a_record_is_reported_not_a_crash(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    if log.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's dynamic typing is what lets a shell turn a BLOB into TEXT")
    _exec(log, "UPDATE records SET body = CAST(body AS TEXT) WHERE idx = 3")
    problems = _problems(log, anchors)
    assert any("record #3" in p and "text" in p for p in problems), problems


def test_middle_checkpoint_removed_everywhere_is_named(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "DELETE FROM checkpoints WHERE id = 2")
    lines = log.witness_path.read_text().splitlines()
    log.witness_path.write_text("\n".join(line for line in lines if '"id": 2,' not in line) + "\n")
    problems = _problems(log, anchors)
    assert any("checkpoint(s) 2 missing" in p for p in problems), problems


def test_deleted_head_row_is_named_and_never_silently_recreated(log: EvidenceLog, anchors: list, db_url: str,
                                                               tmp_path: Path) -> None:  # type: ignore[type-arg]
    _exec(log, "DELETE FROM log_meta")
    assert any("log_meta" in p for p in _problems(log, anchors))
    with pytest.raises(LogIntegrityError, match="log_meta"):
        EvidenceLog.open(db_url, tmp_path / "evidence")


def test_missing_witness_line_is_restored_from_a_validly_signed_checkpoint(log: EvidenceLog, anchors: list,
                                                                            db_url: str, tmp_path: Path) -> None:  # type: ignore[type-arg]
    lines = log.witness_path.read_text().splitlines()
    log.witness_path.write_text("\n".join(lines[:-1]) + "\n")  # as if it crashed before writing it
    assert any("not in the witness file" in p for p in _problems(log, anchors))
    reopened = EvidenceLog.open(db_url, tmp_path / "evidence")
    assert reopened.verify(anchors).ok
    reopened.close()


def test_interrupted_run_is_closed_as_aborted_and_never_used(log: EvidenceLog, signer: ProviderSigner,
                                                             anchors: list) -> None:  # type: ignore[type-arg]
    run = log.begin_run("collect", signer)
    log.append(run, [NewRecord("pve-main", "proxmox.guest", "pve-main/qemu/555", {"vmid": 555}, T0)])
    # the process that ran it is gone
    _exec(log, "UPDATE runs SET owner = 'gone-host:1', started_at = '2020-01-01T00:00:00Z' WHERE id = :r", r=run)
    # until a run closes it, its unsigned tail is reported (an insertion looks exactly like it)
    assert any("#15" in p and "outside any live run" in p for p in _problems(log, anchors))
    nxt = log.begin_run("collect", signer)
    aborted = [r.payload for r in log.records(kind="attest.run") if r.payload["run"] == run]
    assert aborted and aborted[0]["status"] == "aborted"
    log.finish_run(nxt, "ok", signer, {"sources": []})
    outcome = log.verify(anchors)
    assert outcome.ok, outcome.problems
    assert any("aborted" in n for n in outcome.notes)


def test_a_second_live_run_is_refused(log: EvidenceLog, signer: ProviderSigner) -> None:
    run = log.begin_run("collect", signer)
    with pytest.raises(RunInProgress, match=f"run {run}"):
        log.begin_run("collect", signer)
    log.finish_run(run, "ok", signer)


def test_concurrent_appends_never_reuse_a_position(log: EvidenceLog, signer: ProviderSigner, anchors: list) -> None:  # type: ignore[type-arg]
    import threading

    run = log.begin_run("collect", signer)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                log.append(run, [NewRecord("s", "k.k", f"s/{n}/{i}", {"n": n, "i": i}, T0)])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    log.finish_run(run, "ok", signer)
    outcome = log.verify(anchors)
    assert outcome.ok and outcome.tree_size == 15 + 40 + 1, outcome.problems


def test_huge_integers_survive_canonicalisation(log: EvidenceLog, signer: ProviderSigner) -> None:
    run = log.begin_run("collect", signer)
    [rec] = log.append(run, [NewRecord("s", "k.k", "s/big", {"netin": 2**60, "ok": True, "small": 7}, T0)])
    log.finish_run(run, "ok", signer)
    assert rec.payload == {"netin": str(2**60), "ok": True, "small": 7}


def test_a_run_reopened_by_editing_its_status_is_refused(log: EvidenceLog, signer: ProviderSigner,
                                                          anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "UPDATE runs SET status = 'running', owner = 'elsewhere|x|1|1', "
               "started_at = '2020-01-01T00:00:00Z' WHERE id = 3")
    assert any("run 3 is marked as running but its signed record" in p for p in _problems(log, anchors))
    with pytest.raises(LogIntegrityError, match="run 3 is marked as running but a signed record already closed it"):
        log.begin_run("evaluate", signer)


def test_a_forged_checkpoint_root_column_stops_signing(log: EvidenceLog, signer: ProviderSigner) -> None:
    rec = next(log.records(subject="pve-main/qemu/100", run_id=3))
    forged = rec.body.replace(b'"vmid":100', b'"vmid":996')
    _exec(log, "UPDATE records SET body = :b, leaf_hash = :h WHERE idx = :i", b=forged, h=merkle.leaf_hash(forged),
          i=rec.idx)
    new_root = merkle.root(log.leaf_hashes(15))
    _exec(log, "UPDATE checkpoints SET root_hash = :r WHERE id = 3", r=new_root)
    run = log.begin_run("evaluate", signer)
    with pytest.raises(LogIntegrityError, match="no longer matches signed checkpoint 3"):
        log.finish_run(run, "ok", signer)


def test_a_rolled_back_database_is_not_signed_again(log: EvidenceLog, signer: ProviderSigner,
                                                   anchors: list) -> None:  # type: ignore[type-arg]
    _exec(log, "DELETE FROM records WHERE idx >= 10")
    _exec(log, "DELETE FROM checkpoints WHERE id = 3")
    _exec(log, "DELETE FROM runs WHERE id = 3")
    _exec(log, "UPDATE log_meta SET size = 10")
    run = log.begin_run("evaluate", signer)
    with pytest.raises(LogIntegrityError, match="rolled back"):
        log.finish_run(run, "ok", signer)


def test_a_fork_in_the_witness_file_is_named(log: EvidenceLog, anchors: list) -> None:  # type: ignore[type-arg]
    lines = log.witness_path.read_text().splitlines()
    forged = lines[-1].replace('"id": 3', '"id": 2')
    log.witness_path.write_text("\n".join([*lines, forged]) + "\n")
    assert any("checkpoint 2 appears twice with different content" in p for p in _problems(log, anchors))


def test_verify_does_not_repair_a_deleted_witness_file(log: EvidenceLog, anchors: list, db_url: str,
                                                       tmp_path: Path) -> None:  # type: ignore[type-arg]
    log.witness_path.unlink()
    reopened = EvidenceLog.open(db_url, tmp_path / "evidence")  # an ordinary command: no silent rewrite
    assert any("witness file" in p and "missing" in p for p in _problems(reopened, anchors))
    reopened.close()


def test_unreadable_binary_column_is_reported_not_a_crash(log: EvidenceLog, anchors: list, db_url: str,
                                                          tmp_path: Path) -> None:  # type: ignore[type-arg]
    if log.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite lets a shell store non-UTF-8 text in a BLOB column")
    _exec(log, "UPDATE checkpoints SET signature = CAST(x'ff00ff' AS TEXT) WHERE id = 2")
    _exec(log, "UPDATE records SET leaf_hash = CAST(x'fffe' AS TEXT) WHERE idx = 4")
    reopened = EvidenceLog.open(db_url, tmp_path / "evidence", repair=False)
    problems = _problems(reopened, anchors)
    assert any("checkpoint 2" in p for p in problems) and any("record #4" in p for p in problems), problems
    EvidenceLog.open(db_url, tmp_path / "evidence").close()  # an ordinary open does not crash either
    reopened.close()


def _racer(db_url: str, evidence_dir: str, p12: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import SIGNING_PASSWORD

    log = EvidenceLog.open(db_url, Path(evidence_dir))
    signer = ProviderSigner.load(Path(p12), SIGNING_PASSWORD)
    barrier.wait()
    try:
        run = log.begin_run("collect", signer, wait_s=30)
        log.append(run, [NewRecord("s", "k.k", f"s/{run}/{i}", {"i": i}, T0) for i in range(20)])
        log.finish_run(run, "ok", signer)
        results.put("ok")
    except Exception as exc:  # reported to the parent
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        log.close()


def test_runs_started_at_the_same_instant_are_serialised(log: EvidenceLog, db_url: str, tmp_path: Path,
                                                        demo_pki: DemoPki, anchors: list) -> None:  # type: ignore[type-arg]
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(db_url, str(tmp_path / "evidence"), str(demo_pki.signer_p12), barrier,
                                              results)) for _ in range(3)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert outcomes == ["ok"] * 3, outcomes
    outcome = log.verify(anchors)
    assert outcome.ok and outcome.checkpoints == 6, outcome.problems


def test_artifacts_put_from_threads_are_stored_once_and_cited_safely(log: EvidenceLog, signer: ProviderSigner,
                                                                     anchors: list) -> None:  # type: ignore[type-arg]
    from concurrent.futures import ThreadPoolExecutor

    answers = [json.dumps({"data": {"n": i % 25}}).encode() for i in range(400)]
    answers += [b'{"data":{"ticket":"PVE:secret-ticket"}}'] * 10
    run = log.begin_run("collect", signer)
    with ThreadPoolExecutor(8) as pool:
        shas = list(pool.map(lambda data: log.put_artifact(data, "application/json"), answers))
    assert len(set(shas)) == 26
    assert b"secret-ticket" not in log.get_artifact(shas[-1])
    log.append(run, [NewRecord("s", "k.k", f"s/{i}", {"i": i}, T0, artifacts=(sha,)) for i, sha in enumerate(shas)])
    log.finish_run(run, "ok", signer)
    with log.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM artifacts")).scalar() == 26
    assert log.verify(anchors).ok


def test_artifacts_seen_in_an_earlier_run_are_cited_again(log: EvidenceLog, signer: ProviderSigner, db_url: str,
                                                          tmp_path: Path, anchors: list) -> None:  # type: ignore[type-arg]
    data = b'{"data":[1,2,3]}'
    for opened in (log, EvidenceLog.open(db_url, tmp_path / "evidence")):  # a new process: nothing remembered
        run = opened.begin_run("collect", signer)
        sha = opened.put_artifact(data, "application/json")
        opened.append(run, [NewRecord("s", "k.k", f"s/{run}", {"run": run}, T0, artifacts=(sha,))])
        opened.finish_run(run, "ok", signer)
    opened.close()
    assert log.verify(anchors).ok


def test_artifact_rows_survive_a_failed_append(log: EvidenceLog, signer: ProviderSigner, anchors: list,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[type-arg]
    run = log.begin_run("collect", signer)
    sha = log.put_artifact(b'{"data":"x"}', "application/json")
    rec = NewRecord("s", "k.k", "s/1", {"a": 1}, T0, artifacts=(sha,))

    def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(log, "_insert_rows", broken)
        with pytest.raises(RuntimeError):
            log.append(run, [rec])
    log.append(run, [rec])  # the artifact row, rolled back with the first attempt, comes with this one
    log.finish_run(run, "ok", signer)
    assert log.verify(anchors).ok


def test_a_crash_before_signing_leaves_only_an_unreferenced_blob(log: EvidenceLog, signer: ProviderSigner,
                                                                 db_url: str, tmp_path: Path,
                                                                 anchors: list) -> None:  # type: ignore[type-arg]
    crashed = EvidenceLog.open(db_url, tmp_path / "evidence")
    run = crashed.begin_run("collect", signer)
    sha = crashed.put_artifact(b'{"data":"lost"}', "application/json")
    _exec(log, "UPDATE runs SET owner = 'gone-host:1', started_at = '2020-01-01T00:00:00Z' WHERE id = :r", r=run)
    crashed.engine.dispose()  # the process died: its pending artifact row is gone, its blob is not
    assert log.get_artifact(sha) == b'{"data":"lost"}'
    log.finish_run(log.begin_run("collect", signer), "ok", signer)  # closes the dead run as aborted
    assert log.verify(anchors).ok


def test_closing_the_log_stores_pending_artifact_rows(db_url: str, tmp_path: Path, anchors: list) -> None:  # type: ignore[type-arg]
    log = EvidenceLog.open(db_url, tmp_path / "ev3")
    sha = log.put_artifact(b"a manual document", "text/plain")
    log.close()
    with log.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sha256 FROM artifacts")).scalars().all() == [sha]
    log.engine.dispose()


def test_signing_refuses_a_body_edited_during_the_run(log: EvidenceLog, signer: ProviderSigner) -> None:
    run = log.begin_run("collect", signer)
    [rec] = log.append(run, [NewRecord("s", "k.k", "s/1", {"ok": True}, T0)])
    _exec(log, "UPDATE records SET body = :b WHERE idx = :i", b=rec.body.replace(b"true", b"false"), i=rec.idx)
    with pytest.raises(LogIntegrityError, match=f"record #{rec.idx} does not match its leaf hash"):
        log.finish_run(run, "ok", signer)


def test_a_big_append_is_placed_in_order_with_duplicates_skipped(log: EvidenceLog, signer: ProviderSigner,
                                                                 anchors: list) -> None:  # type: ignore[type-arg]
    run = log.begin_run("collect", signer)
    first = log.append(run, [NewRecord("s", "k.k", f"s/{i}", {"i": i}, T0) for i in range(0, 1200, 2)])
    again = [NewRecord("s", "k.k", f"s/{i}", {"i": i}, T0) for i in range(1200)]  # half of them already logged
    second = log.append(run, again)
    assert [r.subject for r in second] == [f"s/{i}" for i in range(1, 1200, 2)]
    assert [r.idx for r in first + second] == list(range(15, 15 + 1200))
    log.finish_run(run, "ok", signer)
    assert [r.subject for r in log.records(run_id=run, source="s")] == [r.subject for r in first + second]
    assert log.verify(anchors).ok
