"""Per-tenant export of the portal audit trail (a GDPR access request), verifiable offline.

The export is read from the evidence log, not from the staging table (which retention prunes):
JSON lines, first the latest signed checkpoint (its body, signature and signer chain), then one
line per entry of the tenant: its leaf index, leaf hash, the record's exact bytes and an RFC 6962
inclusion proof against that checkpoint. `verify_export` checks all of it, so whoever receives
the file needs neither the database nor Attest's word for it.

Entries past `portal.audit_retention_days` had their payload removed from the log (attest/portal/
audit.py `prune`, evidence/retention.py). They are still exported, marked `redacted` with their
time, leaf hash and inclusion proof but no record, followed by the signed `attest.redaction`
records that name them (with their own proofs): the receiver can check that an entry existed at
that position and that its removal was recorded, not what it said, nor (its subject being gone
with it) that it concerned this tenant.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509

from attest.canonical import utc_iso
from attest.errors import BadInput
from attest.portal.audit import KIND, SOURCE, subject_of
from attest.portal.context import Portal
from evidence import merkle
from evidence.log import REDACTION_KIND, RUN_KIND, EvidenceLog, StoredRecord
from evidence.retention import Coverage, statement_problem

EXPORT_VERSION = 2  # 2: redacted entries and the redaction records naming them


def export_tenant(portal: Portal, tenant: str, since: datetime | None = None, until: datetime | None = None,
                  trust_anchors: Sequence[x509.Certificate] = ()) -> bytes:
    """*tenant*'s sealed audit entries with `since <= at < until`, as JSON lines (see the module
    docstring). Entries staged but not yet sealed, or sealed after the latest checkpoint, are not
    in it: seal first (`seal_pending`). BadInput when nothing is signed yet."""
    log = portal.log
    cp = log.checked_checkpoint(trust_anchors)  # the log must still match what it signed
    if cp is None:
        raise BadInput("the evidence log has no signed checkpoint yet: nothing to export")
    low, high = (utc_iso(since) if since else None), (utc_iso(until) if until else None)
    chosen: list[tuple[StoredRecord, str]] = []
    for rec in log.records(kind=KIND, source=SOURCE, subject=subject_of(tenant), up_to=cp.tree_size,
                           include_redacted=True):
        # A redacted entry's `at` went with its payload; its collection time is the same instant.
        at = utc_iso(rec.collected_at) if rec.redacted else str(rec.payload.get("at", ""))
        # `at` is RFC 3339 UTC with a Z, one format throughout: strings order as times do.
        if (low is None or at >= low) and (high is None or at < high):
            chosen.append((rec, at))
    redacted = [r.idx for r, _ in chosen if r.redacted]
    statements = _statements(log, redacted, cp.tree_size)
    leaves = log.leaf_hashes(cp.tree_size)
    proofs = log.inclusion_proofs([r.idx for r, _ in chosen] + [r.idx for r in statements], cp.tree_size, leaves)
    lines: list[dict[str, Any]] = [
        {"type": "checkpoint", "v": EXPORT_VERSION, "tenant": tenant, "log_id": cp.log_id,
         "tree_size": cp.tree_size, "root_hash": cp.root_hash.hex(), "body": cp.body.decode(),
         "signature": base64.b64encode(cp.signature).decode(), "signer_chain_pem": cp.signer_cert_pem,
         "since": low, "until": high, "entries": len(chosen), "redacted": len(redacted)}]
    for r, at in chosen:
        proof = [h.hex() for h in proofs[r.idx]]
        if r.redacted:
            lines.append({"type": "entry", "idx": r.idx, "leaf_hash": r.leaf_hex, "record": None, "redacted": True,
                          "at": at, "proof": proof})
        else:
            lines.append({"type": "entry", "idx": r.idx, "leaf_hash": r.leaf_hex, "record": r.body.decode(),
                          "proof": proof})
    lines += [{"type": "redaction", "idx": r.idx, "leaf_hash": r.leaf_hex, "record": r.body.decode(),
               "proof": [h.hex() for h in proofs[r.idx]]} for r in statements]
    return b"".join(json.dumps(line, ensure_ascii=False, sort_keys=True).encode() + b"\n" for line in lines)


def _statements(log: EvidenceLog, redacted: list[int], tree_size: int) -> list[StoredRecord]:
    """The signed redaction records (of runs closed "ok") that name any of *redacted*. They hold
    positions and counts only, no entry's content, so they may go to any tenant."""
    if not redacted:
        return []
    found = []
    for rec in log.records(kind=REDACTION_KIND, subject=f"retention/{KIND}", up_to=tree_size):
        if statement_problem(rec.payload) is not None:
            continue
        coverage = Coverage([rec.payload])
        if not any(coverage.kind_of(i) == KIND for i in redacted):
            continue
        closing = next(log.records(kind=RUN_KIND, subject=f"run/{rec.run_id}", up_to=tree_size), None)
        if closing is not None and closing.payload.get("status") == "ok":
            found.append(rec)
    return found


