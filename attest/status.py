"""Document status: whether an issued attestation is current, superseded or revoked, read from
the signed evidence log; and `attest revoke`, which records a revocation there.

Nothing about a document is ever edited (DESIGN.md §3.7). Its status follows from records:

* ``attest.document`` (attest/issue.py): one per issued document, subject ``document/<id>``,
  naming its tenant, period and the document it ``supersedes``;
* ``attest.revocation`` (this module): subject ``document/<id>`` like the document's own
  record, payload ``{document_id, tenant, period, reason, revoked_by, revoked_at,
  document_record: {idx, leaf_hash}}``; the tenant and period make it part of that tenant's
  records (a tenant's pack can carry it), the leaf hash ties it to the exact issuing record.
  Each is appended in a run of its own (purpose ``revoke``) closed by a signed checkpoint.

Only signed content counts: records below the tree size of the latest checkpoint, once that
checkpoint's signature and root have been checked against the log (``checked_checkpoint``),
each record checked against its leaf hash as it is read. The mutable bookkeeping table of
reserved ids (``documents``) is never consulted.

Semantics:

* **known**: an ``attest.document`` record for the id is signed into the log, whatever the
  outcome of the run that wrote it (a render run that ended ``partial`` or ``aborted`` still
  wrote, signed and recorded that document). An id that is not is *unknown to this log* — e.g. a
  document of another workspace, or of a render run still in progress.
* **superseded**: a later document (in log order) exists for the same tenant and period. Its
  direct successor is the first later document whose record names it in ``supersedes`` or, when
  none does, the first later document for that tenant and period. Following successors leads to
  ``latest``, the newest document for the tenant and period.
* **revoked**: a signed ``attest.revocation`` record names it, written by a revoke run whose
  signed closing record says ``ok`` (a revoke interrupted before its checkpoint does not count
  and can be repeated). The first such record counts. Revoked wins over superseded: a revoked
  document reports ``revoked``, and still names its successor if it has one.
* **current**: known, not superseded, not revoked.
* A document superseded by one that was later revoked stays **superseded** (by that successor):
  revoking a document does not bring its predecessor back. The tenant and period then have no
  current document (``latest_revoked``) until a new one is issued.

Status never changes the cryptographic verdict: a superseded or revoked document still
verifies as authentic; `attest verify` reports its status beside the signature verdict.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography import x509

from attest.canonical import parse_utc, utc_iso
from attest.errors import BadInput
from evidence.log import (
    DOCUMENT_KIND,
    REVOCATION_KIND,
    CheckpointSigner,
    EvidenceLog,
    LogIntegrityError,
    NewRecord,
    SignedCheckpoint,
    StoredRecord,
)

SOURCE = "attest"
RUN_PURPOSE = "revoke"
# attest.attestation.new_document_id: "AT-" + 20 Crockford base32 characters (no I, L, O, U).
DOCUMENT_ID = re.compile(r"^AT-[0-9A-HJKMNP-TV-Z]{20}$")
MIN_REASON = 10  # characters: "error" says nothing a customer or auditor can act on
MAX_REASON = 500
MAX_BY = 200

State = Literal["current", "superseded", "revoked", "unknown"]


@dataclass(frozen=True)
class Revocation:
    document_id: str
    revoked_at: datetime
    reason: str
    revoked_by: str
    record_idx: int


@dataclass(frozen=True)
class _Issued:
    """An `attest.document` record, as signed."""

    document_id: str
    tenant: str
    period: str
    supersedes: str | None
    overall: str | None
    issued_at: datetime
    idx: int
    leaf_hex: str


@dataclass(frozen=True)
class DocumentStatus:
    document_id: str
    known: bool  # issued in the signed log
    state: State  # "unknown" exactly when not known
    checkpoint_id: int | None  # the checkpoint the answer rests on (None: nothing signed yet)
    tree_size: int
    tenant: str | None = None
    period: str | None = None
    issued_at: datetime | None = None
    overall: str | None = None
    supersedes: str | None = None
    record_idx: int | None = None  # position of its `attest.document` record
    record_leaf: str | None = None
    superseded_by: str | None = None  # the direct successor
    superseded_by_issued_at: datetime | None = None
    latest: str | None = None  # the newest document for the tenant and period (itself, when not superseded)
    latest_issued_at: datetime | None = None
    latest_revoked: bool = False
    revocation: Revocation | None = None

    @property
    def revoked_at(self) -> datetime | None:
        return self.revocation.revoked_at if self.revocation else None

    @property
    def reason(self) -> str | None:
        return self.revocation.reason if self.revocation else None

    @property
    def revoked_by(self) -> str | None:
        return self.revocation.revoked_by if self.revocation else None

    @property
    def current_document(self) -> str | None:
        """The tenant and period's current document: the newest, unless it is revoked."""
        return None if not self.known or self.latest_revoked else self.latest

    def describe(self) -> str:
        """One line for a person: what `attest verify` prints after the signature verdict."""
        if not self.known:
            where = f"up to checkpoint {self.checkpoint_id}" if self.checkpoint_id else "(nothing is signed yet)"
            return f"unknown to this log (no signed record of its issue {where})"
        # "_fleet" (attest/fleet/model.py FLEET_SCOPE) is the provider-wide attestation's key
        scope = f"{'the provider-wide attestation' if self.tenant == '_fleet' else self.tenant}, {self.period}"
        if self.revocation is not None:
            r = self.revocation
            text = f"revoked on {_when(r.revoked_at)} by {r.revoked_by}: {r.reason}"
            if self.superseded_by:
                text += f" (also superseded by {self.superseded_by})"
            return text
        if self.superseded_by:
            text = f"superseded by {self.superseded_by} (issued {_when(self.superseded_by_issued_at)})"
            if self.latest != self.superseded_by:
                text += f"; the newest for {scope} is {self.latest} (issued {_when(self.latest_issued_at)})"
            if self.latest_revoked:
                text += f"; {self.latest} is revoked: {scope} has no current document"
            return text
        return f"current (the newest document for {scope}, issued {_when(self.issued_at)})"

    def as_json(self) -> dict[str, Any]:
        r = self.revocation
        return {
            "document_id": self.document_id,
            "known": self.known,
            "state": self.state,
            "tenant": self.tenant,
            "period": self.period,
            "issued_at": _iso(self.issued_at),
            "supersedes": self.supersedes,
            "superseded_by": self.superseded_by,
            "superseded_by_issued_at": _iso(self.superseded_by_issued_at),
            "latest": self.latest,
            "latest_revoked": self.latest_revoked,
            "revoked": None if r is None else {"at": utc_iso(r.revoked_at), "by": r.revoked_by, "reason": r.reason,
                                               "record": r.record_idx},
            "checkpoint": {"id": self.checkpoint_id, "tree_size": self.tree_size},
        }


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "?"


