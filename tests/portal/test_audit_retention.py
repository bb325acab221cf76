"""Audit retention reaches the evidence log: past `portal.audit_retention_days`, sealed
`portal.audit` payloads (usernames, client addresses) are removed from the log after sealing or by
`attest audit prune`, their leaves kept; `attest evidence verify` still passes and counts them,
the tenant export lists them as redacted with valid proofs, and the portal's document view is
unaffected."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attest.canonical import utc_iso
from attest.portal import audit
from attest.portal.audit_export import export_tenant, verify_export
from attest.portal.context import Portal
from evidence.log import REDACTION_KIND
from tests.cli.test_demo_end_to_end import attest

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=500)  # past the default 400 days
RECENT = NOW - timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = OLD

    def __call__(self) -> datetime:
        return self.now


def _with_retention(portal: Portal, days: int) -> None:
    """Swap in a copy of the (frozen) config with another retention period."""
    changed = copy.copy(portal.loaded)
    model = portal.loaded.model
    changed.model = model.model_copy(update={"portal": model.portal.model_copy(update={"audit_retention_days": days})})
    portal.loaded = changed


@pytest.fixture(scope="module")
def portal(portal_workspace: tuple[Path, dict[str, str]]) -> Iterator[Portal]:
    """A portal without a server. In-process it keeps entries ten years, so sealing removes
    nothing; the CLI reads attest.yaml (the default 400 days) and does."""
    from attest.cli import _signer
    from attest.config import load_config
    from evidence.log import EvidenceLog

    ws, _docs = portal_workspace
    loaded = load_config(ws / "attest.yaml")
    assert loaded.model.portal.audit_retention_days == 400
    log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
    p = Portal(loaded, log, _signer(loaded), clock=Clock())
    _with_retention(p, 3650)
    try:
        yield p
    finally:
        log.close()


def _cli(ws: Path, *args: object):  # type: ignore[no-untyped-def]
    return attest(*args, "--config", ws / "attest.yaml", cwd=ws)


def _anchors(ws: Path) -> list:  # type: ignore[type-arg]
    from attest.verify import load_trust_anchors

    return load_trust_anchors([ws / "keys" / "demo-ca.pem"])


def test_prune_removes_old_payloads_from_the_log_and_export_marks_them(
        portal: Portal, portal_workspace: tuple[Path, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    ws = portal_workspace[0]
    clock = portal.clock
    assert isinstance(clock, Clock)
    clock.now = OLD
    audit.record(portal, None, "login", "ok", account="old-anna", tenant="acme", detail={"n": 1})
    audit.record(portal, None, "download", "ok", account="old-anna", tenant="acme", detail={"n": 2})
    audit.record(portal, None, "login", "ok", account="old-bea", tenant="bellini")
    assert audit.seal_pending(portal) == 3
    clock.now = RECENT
    audit.record(portal, None, "login", "ok", account="new-anna", tenant="acme")
    assert audit.seal_pending(portal) == 1  # ten years in-process: nothing removed yet
    assert sum(r.redacted for r in portal.log.records(kind=audit.KIND, include_redacted=True)) == 0
    size = portal.log.size()

    dry = _cli(ws, "audit", "prune", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would remove 3 sealed staging row(s) and the payloads of 3 sealed entries" in dry.stdout, dry.stdout
    assert portal.log.size() == size and len(list(portal.log.records(kind=audit.KIND))) == 4

    done = _cli(ws, "audit", "prune")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed 3 sealed staging row(s) and the payloads of 3 sealed entries" in done.stdout, done.stdout
    assert [p["account"] for p in (r.payload for r in portal.log.records(kind=audit.KIND))] == ["new-anna"]
    (statement,) = portal.log.records(kind=REDACTION_KIND)
    assert statement.payload["count"] == 3 and statement.payload["reason"] == "portal.audit_retention_days = 400"

    verified = _cli(ws, "evidence", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "3 record(s) had their payload redacted under retention (3 portal.audit)" in verified.stdout

    again = _cli(ws, "audit", "prune")
    assert "removed 0 sealed staging row(s) and the payloads of 0 sealed entries" in again.stdout, again.stdout
    assert len(list(portal.log.records(kind=REDACTION_KIND))) == 1

    out = tmp_path / "acme.jsonl"
    exported = _cli(ws, "audit", "export", "--tenant", "acme", "--out", out)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "3 audit entries of acme (2 past retention" in exported.stderr
    data = out.read_bytes()
    assert b"old-anna" not in data and b"new-anna" in data
    result = verify_export(data, _anchors(ws))
    assert [p["account"] for p in result.entries] == ["new-anna"]
    assert [r["at"] for r in result.redacted] == [utc_iso(OLD)] * 2
    # The in-process export gives the same, and its time filter still applies to redacted entries.
    assert verify_export(export_tenant(portal, "acme", until=RECENT), _anchors(ws)).entries == []
    assert len(verify_export(export_tenant(portal, "acme", until=RECENT), _anchors(ws)).redacted) == 2

    lines = data.splitlines()
    redacted_line = next(i for i, line in enumerate(lines)
                         if json.loads(line)["type"] == "entry" and json.loads(line).get("redacted"))
    forged = json.loads(lines[redacted_line])
    forged["leaf_hash"] = "00" * 32
    with pytest.raises(ValueError, match="inclusion proof"):
        verify_export(b"\n".join([*lines[:redacted_line], json.dumps(forged).encode(), *lines[redacted_line + 1:]]))
    without_statement = b"\n".join(line for line in lines if json.loads(line)["type"] != "redaction")
    with pytest.raises(ValueError, match="no redaction record in the export names it"):
        verify_export(without_statement)


def test_the_document_view_is_unaffected(portal: Portal, portal_workspace: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    """library.py reads document, revocation and run bodies only: redacted audit records never reach it."""
    from attest.portal import library

    assert sum(r.redacted for r in portal.log.records(kind=audit.KIND, include_redacted=True)) > 0
    library.forget(portal)
    dlog = library.document_log(portal)
    docs = portal_workspace[1]
    for tenant in ("acme", "bellini"):
        assert [d.record.document_id for d in library.tenant_documents(dlog, tenant)] == [docs[tenant]]


def test_sealing_removes_expired_payloads_at_most_hourly(portal: Portal,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    clock = portal.clock
    assert isinstance(clock, Clock)
    _with_retention(portal, 400)
    clock.now = OLD
    audit.record(portal, None, "login", "ok", account="old-carla", tenant="bellini")
    assert audit.seal_pending(portal) == 1
    clock.now = NOW
    audit.record(portal, None, "login", "ok", account="new-carla", tenant="bellini")
    assert audit.seal_pending(portal) == 1  # and, prune after sealing, removes old-carla's payload
    accounts = [r.payload["account"] for r in portal.log.records(kind=audit.KIND, subject="tenant/bellini")]
    assert accounts == ["new-carla"]

    def forbidden(*_: object, **__: object) -> None:
        raise AssertionError("expired payloads looked for again within the hour")

    monkeypatch.setattr(portal.log, "expire_payloads", forbidden)
    clock.now = NOW + timedelta(minutes=20)
    audit.record(portal, None, "logout", "ok", account="new-carla", tenant="bellini")
    assert audit.seal_pending(portal) == 1


def test_a_tampered_kept_entry_still_fails_verification(portal: Portal,
                                                        portal_workspace: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    ws = portal_workspace[0]
    (kept, *_rest) = portal.log.records(kind=audit.KIND)
    with portal.log.engine.begin() as conn:
        import sqlalchemy as sa

        conn.execute(sa.text("UPDATE records SET body = :b WHERE idx = :i"),
                     {"b": kept.body.replace(b"new-anna", b"new-anne"), "i": kept.idx})
    proc = _cli(ws, "evidence", "verify")
    assert proc.returncode == 1, proc.stdout
    assert f"record #{kept.idx}" in proc.stdout and "no longer matches its leaf hash" in proc.stdout