@dataclass(frozen=True)
class VerifiedExport:
    tenant: str
    tree_size: int
    root_hash: str
    entries: list[dict[str, Any]]  # each record's payload, in log order
    redacted: list[dict[str, Any]] = field(default_factory=list)  # {idx, leaf_hash, at} of redacted entries


def verify_export(data: bytes, trust_anchors: Sequence[x509.Certificate] = ()) -> VerifiedExport:
    """Check an export: the checkpoint's signature (and, given *trust_anchors*, its signer chain),
    and for every entry its leaf hash, its inclusion proof against the checkpoint's root, and that
    it is a portal audit record of the export's tenant. ValueError naming the first problem."""
    from evidence.verify import signature_valid

    lines = [json.loads(line) for line in data.splitlines() if line.strip()]
    if not lines or lines[0].get("type") != "checkpoint":
        raise ValueError("the export does not start with its checkpoint")
    head = lines[0]
    entries = [line for line in lines[1:] if line.get("type") == "entry"]
    redactions = [line for line in lines[1:] if line.get("type") == "redaction"]
    if len(entries) + len(redactions) != len(lines) - 1:
        raise ValueError("the export holds lines of an unknown type")
    body = head["body"].encode()
    chain = x509.load_pem_x509_certificates(head["signer_chain_pem"].encode())
    if not signature_valid(chain[0], body, base64.b64decode(head["signature"])):
        raise ValueError("the checkpoint's signature does not match its body")
    signed = json.loads(body)
    size, root = int(signed["tree_size"]), bytes.fromhex(signed["root_hash"])
    if (size, root.hex()) != (head["tree_size"], head["root_hash"]):
        raise ValueError("the export's tree size or root differs from the signed checkpoint")
    if trust_anchors:
        from attest.canonical import parse_utc
        from attest.verify import validate_signer_chain

        reason = validate_signer_chain(chain, list(trust_anchors), at=parse_utc(str(signed["signed_at"])))
        if reason is not None:
            raise ValueError(f"the checkpoint is not signed by a trusted signer: {reason}")
    if len(entries) != head.get("entries"):
        raise ValueError(f"the export announces {head.get('entries')} entries but holds {len(entries)}")
    coverage = Coverage(_checked_redaction(line, size, root) for line in redactions)
    payloads: list[dict[str, Any]] = []
    redacted: list[dict[str, Any]] = []
    for line in entries:
        if line.get("redacted"):
            # Nothing to hash: the leaf itself must be in the signed tree, and named by a redaction.
            _check_inclusion(line, bytes.fromhex(line["leaf_hash"]), size, root)
            if coverage.kind_of(int(line["idx"])) != KIND:
                raise ValueError(f"entry #{line['idx']} is marked redacted but no redaction record in the export "
                                 "names it")
            redacted.append({"idx": int(line["idx"]), "leaf_hash": line["leaf_hash"], "at": line.get("at")})
            continue
        parsed = _checked_record(line, size, root, "entry")
        if (parsed.get("kind"), parsed.get("source"), parsed.get("subject")) != (KIND, SOURCE,
                                                                                  subject_of(head["tenant"])):
            raise ValueError(f"entry #{line['idx']}: not a portal audit record of tenant {head['tenant']}")
        payloads.append(parsed["payload"])
    if len(redacted) != head.get("redacted", 0):
        raise ValueError(f"the export announces {head.get('redacted')} redacted entries but holds {len(redacted)}")
    return VerifiedExport(str(head["tenant"]), size, root.hex(), payloads, redacted)


def _check_inclusion(line: dict[str, Any], leaf: bytes, size: int, root: bytes) -> None:
    if not merkle.verify_inclusion(leaf, int(line["idx"]), size, [bytes.fromhex(h) for h in line["proof"]], root):
        raise ValueError(f"{line['type']} #{line['idx']}: its inclusion proof does not lead to the signed root")


def _checked_record(line: dict[str, Any], size: int, root: bytes, what: str) -> dict[str, Any]:
    """The parsed record of *line*, once its bytes give its leaf hash and the leaf is in the tree."""
    record = line["record"].encode()
    leaf = merkle.leaf_hash(record)
    if leaf.hex() != line["leaf_hash"]:
        raise ValueError(f"{what} #{line['idx']}: its record does not give its leaf hash")
    _check_inclusion(line, leaf, size, root)
    parsed: dict[str, Any] = json.loads(record)
    return parsed


def _checked_redaction(line: dict[str, Any], size: int, root: bytes) -> dict[str, Any]:
    parsed = _checked_record(line, size, root, "redaction")
    payload = parsed.get("payload")
    problem = statement_problem(payload)
    if ((parsed.get("kind"), parsed.get("source")) != (REDACTION_KIND, "attest") or problem is not None
            or not isinstance(payload, dict)):
        raise ValueError(f"redaction #{line['idx']}: not a valid redaction record ({problem or parsed.get('kind')})")
    if payload["kind"] != KIND:
        raise ValueError(f"redaction #{line['idx']}: it redacted {payload['kind']} records, not portal audit entries")
    return dict(payload)
