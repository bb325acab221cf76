"""`attest evidence verify`: recompute every leaf and root, check every checkpoint's signature
and the consistency between successive checkpoints, and name whatever was altered, inserted,
deleted or truncated."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import merkle
from evidence.models import Artifact, LogMeta, Record

if TYPE_CHECKING:
    from evidence.log import EvidenceLog, Problem, SignedCheckpoint, VerifyOutcome


def signature_valid(cert: x509.Certificate, data: bytes, signature: bytes) -> bool:
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def issued_by_anchor(cert: x509.Certificate, anchors: Sequence[x509.Certificate]) -> bool:
    for anchor in anchors:
        if cert == anchor:
            return True
        try:
            cert.verify_directly_issued_by(anchor)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False


def _ranges(indices: list[int]) -> str:
    """[3,4,5,9] -> '#3–#5, #9'"""
    out: list[str] = []
    start = prev = None
    for i in sorted(indices):
        if start is None:
            start = prev = i
        elif prev is not None and i == prev + 1:
            prev = i
        else:
            out.append(f"#{start}" if start == prev else f"#{start}–#{prev}")
            start = prev = i
    if start is not None:
        out.append(f"#{start}" if start == prev else f"#{start}–#{prev}")
    return ", ".join(out)


def verify_log(log: EvidenceLog, anchors: Sequence[x509.Certificate]) -> VerifyOutcome:
    from evidence.log import Problem, VerifyOutcome

    problems: list[Problem] = []
    with Session(log.engine) as s:
        rows = list(s.execute(select(Record).order_by(Record.idx)).scalars())
        meta = s.get(LogMeta, 1)
        artifacts = list(s.execute(select(Artifact)).scalars())

    # 1. Positions: a deleted record leaves a gap; the head row must agree with what is there.
    present = {r.idx for r in rows}
    top = max(present) + 1 if present else 0
    missing = [i for i in range(top) if i not in present]
    if missing:
        problems.append(Problem(f"record(s) {_ranges(missing)} missing: deleted from the log", missing[0]))
    if meta is not None and meta.size != len(rows):
        problems.append(Problem(f"the log's head says {meta.size} records, {len(rows)} are present"))

    # 2. Each record's bytes against its leaf hash and its index columns.
    for r in rows:
        if merkle.leaf_hash(r.body) != r.leaf_hash:
            problems.append(Problem(f"record #{r.idx} ({r.kind} {r.subject}) altered: its content no longer "
                                    "matches its leaf hash", r.idx))
            continue
        try:
            body = json.loads(r.body)
            cols = (body["source"], body["kind"], body["subject"], body["collected_at"], body["run"])
        except (ValueError, KeyError, TypeError):
            problems.append(Problem(f"record #{r.idx} is not a well-formed record", r.idx))
            continue
        if cols != (r.source, r.kind, r.subject, r.collected_at, r.run_id):
            problems.append(Problem(f"record #{r.idx}: its indexed columns were changed and no longer agree "
                                    "with its signed content", r.idx))

    # Leaves as the content says they are (a record whose leaf column was rewritten too is
    # caught below, by the signed roots).
    leaves = [merkle.leaf_hash(r.body) for r in rows] if not missing else []

    # 3. Checkpoints: database against the witness file, then each signature and root.
    checkpoints = log.checkpoints()
    problems += _compare_witness(log, checkpoints)
    previous: SignedCheckpoint | None = None
    for cp in checkpoints:
        problems += _check_checkpoint(cp, anchors)
        if cp.tree_size > len(rows):
            problems.append(Problem(f"log truncated: checkpoint {cp.id} signs {cp.tree_size} records but only "
                                    f"{len(rows)} are present (records #{len(rows)}–#{cp.tree_size - 1} gone)"))
        elif leaves and merkle.root(leaves[: cp.tree_size]) != cp.root_hash:
            start = previous.tree_size if previous and previous.tree_size <= cp.tree_size else 0
            problems.append(Problem(f"records #{start}–#{cp.tree_size - 1} do not match signed checkpoint {cp.id}: "
                                    "a record in that range was rewritten, inserted or removed", start))
        elif leaves and previous is not None and 0 < previous.tree_size <= cp.tree_size:
            proof = merkle.consistency_proof(leaves[: cp.tree_size], previous.tree_size)
            if not merkle.verify_consistency(previous.tree_size, cp.tree_size, previous.root_hash, cp.root_hash,
                                             proof):
                problems.append(Problem(f"checkpoint {cp.id} is not an append-only extension of checkpoint "
                                        f"{previous.id}"))
        if previous is not None and cp.tree_size < previous.tree_size:
            problems.append(Problem(f"checkpoint {cp.id} signs a smaller tree ({cp.tree_size}) than checkpoint "
                                    f"{previous.id} ({previous.tree_size}): the log was rewound"))
        previous = cp

    # 4. Records nobody signed: appended after the last checkpoint.
    signed_size = checkpoints[-1].tree_size if checkpoints else 0
    unsigned = [r.idx for r in rows if r.idx >= signed_size]
    if unsigned:
        problems.append(Problem(f"record(s) {_ranges(unsigned)} appended after the last signed checkpoint "
                                "(not covered by any signature)", unsigned[0]))

    # 5. Artifacts still match their digests.
    for a in artifacts:
        try:
            log.blobs.get(a.sha256)
        except FileNotFoundError:
            problems.append(Problem(f"artifact {a.sha256[:16]}… is missing from the evidence folder"))
        except ValueError:
            problems.append(Problem(f"artifact {a.sha256[:16]}… was altered: its bytes no longer match its digest"))

    return VerifyOutcome(tree_size=len(rows), checkpoints=len(checkpoints), problems=problems)


def _check_checkpoint(cp: SignedCheckpoint, anchors: Sequence[x509.Certificate]) -> list[Problem]:
    from evidence.log import Problem

    out: list[Problem] = []
    try:
        cert = cp.signer_certificate
    except ValueError:
        return [Problem(f"checkpoint {cp.id}: its signer certificate is unreadable")]
    if not signature_valid(cert, cp.body, cp.signature):
        out.append(Problem(f"checkpoint {cp.id}: signature does not match its content"))
    elif anchors and not issued_by_anchor(cert, anchors):
        out.append(Problem(f"checkpoint {cp.id}: signed by {cert.subject.rfc4514_string()}, "
                           "which no trust anchor issued"))
    try:
        body = json.loads(cp.body)
        if body["tree_size"] != cp.tree_size or bytes.fromhex(body["root_hash"]) != cp.root_hash:
            out.append(Problem(f"checkpoint {cp.id}: its stored size/root differ from what was signed"))
    except (ValueError, KeyError, TypeError):
        out.append(Problem(f"checkpoint {cp.id}: its signed content is not well-formed"))
    return out


def _compare_witness(log: EvidenceLog, checkpoints: list[SignedCheckpoint]) -> list[Problem]:
    from evidence.log import Problem

    if not log.witness_path.exists():
        return [Problem(f"witness file {log.witness_path} is missing")] if checkpoints else []
    witnessed: dict[int, tuple[bytes, bytes]] = {}
    for n, line in enumerate(log.witness_path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(line)
            witnessed[int(entry["id"])] = (entry["body"].encode(), base64.b64decode(entry["signature"]))
        except (ValueError, KeyError, TypeError):
            return [Problem(f"{log.witness_path}: line {n} is not a well-formed checkpoint")]
    out: list[Problem] = []
    in_db = {cp.id: cp for cp in checkpoints}
    for cid in sorted(set(witnessed) - set(in_db)):
        size = json.loads(witnessed[cid][0]).get("tree_size")
        out.append(Problem(f"checkpoint {cid} (tree size {size}) is in the witness file but was removed from the "
                           "database"))
    for cid, cp in in_db.items():
        if cid not in witnessed:
            out.append(Problem(f"checkpoint {cid} is in the database but not in the witness file"))
        elif witnessed[cid] != (cp.body, cp.signature):
            out.append(Problem(f"checkpoint {cid} differs from its copy in the witness file"))
    return out
