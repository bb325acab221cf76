"""Per-tenant export of the portal audit trail (a GDPR access request), verifiable offline.

The export is read from the evidence log, not from the staging table (which retention prunes):
JSON lines, first the latest signed checkpoint (its body, signature and signer chain), then one
line per entry of the tenant: its leaf index, leaf hash, the record's exact bytes and an RFC 6962
inclusion proof against that checkpoint. `verify_export` checks all of it, so whoever receives
the file needs neither the database nor Attest's word for it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from attest.canonical import utc_iso
from attest.errors import BadInput
from attest.portal.audit import KIND, SOURCE, subject_of
from attest.portal.context import Portal
from evidence import merkle

EXPORT_VERSION = 1


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
    chosen = []
    for rec in log.records(kind=KIND, source=SOURCE, subject=subject_of(tenant), up_to=cp.tree_size):
        at = str(rec.payload.get("at", ""))
        # `at` is RFC 3339 UTC with a Z, one format throughout: strings order as times do.
        if (low is None or at >= low) and (high is None or at < high):
            chosen.append(rec)
    leaves = log.leaf_hashes(cp.tree_size)
    proofs = log.inclusion_proofs([r.idx for r in chosen], cp.tree_size, leaves)
    lines = [{"type": "checkpoint", "v": EXPORT_VERSION, "tenant": tenant, "log_id": cp.log_id,
              "tree_size": cp.tree_size, "root_hash": cp.root_hash.hex(), "body": cp.body.decode(),
              "signature": base64.b64encode(cp.signature).decode(), "signer_chain_pem": cp.signer_cert_pem,
              "since": low, "until": high, "entries": len(chosen)}]
    lines += [{"type": "entry", "idx": r.idx, "leaf_hash": r.leaf_hex, "record": r.body.decode(),
               "proof": [h.hex() for h in proofs[r.idx]]} for r in chosen]
    return b"".join(json.dumps(line, ensure_ascii=False, sort_keys=True).encode() + b"\n" for line in lines)


@dataclass(frozen=True)
class VerifiedExport:
    tenant: str
    tree_size: int
    root_hash: str
    entries: list[dict[str, Any]]  # each record's payload, in log order


def verify_export(data: bytes, trust_anchors: Sequence[x509.Certificate] = ()) -> VerifiedExport:
    """Check an export: the checkpoint's signature (and, given *trust_anchors*, its signer chain),
    and for every entry its leaf hash, its inclusion proof against the checkpoint's root, and that
    it is a portal audit record of the export's tenant. ValueError naming the first problem."""
    from evidence.verify import signature_valid

    lines = [json.loads(line) for line in data.splitlines() if line.strip()]
    if not lines or lines[0].get("type") != "checkpoint":
        raise ValueError("the export does not start with its checkpoint")
    head, entries = lines[0], lines[1:]
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
    payloads: list[dict[str, Any]] = []
    for line in entries:
        record = line["record"].encode()
        leaf = merkle.leaf_hash(record)
        if leaf.hex() != line["leaf_hash"]:
            raise ValueError(f"entry #{line['idx']}: its record does not give its leaf hash")
        if not merkle.verify_inclusion(leaf, int(line["idx"]), size, [bytes.fromhex(h) for h in line["proof"]],
                                       root):
            raise ValueError(f"entry #{line['idx']}: its inclusion proof does not lead to the signed root")
        parsed = json.loads(record)
        if (parsed.get("kind"), parsed.get("source"), parsed.get("subject")) != (KIND, SOURCE,
                                                                                  subject_of(head["tenant"])):
            raise ValueError(f"entry #{line['idx']}: not a portal audit record of tenant {head['tenant']}")
        payloads.append(parsed["payload"])
    return VerifiedExport(str(head["tenant"]), size, root.hex(), payloads)
