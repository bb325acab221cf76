"""The portal audit trail: staged entries are sealed into the evidence log as `portal.audit`
records under a signed checkpoint, never twice (even after a sealer died between appending and
marking), exported per tenant with proofs that verify offline, and pruned after the retention
period: staging rows deleted, payloads in the log redacted with their leaves kept
(tests/portal/test_audit_retention.py covers the log side)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from attest.portal import audit
from attest.portal.audit_export import export_tenant, verify_export
from attest.portal.context import Portal
from attest.portal.models import AuditEntry
from evidence.log import NewRecord
from evidence.models import Run
from tests.cli.test_demo_end_to_end import attest

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def portal(portal_workspace: tuple[Path, dict[str, str]]) -> Iterator[Portal]:
    """A portal over the workspace without a server: no background sealer races the assertions."""
    from attest.cli import _signer
    from attest.config import load_config
    from evidence.log import EvidenceLog

    ws, _docs = portal_workspace
    loaded = load_config(ws / "attest.yaml")
    log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
    try:
        yield Portal(loaded, log, _signer(loaded), clock=Clock())
    finally:
        log.close()


@pytest.fixture()
def clock(portal: Portal) -> Iterator[Clock]:
    assert isinstance(portal.clock, Clock)
    yield portal.clock
    portal.clock.now = T0


def _rows(portal: Portal) -> list[AuditEntry]:
    with portal.db() as s:
        rows = list(s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
        s.expunge_all()
        return rows


def _audit_records(portal: Portal) -> list[tuple[int, dict]]:  # type: ignore[type-arg]
    return [(r.idx, r.payload) for r in portal.log.records(kind=audit.KIND)]


def test_staged_entries_are_sealed_into_the_log_under_a_signed_checkpoint(portal: Portal,
                                                                          portal_workspace: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    audit.record(portal, None, "login", "ok", account="anna", tenant="acme")
    audit.record(portal, None, "download", "ok", account="anna", tenant="acme", detail={"document": "AT-X"})
    audit.record(portal, None, "share_use", "denied", link="SL-ABC", tenant="bellini", detail={"step": "view"})
    audit.record(portal, None, "verify", "ok", detail={"kind": "pdf"})
    checkpoints = len(portal.log.checkpoints())

    assert audit.seal_pending(portal) == 4
    assert len(portal.log.checkpoints()) == checkpoints + 1  # one run, one checkpoint
    rows = _rows(portal)
    assert all(r.sealed_idx is not None for r in rows)
    signed = portal.log.signed_size()
    by_idx = {rec.idx: rec for rec in portal.log.records(kind=audit.KIND)}
    for row in rows:
        rec = by_idx[row.sealed_idx]  # type: ignore[index]
        assert rec.idx < signed and rec.source == "portal"
        assert rec.subject == (f"tenant/{row.tenant_id}" if row.tenant_id else "portal")
        assert rec.payload == {"entry": row.id, "at": row.at, "action": row.action, "outcome": row.outcome,
                               "account": row.account, "link": row.link, "tenant": row.tenant_id,
                               "client": "cli", "detail": json.loads(row.detail)}
    assert by_idx[rows[1].sealed_idx].payload["detail"] == {"document": "AT-X"}  # type: ignore[index]

    assert audit.seal_pending(portal) == 0  # nothing staged: no run, no checkpoint
    assert len(portal.log.checkpoints()) == checkpoints + 1
    ws = portal_workspace[0]
    proc = attest("evidence", "verify", "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_failure_after_appending_never_seals_twice(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    audit.record(portal, None, "login", "ok", account="bruno", tenant="acme")
    entry = _rows(portal)[-1].id

    def crash(*_: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(audit, "_mark", crash)
    with pytest.raises(RuntimeError):
        audit.seal_pending(portal)
    monkeypatch.undo()
    appended = [idx for idx, p in _audit_records(portal) if p["entry"] == entry]
    assert len(appended) == 1 and _rows(portal)[-1].sealed_idx is None  # in the log, not marked

    assert audit.seal_pending(portal) == 0  # reconciled, not appended again
    assert [idx for idx, p in _audit_records(portal) if p["entry"] == entry] == appended
    assert _rows(portal)[-1].sealed_idx == appended[0]


def test_a_sealer_that_died_mid_run_is_reconciled_by_the_next(portal: Portal) -> None:
    """The process died after its append committed, before the checkpoint and the marking: its run
    is closed as aborted by the next sealer, whose reconciliation marks the rows."""
    audit.record(portal, None, "logout", "ok", account="carla", tenant="bellini")
    row = _rows(portal)[-1]
    log = portal.log
    run_id = log.begin_run(audit.RUN_PURPOSE, portal.signer)
    (stored,) = log.append(run_id, [NewRecord(source=audit.SOURCE, kind=audit.KIND, subject="tenant/bellini",
                                              payload=audit.payload_of(row), collected_at=T0)])
    with portal.db() as s:  # as if another host's process had started it long ago and vanished
        s.execute(update(Run).where(Run.id == run_id).values(owner="gone-host|x|1|1",
                                                             started_at="2000-01-01T00:00:00Z"))

    assert audit.seal_pending(portal) == 0
    assert _rows(portal)[-1].sealed_idx == stored.idx
    assert [idx for idx, p in _audit_records(portal) if p["entry"] == row.id] == [stored.idx]
    assert log.run_statuses()[run_id] == "aborted" and stored.idx < log.signed_size()


def test_export_holds_one_tenants_entries_and_verifies(portal: Portal, clock: Clock,
                                                       portal_workspace: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    clock.now = T0 + timedelta(days=3)
    audit.record(portal, None, "download", "ok", account="anna", tenant="acme", detail={"late": True})
    audit.record(portal, None, "download", "ok", account="bea", tenant="bellini")
    audit.seal_pending(portal)
    from attest.verify import load_trust_anchors

    anchors = load_trust_anchors([portal_workspace[0] / "keys" / "demo-ca.pem"])
    data = export_tenant(portal, "acme", trust_anchors=anchors)
    verified = verify_export(data, anchors)
    assert verified.tenant == "acme" and verified.tree_size == portal.log.signed_size()
    acme = [r for r in _rows(portal) if r.tenant_id == "acme"]
    assert [p["entry"] for p in verified.entries] == [r.id for r in acme]
    assert {p["tenant"] for p in verified.entries} == {"acme"}
    # "bea" quoted, as the account appears in a record: bare, it turns up in hex digests by chance.
    assert b"bellini" not in data and b'\\"bea\\"' not in data

    later = verify_export(export_tenant(portal, "acme", since=T0 + timedelta(days=1)), anchors)
    assert [p["detail"] for p in later.entries] == [{"late": True}]
    assert verify_export(export_tenant(portal, "acme", until=T0 + timedelta(days=1)), anchors).entries == \
        verified.entries[:-1]

    tampered = data.replace(b'\\"account\\":\\"anna\\"', b'\\"account\\":\\"anne\\"', 1)
    assert tampered != data
    with pytest.raises(ValueError, match="leaf hash"):
        verify_export(tampered, anchors)
    lines = data.splitlines()
    dropped = b"\n".join(lines[:1] + lines[2:])
    with pytest.raises(ValueError, match="announces"):
        verify_export(dropped, anchors)


def test_cli_export_writes_a_verifiable_file(portal: Portal, portal_workspace: tuple[Path, dict],  # type: ignore[type-arg]
                                             tmp_path: Path) -> None:
    ws = portal_workspace[0]
    out = tmp_path / "acme-audit.jsonl"
    proc = attest("audit", "export", "--tenant", "acme", "--out", out, "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from attest.verify import load_trust_anchors

    verified = verify_export(out.read_bytes(), load_trust_anchors([ws / "keys" / "demo-ca.pem"]))
    assert verified.entries and {p["tenant"] for p in verified.entries} == {"acme"}
    again = attest("audit", "export", "--tenant", "acme", "--out", out, "--config", ws / "attest.yaml", cwd=ws)
    assert again.returncode == 2 and "exists" in again.stderr
    unknown = attest("audit", "export", "--tenant", "nobody", "--out", tmp_path / "x.jsonl",
                     "--config", ws / "attest.yaml", cwd=ws)
    assert unknown.returncode == 2 and not (tmp_path / "x.jsonl").exists()


def test_retention_prunes_sealed_staging_rows_and_keeps_the_logs_leaves(portal: Portal, clock: Clock) -> None:
    audit.record(portal, None, "login", "ok", account="old", tenant="acme")
    audit.seal_pending(portal)
    in_log = len(_audit_records(portal))
    clock.now = T0 + timedelta(days=portal.settings.audit_retention_days + 10)
    audit.record(portal, None, "login", "ok", account="new", tenant="acme")
    assert audit.seal_pending(portal) == 1  # and prunes after sealing
    assert [r.account for r in _rows(portal)] == ["new"]  # every sealed row past retention went
    # The log keeps every leaf; the payloads past retention were removed from it.
    kept = list(portal.log.records(kind=audit.KIND, include_redacted=True))
    assert len(kept) == in_log + 1 and sum(r.redacted for r in kept) == in_log
    assert [p["account"] for _, p in _audit_records(portal)] == ["new"]

    audit.record(portal, None, "login", "ok", account="unsealed", tenant="acme")
    with portal.db() as s:  # however old a staged row looks, it stays until it is sealed
        s.execute(update(AuditEntry).where(AuditEntry.account == "unsealed").values(at="2020-01-01T00:00:00Z"))
    assert audit.prune(portal).staging == 0
    assert [r.account for r in _rows(portal)] == ["new", "unsealed"]