def _iso(moment: datetime | None) -> str | None:
    return utc_iso(moment) if moment else None


def _same_as_body(rec: StoredRecord) -> bool:
    """Whether the row's query columns repeat its (leaf-checked) body."""
    data = rec.data
    return (data.get("kind"), data.get("subject"), data.get("source"), data.get("run")) == (
        rec.kind, rec.subject, rec.source, rec.run_id)


class DocumentIndex:
    """Every signed `attest.document` and counted `attest.revocation` record, read once: many
    documents' status for the price of one pass (`attest verify` of several files)."""

    def __init__(self, checkpoint: SignedCheckpoint | None, issued: list[_Issued],
                 revocations: dict[str, Revocation]) -> None:
        self.checkpoint = checkpoint
        self._issued = {d.document_id: d for d in reversed(issued)}  # the first record of an id counts
        self._same: dict[tuple[str, str], list[_Issued]] = {}
        for d in issued:
            if self._issued[d.document_id] is d:
                self._same.setdefault((d.tenant, d.period), []).append(d)
        self._revocations = revocations

    @classmethod
    def load(cls, log: EvidenceLog, trust_anchors: Sequence[x509.Certificate] = ()) -> DocumentIndex:
        """Read from *log* up to its latest checkpoint, once that checkpoint checks out (signature,
        root; its signer chain too when *trust_anchors* are given): LogIntegrityError otherwise."""
        cp = log.checked_checkpoint(trust_anchors)
        size = cp.tree_size if cp else 0
        issued: list[_Issued] = []
        for rec in log.records(kind=DOCUMENT_KIND, up_to=size):
            _require_columns(rec)
            p = rec.payload
            doc_id = p.get("document_id")
            if rec.source != SOURCE or not isinstance(doc_id, str) or rec.subject != f"document/{doc_id}":
                continue
            supersedes = p.get("supersedes")
            issued.append(_Issued(doc_id, str(p.get("tenant")), str(p.get("period")),
                                  supersedes if isinstance(supersedes, str) else None,
                                  str(p["overall"]) if p.get("overall") is not None else None,
                                  rec.collected_at, rec.idx, rec.leaf_hex))
        known = {d.document_id for d in issued}
        statuses = log.run_statuses(size) if size else {}
        revocations: dict[str, Revocation] = {}
        for rec in log.records(kind=REVOCATION_KIND, up_to=size):
            _require_columns(rec)
            p = rec.payload
            doc_id = p.get("document_id")
            if (rec.source != SOURCE or not isinstance(doc_id, str) or rec.subject != f"document/{doc_id}"
                    or doc_id not in known or doc_id in revocations or statuses.get(rec.run_id) != "ok"):
                continue
            revoked_at = rec.collected_at
            if isinstance(p.get("revoked_at"), str):
                with suppress(ValueError):
                    revoked_at = parse_utc(p["revoked_at"])
            revocations[doc_id] = Revocation(doc_id, revoked_at, str(p.get("reason", "")),
                                             str(p.get("revoked_by", "")), rec.idx)
        return cls(cp, issued, revocations)

    def revocation(self, document_id: str) -> Revocation | None:
        """The counted revocation of *document_id*, if any (e.g. for issuing: a revoked document
        must not be kept as the current one because its content is unchanged)."""
        return self._revocations.get(document_id)

    def periods(self, tenant: str) -> list[str]:
        """The periods for which *tenant* has at least one signed document, newest first."""
        return sorted({period for t, period in self._same if t == tenant}, reverse=True)

    def newest(self, tenant: str, period: str) -> DocumentStatus | None:
        """The status of the newest document for *tenant* and *period* (current, unless it is
        revoked); None when none was issued."""
        docs = self._same.get((tenant, period))
        if not docs:
            return None
        latest = self.status(docs[0].document_id).latest
        return self.status(latest) if latest else None

    def _successor(self, doc: _Issued) -> _Issued | None:
        later = [d for d in self._same[(doc.tenant, doc.period)] if d.idx > doc.idx]
        return next((d for d in later if d.supersedes == doc.document_id), later[0] if later else None)

    def status(self, document_id: str) -> DocumentStatus:
        cp = self.checkpoint
        base: dict[str, Any] = {"document_id": document_id, "checkpoint_id": cp.id if cp else None,
                                "tree_size": cp.tree_size if cp else 0}
        doc = self._issued.get(document_id)
        if doc is None:
            return DocumentStatus(known=False, state="unknown", **base)
        successor = self._successor(doc)
        latest = doc
        while (nxt := self._successor(latest)) is not None:  # always later in the log: it ends
            latest = nxt
        revocation = self._revocations.get(document_id)
        state: State = "revoked" if revocation else "superseded" if successor else "current"
        return DocumentStatus(
            known=True, state=state, tenant=doc.tenant, period=doc.period, issued_at=doc.issued_at,
            overall=doc.overall, supersedes=doc.supersedes, record_idx=doc.idx, record_leaf=doc.leaf_hex,
            superseded_by=successor.document_id if successor else None,
            superseded_by_issued_at=successor.issued_at if successor else None,
            latest=latest.document_id, latest_issued_at=latest.issued_at,
            latest_revoked=latest.document_id in self._revocations, revocation=revocation, **base)


