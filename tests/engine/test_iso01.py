"""ISO-01 "dedicated instance" judged from evidence collected from the lab, on SQLite and
PostgreSQL: verdicts, reasons, staleness, failed and partial collections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attest.attestation import Verdict
from attest.collect import run_collection
from attest.engine import evaluate
from attest.period import current_period
from attest.signing import ProviderSigner
from evidence.log import EvidenceLog
from tests.conftest import make_workspace

SHARED = ("moretti", "nautilus")


def _signer(ws) -> ProviderSigner:  # type: ignore[no-untyped-def]
    return ProviderSigner.load(ws.resolve(ws.model.provider.signing.pkcs12_file), ws.signing_password())


@pytest.fixture
def ws(tmp_path: Path, lab, db_url: str):  # type: ignore[no-untyped-def]
    return make_workspace(tmp_path / "ws", lab.url, lab.ca_path, database_url=db_url)


def _iso01(ws, log, as_of=None):  # type: ignore[no-untyped-def]
    period = current_period(ws.model.time_zone)
    ev = evaluate(ws, log, _signer(ws), period, as_of)
    return {t: next(r for r in results if r.control_id == "ISO-01") for t, results in ev.results.items()}, ev


def test_shared_vm_fails_both_tenants_and_names_the_vm(ws) -> None:  # type: ignore[no-untyped-def]
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    assert run_collection(ws, log, _signer(ws)).all_ok
    results, ev = _iso01(ws, log)
    assert len(results) == 12
    for tenant, result in results.items():
        expected = Verdict.FAIL if tenant in SHARED else Verdict.PASS
        assert result.verdict == expected, (tenant, result.reason)
    for tenant in SHARED:
        text = results[tenant].reason["en"] + " ".join(f["en"] for f in results[tenant].facts)
        assert "VM 120 'pbx-shared-01'" in results[tenant].reason["en"]
        assert "VM 120" in results[tenant].reason["it"]
        other = next(t for t in SHARED if t != tenant)
        assert other not in text.lower()  # the other customer is never named
    assert "2 PBX instances" in results["acme"].reason["en"]
    # every result cites the config record and the guest records it used, all under the checkpoint
    cited = set(results["acme"].evidence)
    assert ev.config_record.leaf_hex in cited
    acme_guests = {r.leaf_hex for r in log.records(kind="proxmox.guest") if r.subject.endswith(("/101", "/102"))}
    assert acme_guests <= cited
    assert all(ev.checkpoint.tree_size > r.idx for r in log.records() if r.leaf_hex in cited)
    log.close()


def test_stale_evidence_is_insufficient_never_pass(ws) -> None:  # type: ignore[no-untyped-def]
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    run_collection(ws, log, _signer(ws))
    results, _ = _iso01(ws, log, as_of=datetime.now(UTC) + timedelta(hours=37))
    assert {r.verdict for r in results.values()} == {Verdict.INSUFFICIENT_EVIDENCE}
    assert "at most 36 h" in results["acme"].reason["en"]
    log.close()


def test_no_evidence_yet_is_insufficient(ws) -> None:  # type: ignore[no-untyped-def]
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    results, _ = _iso01(ws, log)
    assert {r.verdict for r in results.values()} == {Verdict.INSUFFICIENT_EVIDENCE}
    assert "No evidence had been collected from pve-main" in results["acme"].reason["en"]
    log.close()


def test_later_failed_collection_leaves_the_earlier_fresh_verdict_standing(ws, lab_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    run_collection(ws, log, _signer(ws))
    # Same workspace and log; the source now answers 500 on /pools.
    from attest.config import load_config
    from attest.lab.world import demo_world
    from attest.workspace import config_document, write_config

    broken = lab_factory(error_paths={"/pools": 500})
    doc = config_document(demo_world(), broken.url, str(broken.ca_path))
    doc["database_url"] = ws.database_url
    ws_broken = load_config(write_config(ws.base, doc))
    summary = run_collection(ws_broken, log, _signer(ws_broken))
    assert summary.status == "partial"
    results, _ = _iso01(ws_broken, log)
    assert results["acme"].verdict == Verdict.PASS
    assert results["moretti"].verdict == Verdict.FAIL
    log.close()


def test_first_collection_failing_midway_is_insufficient(lab_factory, tmp_path: Path, db_url: str) -> None:  # type: ignore[no-untyped-def]
    broken = lab_factory(error_paths={"/nodes/pve2/qemu/103/config": 500})
    ws = make_workspace(tmp_path / "ws", broken.url, broken.ca_path, database_url=db_url)
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    summary = run_collection(ws, log, _signer(ws))
    assert summary.status == "partial"
    assert "103" in (summary.sources[0].error or "")
    assert any(r.subject == "pve-main/qemu/101" for r in log.records(kind="proxmox.guest"))  # kept
    results, _ = _iso01(ws, log)
    assert {r.verdict for r in results.values()} == {Verdict.INSUFFICIENT_EVIDENCE}
    assert "did not complete" in results["acme"].reason["en"]
    log.close()


def test_token_that_cannot_see_everything_is_insufficient(lab, tmp_path: Path, db_url: str) -> None:  # type: ignore[no-untyped-def]
    from attest.lab.world import demo_world

    narrow = next(t for t in demo_world().tokens if t.tokenid == "narrow")
    ws = make_workspace(tmp_path / "ws", lab.url, lab.ca_path, database_url=db_url, token_id=narrow.full_id)
    (ws.base / "secrets" / "pve-main.token").write_text(narrow.secret)
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    # The narrow token cannot read /cluster/status at all: the collection fails, so no pass.
    run_collection(ws, log, _signer(ws))
    results, _ = _iso01(ws, log)
    assert {r.verdict for r in results.values()} == {Verdict.INSUFFICIENT_EVIDENCE}
    log.close()


def test_config_change_leaves_a_trace(ws) -> None:  # type: ignore[no-untyped-def]
    from attest.config import load_config

    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    run_collection(ws, log, _signer(ws))
    _iso01(ws, log)
    text = ws.path.read_text().replace("t-moretti", "t-moretti-renamed")
    ws.path.write_text(text)
    changed = load_config(ws.path)
    results, _ = _iso01(changed, log)
    digests = [r.payload["digest"] for r in log.records(kind="attest.config")]
    assert len(digests) == 2 and digests[0] != digests[1]
    assert results["moretti"].verdict == Verdict.FAIL  # no instance any more: t-moretti-renamed tags nothing
    assert "No PBX instance" in results["moretti"].reason["en"]
    assert results["nautilus"].verdict == Verdict.PASS  # the shared VM now belongs to it alone
    log.close()


def test_a_later_partial_collection_showing_a_shared_vm_turns_the_verdict_to_fail(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    from attest.config import load_config
    from attest.lab.server import LabServer
    from attest.lab.world import demo_world
    from attest.workspace import config_document, write_config

    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    run_collection(ws, log, _signer(ws))
    world = demo_world()
    # Someone tags acme's VM 101 for bellini too; the next collection then dies before finishing.
    guests = tuple(dataclasses.replace(g, tags=(*g.tags, "t-bellini")) if g.vmid == 101 else g for g in world.guests)
    changed = dataclasses.replace(world, guests=guests)
    with LabServer(changed, tmp_path / "lab2", error_paths={"/nodes/pve2/qemu/103/config": 500}) as lab2:
        doc = config_document(world, lab2.url, str(lab2.ca_path))
        doc["database_url"] = ws.database_url
        ws2 = load_config(write_config(ws.base, doc))
        assert run_collection(ws2, log, _signer(ws2)).status == "partial"
    results, _ = _iso01(ws2, log)
    assert results["acme"].verdict == Verdict.FAIL, results["acme"].reason
    assert "VM 101" in results["acme"].reason["en"]
    assert results["bellini"].verdict == Verdict.FAIL
    assert results["conti"].verdict == Verdict.PASS  # untouched tenants still stand on the complete run
    log.close()


def test_an_edited_record_stops_the_evaluation(ws) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from evidence.log import LogIntegrityError

    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    run_collection(ws, log, _signer(ws))
    with log.engine.begin() as conn:
        row = conn.execute(sa.text("SELECT idx, body FROM records WHERE subject = 'pve-main/qemu/120'")).one()
        forged = bytes(row.body).replace(b"t-nautilus", b"t-moretti")
        conn.execute(sa.text("UPDATE records SET body = :b WHERE idx = :i"), {"b": forged, "i": row.idx})
    with pytest.raises(LogIntegrityError):
        _iso01(ws, log)
    log.close()


def test_a_pool_the_token_may_not_audit_is_insufficient_not_a_pass(tmp_path: Path, db_url: str) -> None:
    """VM 101 is tagged for acme but sits in bellini's pool, which the token may not audit: PVE
    then hides the pool from the guest's entry, so acme must not pass on the tag alone."""
    import dataclasses

    from attest.lab.server import LabServer
    from attest.lab.world import AUDITOR_PRIVS, LabToken, demo_world

    world = demo_world()
    guests = tuple(dataclasses.replace(g, pool="bellini") if g.vmid == 101 else g for g in world.guests)
    token = LabToken("attest@pve", "poolblind", "5b0c7f3e-2d51-4a8e-9f60-3c1d2e4b5a69",
                     {"/": AUDITOR_PRIVS, "/pool/bellini": ("VM.Audit",)})
    world = dataclasses.replace(world, guests=guests, tokens=(*world.tokens, token))
    with LabServer(world, tmp_path / "lab") as lab:
        ws = make_workspace(tmp_path / "ws", lab.url, lab.ca_path, database_url=db_url, token_id=token.full_id)
        (ws.base / "secrets" / "pve-main.token").write_text(token.secret)
        log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
        assert run_collection(ws, log, _signer(ws)).all_ok
    results, _ = _iso01(ws, log)
    assert results["acme"].verdict == Verdict.INSUFFICIENT_EVIDENCE, results["acme"].reason
    assert "Pool.Audit on 1 narrower path(s) below /pool" in results["acme"].reason["en"]
    assert "bellini" not in results["acme"].reason["en"]
    log.close()


def test_pool_membership_comes_from_the_pool_records(ws) -> None:  # type: ignore[no-untyped-def]
    """esposito is recognised by its pool only; its instance must be found through the pool."""
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    run_collection(ws, log, _signer(ws))
    results, _ = _iso01(ws, log)
    assert results["esposito"].verdict == Verdict.PASS
    assert "pool esposito" in results["esposito"].facts[0]["en"]
    pool_leaf = next(r.leaf_hex for r in log.records(kind="proxmox.pool") if r.subject.endswith("/esposito"))
    assert pool_leaf in results["esposito"].evidence
    log.close()
