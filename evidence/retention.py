"""Payload retention: remove a record's payload, keep its leaf.

The log is append-only, yet some payloads (the portal's audit trail: usernames, client addresses)
are personal data with a retention period. Removing such a payload leaves the tree as it was:
the row keeps its position and leaf hash, so the Merkle root, every checkpoint and every
inclusion and consistency proof still verify. What is lost is the record's own content, which
can no longer be checked against its leaf; the leaf still proves that a record was there.

Removal is itself written in the log, before it happens. `expire_payloads` appends an
`attest.redaction` record (the kind, the cutoff, the reason, the positions as index ranges) in a
run of its own, closed by a signed checkpoint, and only then empties the bodies (`body` = b"",
`redacted_at` set). So every emptied body is named by a signed statement, which `attest evidence
verify` requires: an emptied row no statement names is a deletion, reported as tampering. A
crash between signing and emptying leaves the statement ahead of the rows; the next call
finishes that statement before writing another, so only the newest one can ever be pending.

A body that no longer matches its leaf is never removed: that would erase the evidence of
tampering. Only REDACTABLE_KINDS may be redacted, and never documents, revocations, run
closings or redaction statements, whatever that set says.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from attest.canonical import utc_iso
from attest.errors import BadInput
from evidence import merkle
from evidence.log import (
    DOCUMENT_KIND,
    REDACTABLE_KINDS,
    REDACTION_KIND,
    REVOCATION_KIND,
    RUN_KIND,
    LogIntegrityError,
    NewRecord,
    SignedCheckpoint,
    StoredRecord,
)
from evidence.models import Record

if TYPE_CHECKING:
    from evidence.log import CheckpointSigner, EvidenceLog

RUN_PURPOSE = "retention"
SOURCE = "attest"
# Kept whole whatever REDACTABLE_KINDS says: they are what a verifier relies on to read the rest.
NEVER_REDACTED = frozenset({DOCUMENT_KIND, REVOCATION_KIND, RUN_KIND, REDACTION_KIND})


class RedactionRefused(BadInput):
    """Records of this kind may not have their payload removed."""


@dataclass(frozen=True)
class Expiry:
    """What one `expire_payloads` call found and did."""

    kind: str
    older_than: str  # the cutoff, RFC 3339 UTC
    due: int  # signed records of the kind past the cutoff still holding their payload
    redacted: int  # payloads removed by this call (0 on a dry run)
    resumed: int = 0  # payloads of an earlier, interrupted redaction removed by this call
    statement: StoredRecord | None = None  # the signed `attest.redaction` record
    checkpoint: SignedCheckpoint | None = None  # the checkpoint that signed it


def check_redactable(kind: str) -> None:
    if kind in NEVER_REDACTED or kind not in REDACTABLE_KINDS:
        allowed = ", ".join(sorted(REDACTABLE_KINDS - NEVER_REDACTED)) or "none"
        raise RedactionRefused(f"records of kind {kind!r} cannot have their payload removed (redactable: "
                               f"{allowed}); documents, revocations and run records are kept whole")


def index_ranges(indices: Iterable[int]) -> list[list[int]]:
    """[3, 4, 5, 9] -> [[3, 5], [9, 9]]: sealed batches are contiguous, so a statement stays short."""
    out: list[list[int]] = []
    for i in sorted(indices):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def statement_problem(payload: Any) -> str | None:
    """What is wrong with a redaction statement's payload, or None: a kind that may be redacted
    and ranges of non-negative positions."""
    if not isinstance(payload, dict) or not isinstance(payload.get("kind"), str):
        return "it names no kind"
    if payload["kind"] in NEVER_REDACTED or payload["kind"] not in REDACTABLE_KINDS:
        return f"it names kind {payload['kind']}, which is never redacted"
    ranges = payload.get("ranges")
    if not isinstance(ranges, list) or not all(
            isinstance(r, list) and len(r) == 2 and all(type(x) is int for x in r) and 0 <= r[0] <= r[1]
            for r in ranges):
        return "its ranges are not well-formed"
    return None


class Coverage:
    """Which positions signed redaction statements name, and for which kind (by bisection: a
    statement names ranges, and a log may hold millions of redacted positions)."""

    def __init__(self, statements: Iterable[dict[str, Any]]) -> None:
        spans = sorted((int(a), int(b), str(p["kind"])) for p in statements for a, b in p["ranges"])
        merged: list[tuple[int, int, str]] = []
        for start, end, kind in spans:
            if merged and start <= merged[-1][1] + 1 and kind == merged[-1][2]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]), kind)
            else:
                merged.append((start, end, kind))
        self._spans = merged
        self._starts = [s for s, _, _ in merged]

    def kind_of(self, idx: int) -> str | None:
        """The kind the statement naming *idx* redacted, or None when no statement names it."""
        i = bisect_right(self._starts, idx) - 1
        if i >= 0 and self._spans[i][1] >= idx:
            return self._spans[i][2]
        return None


def expire_payloads(log: EvidenceLog, kind: str, older_than: datetime, signer: CheckpointSigner, *,
                    reason: str, dry_run: bool = False) -> Expiry:
    """Remove the payloads of *kind*'s records collected before *older_than* and covered by a
    signed checkpoint (see the module docstring). No run at all when nothing is due, so callers
    may call often. *dry_run*: count only, write nothing."""
    check_redactable(kind)
    cutoff = utc_iso(older_than)
    if dry_run:
        return Expiry(kind, cutoff, due=_count_due(log, kind, cutoff, log.signed_size()), redacted=0)
    resumed = _resume(log)
    # Bodies are checked against their leaves here already, so a changed one is refused before any run.
    if not _due(log, kind, cutoff, log.signed_size()):
        return Expiry(kind, cutoff, due=0, redacted=0, resumed=resumed)
    log.checked_checkpoint()  # the log must still be what it signed before anything is removed
    run_id = log.begin_run(RUN_PURPOSE, signer)
    try:
        # Read again inside the run: no other writer now, and begin_run may have signed a checkpoint.
        signed = log.signed_size()
        positions = _due(log, kind, cutoff, signed)
        ranges = index_ranges(positions)
        stored = log.append(run_id, [NewRecord(source=SOURCE, kind=REDACTION_KIND, subject=f"retention/{kind}",
                                               payload={"kind": kind, "older_than": cutoff, "reason": reason,
                                                        "count": len(positions), "ranges": ranges,
                                                        "tree_size": signed},
                                               collected_at=datetime.now(UTC))]) if positions else []
    except BaseException:
        with suppress(Exception):
            log.finish_run(run_id, "aborted", signer, {"note": "removing expired payloads failed"})
        raise
    checkpoint = log.finish_run(run_id, "ok", signer, {"redacted": len(positions), "kind": kind})
    # Only now that the statement is signed: a crash here is finished by the next call's _resume.
    redacted = _empty(log, kind, ranges)
    return Expiry(kind, cutoff, due=len(positions), redacted=redacted, resumed=resumed,
                  statement=stored[0] if stored else None, checkpoint=checkpoint)


def _due_filter(kind: str, cutoff: str, signed: int) -> tuple[Any, ...]:
    # collected_at is RFC 3339 UTC with a Z, one format throughout: strings order as times do.
    return (Record.kind == kind, Record.collected_at < cutoff, Record.redacted_at.is_(None), Record.idx < signed)


def _count_due(log: EvidenceLog, kind: str, cutoff: str, signed: int) -> int:
    with Session(log.engine) as s:
        return int(s.execute(select(func.count()).select_from(Record)
                             .where(*_due_filter(kind, cutoff, signed))).scalar_one())


# The columns a row is picked by, checked against its (leaf-checked) body before it is named or emptied.
_CHECKED = (Record.idx, Record.leaf_hash, Record.body, Record.kind, Record.source, Record.subject, Record.run_id,
            Record.collected_at)


def _due(log: EvidenceLog, kind: str, cutoff: str, signed: int) -> list[int]:
    """Positions whose payload is due, each row checked against its leaf first."""
    with Session(log.engine) as s:
        rows = s.execute(select(*_CHECKED).where(*_due_filter(kind, cutoff, signed)).order_by(Record.idx))
        positions = []
        for row in rows:
            _check_row(kind, *row)
            positions.append(int(row[0]))
    return positions


def _check_row(kind: str, idx: int, leaf: bytes, body: object, kind_column: str, source: str, subject: str,
               run_id: int, collected_at: str) -> None:
    """The row's body matches its leaf, and the body itself says what the columns it was picked by
    say: a record of another kind relabelled *kind* in its column must be refused, not emptied
    (emptying it would remove the only trace of the relabelling)."""
    problem = f"record #{idx} ({kind})"
    if not isinstance(body, bytes) or merkle.leaf_hash(body) != leaf:
        raise LogIntegrityError(f"{problem} does not match its leaf hash: its payload is not removed "
                                "(that would hide the change); run `attest evidence verify`")
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or (data.get("kind"), data.get("source"), data.get("subject"), data.get("run"),
                                      data.get("collected_at")) != (kind, source, subject, run_id, collected_at) \
            or kind_column != kind:
        raise LogIntegrityError(f"{problem}: its columns do not match its body (relabelled?): its payload is not "
                                "removed; run `attest evidence verify`")


def _empty(log: EvidenceLog, kind: str, ranges: Sequence[Sequence[int]]) -> int:
    """Empty the bodies of *kind*'s unredacted records in *ranges*, in one transaction; returns how many."""
    if not ranges:
        return 0
    now = utc_iso(datetime.now(UTC))
    removed = 0
    with Session(log.writer) as s, s.begin():
        for start, end in ranges:
            span = (Record.idx >= start, Record.idx <= end, Record.kind == kind, Record.redacted_at.is_(None))
            for row in s.execute(select(*_CHECKED).where(*span)):
                _check_row(kind, *row)
            result = cast(CursorResult[Any], s.execute(update(Record).where(*span).values(body=b"", redacted_at=now)))
            removed += int(result.rowcount or 0)
    return removed


def _resume(log: EvidenceLog) -> int:
    """Finish the newest redaction statement if its rows still hold their payload (a crash after
    it was signed). Only a statement whose run closed "ok" counts: an aborted one named positions
    that stay due and are named again by the next statement."""
    signed = log.signed_size()
    with Session(log.engine) as s:
        leaf = s.execute(select(Record.leaf_hash).where(Record.kind == REDACTION_KIND, Record.idx < signed)
                         .order_by(Record.idx.desc()).limit(1)).scalar_one_or_none()
    if leaf is None:
        return 0
    newest = next(log.records(kind=REDACTION_KIND, leaves=[leaf.hex()], up_to=signed), None)
    if newest is None or statement_problem(newest.payload) is not None:
        return 0  # not one this code wrote: `attest evidence verify` reports it
    closing = next(log.records(kind=RUN_KIND, subject=f"run/{newest.run_id}", up_to=signed), None)
    if closing is None or closing.payload.get("status") != "ok":
        return 0
    return _empty(log, str(newest.payload["kind"]), newest.payload["ranges"])

