"""The portal's audit trail: every login, download, share-link use and verification.

`record` stages an entry (a `portal_audit` row, in the request's own time); `seal_pending` seals
staged entries into the evidence log as `portal.audit` records, Merkle-hashed and covered by a
signed checkpoint; `prune` applies `portal.audit_retention_days`.

Retention applies to both places an entry lives. `prune` deletes sealed staging rows past it,
and removes the payloads (usernames, client addresses: personal data) of sealed `portal.audit`
records past it from the evidence log, keeping their leaves (evidence/retention.py): the log's
roots, checkpoints and proofs still verify, and a signed `attest.redaction` record says what was
removed and why. After each sealing the log part runs at most once an hour (it begins a run of
the log); `attest audit prune` runs it on demand.

Sealing twice is impossible by construction, not by luck. The log appends in its own
transaction, so a row cannot be marked in the same one; instead each record's payload carries
its row id (`entry`), and every sealing run first *reconciles*: a staged row whose entry already
appears in a `portal.audit` record past the newest marked one is marked with that record's
position instead of being appended again. All of it happens inside a run of the log, and the log
admits one open run at a time (across processes), so two sealers never pick the same rows. A
crash after the append leaves the rows unmarked; the next run (which first closes the dead one as
aborted, with its own checkpoint) finds them by reconciling.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Request
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from attest.canonical import parse_utc, utc_iso
from attest.portal.context import Portal
from attest.portal.models import AuditEntry
from evidence import merkle
from evidence.log import EvidenceLog, NewRecord, RunInProgress
from evidence.models import Record

router = APIRouter()
logger = logging.getLogger(__name__)

SOURCE = "portal"
KIND = "portal.audit"
RUN_PURPOSE = "portal-audit"
BATCH = 2000  # rows sealed per call: one run stays short, so it holds the log's head only briefly
# How often sealing also removes expired payloads from the log: retention counts in days, and
# finding what is due reads the audit records' index, too much to do every few seconds.
EXPIRE_EVERY = timedelta(hours=1)
_last_expiry: WeakKeyDictionary[EvidenceLog, datetime] = WeakKeyDictionary()

# The sealer runs in a threadpool thread, `attest serve` shuts down with one more call, and the CLI
# may call too: one at a time per process (across processes, the log's single open run serialises).
_SEAL_LOCK = threading.Lock()


@contextmanager
def writing(portal: Portal) -> Iterator[Session]:
    """A transaction that reads and then writes. On SQLite, `portal.db()` begins deferred: a read
    followed by a write fails at once ("database is locked", no busy wait) when another writer
    committed in between. This one takes the write lock at BEGIN (the log's writer engine)."""
    with portal.write() as s:
        yield s


def entry(portal: Portal, request: Request | None, action: str, outcome: str, *, account: str | None = None,
          link: str | None = None, tenant: str | None = None, detail: dict[str, Any] | None = None) -> AuditEntry:
    """One audit entry: *action* (login, logout, download, share_use, verify, …), *outcome* (ok,
    denied, not_found, bad_request, locked, …), who (*account* username or *link*: a share link's
    or API token's public id, never a secret), the *tenant* concerned, and *detail* (JSON-able, no
    secrets). The client address comes from the request."""
    client = portal.client_address(request) if request is not None else "cli"
    return AuditEntry(at=utc_iso(portal.now()), action=action, outcome=outcome, account=account, link=link,
                      tenant_id=tenant, client=client[:64],
                      detail=json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def record(portal: Portal, request: Request | None, action: str, outcome: str, *, account: str | None = None,
           link: str | None = None, tenant: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """Stage one audit entry (see `entry`). Committed before the request is answered (a download is
    never served unrecorded), in a group commit with the entries of concurrent requests."""
    portal.audit_batch.add(portal, entry(portal, request, action, outcome, account=account, link=link, tenant=tenant,
                                         detail=detail))


async def record_async(portal: Portal, request: Request | None, action: str, outcome: str, *,
                       account: str | None = None, link: str | None = None, tenant: str | None = None,
                       detail: dict[str, Any] | None = None) -> None:
    """`record` for a coroutine: awaits the same group commit without holding a thread."""
    await portal.audit_batch.add_async(portal, entry(portal, request, action, outcome, account=account, link=link,
                                                     tenant=tenant, detail=detail))


def subject_of(tenant: str | None) -> str:
    """The record subject: per tenant (so a tenant's entries are found, and exported, by subject)."""
    return f"tenant/{tenant}" if tenant else "portal"


def payload_of(row: AuditEntry) -> dict[str, Any]:
    """The sealed record's payload: the row as it is, plus its id (`entry`) for reconciling."""
    return {"entry": row.id, "at": row.at, "action": row.action, "outcome": row.outcome, "account": row.account,
            "link": row.link, "tenant": row.tenant_id, "client": row.client, "detail": json.loads(row.detail)}


def _same_entry(row: AuditEntry, payload: dict[str, Any]) -> bool:
    """Whether *payload* is *row*'s record. Not a full comparison: the log scrubs secret-looking
    values from payloads, so the detail may differ; id, time, action and outcome cannot, and also
    guard against a row id SQLite reused after the newest rows were deleted."""
    return (payload.get("entry"), payload.get("at"), payload.get("action"), payload.get("outcome")) == (
        row.id, row.at, row.action, row.outcome)


def seal_pending(portal: Portal) -> int:
    """Seal staged entries (oldest first, at most BATCH) into the evidence log in one run closed by
    a signed checkpoint; returns how many were appended. Nothing staged: no run at all. Another
    run holding the log (a collection, a render): 0, and the rows wait for the next call."""
    with _SEAL_LOCK:
        with portal.db() as s:
            if s.execute(select(AuditEntry.id).where(AuditEntry.sealed_idx.is_(None)).limit(1)).first() is None:
                return 0
        log, signer = portal.log, portal.signer
        try:
            run_id = log.begin_run(RUN_PURPOSE, signer)
        except RunInProgress:
            return 0
        try:
            reconciled = _reconcile(portal)
            with portal.db() as s:
                rows = list(s.execute(select(AuditEntry).where(AuditEntry.sealed_idx.is_(None))
                                      .order_by(AuditEntry.id).limit(BATCH)).scalars())
                s.expunge_all()
            stored = log.append(run_id, [NewRecord(source=SOURCE, kind=KIND, subject=subject_of(r.tenant_id),
                                                   payload=payload_of(r), collected_at=parse_utc(r.at))
                                         for r in rows]) if rows else []
        except BaseException:
            # Close the run so the log is not held; whatever was appended is found by reconciling.
            with suppress(Exception):
                log.finish_run(run_id, "aborted", signer, {"note": "sealing the portal audit trail failed"})
            raise
        log.finish_run(run_id, "ok", signer, {"audit_entries": len(stored), "reconciled": reconciled})
        # Marked only once signed: sealed_idx means "in the log under a signed checkpoint". A crash
        # here is repaired by the next call's reconciliation.
        _mark(portal, {int(rec.payload["entry"]): rec.idx for rec in stored})
        prune(portal)
        return len(stored)


def _mark(portal: Portal, positions: dict[int, int]) -> None:
    if not positions:
        return
    with writing(portal) as s:
        s.execute(update(AuditEntry), [{"id": entry, "sealed_idx": idx}  # ORM bulk update by primary key
                                       for entry, idx in positions.items()])


def _reconcile(portal: Portal) -> int:
    """Mark staged rows whose records the log already holds (appended by a sealer that died or
    failed before marking). Only records after the newest marked position are read: normally none.
    Returns how many rows were marked."""
    with writing(portal) as s:
        newest = s.execute(select(func.max(AuditEntry.sealed_idx))).scalar_one_or_none()
        found = s.execute(select(Record.idx, Record.leaf_hash, Record.body)
                          .where(Record.kind == KIND, Record.source == SOURCE,
                                 Record.idx > (-1 if newest is None else newest))
                          .order_by(Record.idx)).all()
        marked = 0
        for idx, leaf, body in found:
            if not isinstance(body, bytes) or merkle.leaf_hash(body) != leaf:
                continue  # an edited row: never trusted here; `attest evidence verify` reports it
            payload = json.loads(body).get("payload") or {}
            entry = payload.get("entry")
            row = s.get(AuditEntry, entry) if isinstance(entry, int) else None
            if row is not None and row.sealed_idx is None and _same_entry(row, payload):
                row.sealed_idx = idx
                marked += 1
    if marked:
        logger.warning("audit trail: %d entr(ies) were already in the evidence log (an interrupted sealing); "
                       "marked, not sealed again", marked)
    return marked


@dataclass(frozen=True)
class Pruned:
    """What `prune` deleted, or on a dry run would delete."""

    staging: int  # sealed staging rows
    payloads: int  # payloads of sealed `portal.audit` records in the evidence log
    cutoff: datetime  # entries before this are past retention


def prune(portal: Portal, *, dry_run: bool = False, force: bool = False) -> Pruned:
    """Apply `portal.audit_retention_days`: delete sealed staging rows older than it, and remove
    the payloads of older `portal.audit` records from the evidence log, keeping their leaves.
    Rows not yet sealed are never deleted, nor the newest sealed one (it tells reconciliation
    where to start reading). The log part runs at most every EXPIRE_EVERY unless *force*, and is
    skipped (0) while another run holds the log. *dry_run*: count, change nothing."""
    days = portal.settings.audit_retention_days
    now = portal.now()
    cutoff = now - timedelta(days=days)
    staging = _prune_staging(portal, utc_iso(cutoff), dry_run)
    payloads = 0
    last = _last_expiry.get(portal.log)
    if force or dry_run or last is None or not last <= now < last + EXPIRE_EVERY:
        try:
            expiry = portal.log.expire_payloads(KIND, cutoff, portal.signer, dry_run=dry_run,
                                                reason=f"portal.audit_retention_days = {days}")
        except RunInProgress:
            return Pruned(staging, 0, cutoff)  # the next call tries again
        payloads = expiry.due if dry_run else expiry.redacted + expiry.resumed
        if not dry_run:
            _last_expiry[portal.log] = now
            if payloads:
                logger.info("audit trail: removed the payloads of %d sealed entr(ies) older than %d days from the "
                            "evidence log (leaves kept)", payloads, days)
    return Pruned(staging, payloads, cutoff)


def _prune_staging(portal: Portal, cutoff: str, dry_run: bool) -> int:
    with writing(portal) as s:
        newest = s.execute(select(func.max(AuditEntry.sealed_idx))).scalar_one_or_none()
        if newest is None:
            return 0
        expired = (AuditEntry.sealed_idx.is_not(None), AuditEntry.sealed_idx < newest, AuditEntry.at < cutoff)
        if dry_run:
            return int(s.execute(select(func.count()).select_from(AuditEntry).where(*expired)).scalar_one())
        result = s.execute(delete(AuditEntry).where(*expired))
        return int(getattr(result, "rowcount", 0) or 0)


# The admin page lives apart: it needs the sign-in machinery, which itself records through `record`.
from attest.portal import audit_pages  # noqa: E402

router.include_router(audit_pages.router)