def _require_columns(rec: StoredRecord) -> None:
    if not _same_as_body(rec):
        raise LogIntegrityError(f"record #{rec.idx}: its columns do not match its body: run `attest evidence verify`")


def document_status(log: EvidenceLog, document_id: str,
                    trust_anchors: Sequence[x509.Certificate] = ()) -> DocumentStatus:
    """The status of one document, from the signed log (see the module docstring)."""
    return DocumentIndex.load(log, trust_anchors).status(document_id)


# --- revoking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revoked:
    record: StoredRecord
    checkpoint: SignedCheckpoint
    before: DocumentStatus  # the document's status just before it was revoked


def parse_document_id(text: str) -> str:
    """A document id as typed (case and surrounding blanks forgiven), or BadInput."""
    doc_id = text.strip().upper()
    if not DOCUMENT_ID.match(doc_id):
        raise BadInput(f"DOCUMENT_ID {text!r}: not a document id (AT- and 20 characters of 0-9 and A-Z without I, L, "
                       "O, U, e.g. AT-7K3M9QX2D4F8HJ6TNV1R)")
    return doc_id


def clean_text(option: str, text: str, minimum: int, maximum: int) -> str:
    """*text* with runs of white space made single spaces; BadInput when it is shorter than
    *minimum* or longer than *maximum* characters, or holds control or format characters."""
    cleaned = " ".join(text.split())
    bad = sorted({f"U+{ord(c):04X}" for c in cleaned if unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co"}})
    if bad:
        raise BadInput(f"{option}: control or invisible characters ({', '.join(bad)}) are not accepted")
    if len(cleaned) < minimum:
        raise BadInput(f"{option}: " + (f"{cleaned!r} is too short: " if cleaned else "empty: ")
                       + f"give at least {minimum} characters" + (" saying why (the customer and auditors read it)"
                                                                 if option == "--reason" else ""))
    if len(cleaned) > maximum:
        raise BadInput(f"{option}: {len(cleaned)} characters is more than the {maximum} accepted")
    return cleaned


def revoke_document(log: EvidenceLog, signer: CheckpointSigner, document_id: str, reason: str,
                    by: str | None = None, *, trust_anchors: Sequence[x509.Certificate] = (), wait_s: float = 0,
                    now: datetime | None = None) -> Revoked:
    """Record that *document_id* is revoked, in a run of its own closed by a signed checkpoint.

    Everything is checked before the run begins, so a refusal (malformed or unknown id, a reason
    that says nothing, a document already revoked) leaves no trace in the log. Two revocations
    racing past those checks both get recorded; the first in the log counts."""
    from collectors.manual import default_author

    doc_id = parse_document_id(document_id)
    reason = clean_text("--reason", reason, MIN_REASON, MAX_REASON)
    by = clean_text("--by", by if by is not None else default_author(), 1, MAX_BY)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    before = document_status(log, doc_id, trust_anchors)
    if not before.known:
        where = (f"checkpoint {before.checkpoint_id}, {before.tree_size} records" if before.checkpoint_id
                 else "nothing is signed in it yet")
        raise BadInput(f"{doc_id}: no document with this id was issued in this evidence log ({where}); "
                       "nothing was recorded")
    if before.revocation is not None:
        r = before.revocation
        raise BadInput(f"{doc_id}: already revoked on {_when(r.revoked_at)} by {r.revoked_by}: {r.reason} "
                       f"(record #{r.record_idx}); nothing was recorded")
    assert before.record_idx is not None and before.record_leaf is not None
    run_id = log.begin_run(RUN_PURPOSE, signer, wait_s)
    payload = {
        "document_id": doc_id,
        "tenant": before.tenant,
        "period": before.period,
        "reason": reason,
        "revoked_by": by,
        "revoked_at": utc_iso(now),
        "document_record": {"idx": before.record_idx, "leaf_hash": before.record_leaf},
    }
    stored = log.append(run_id, [NewRecord(source=SOURCE, kind=REVOCATION_KIND, subject=f"document/{doc_id}",
                                           payload=payload, collected_at=now)])
    checkpoint = log.finish_run(run_id, "ok", signer, {"revoked": [doc_id]})
    return Revoked(stored[0], checkpoint, before)
