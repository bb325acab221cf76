"""Check an attestation's own evidence claims from the attestation alone: the checkpoint it
names is signed by a trusted signer, and every record it cites is in that checkpoint's tree
(RFC 6962 inclusion proofs). This is what lets a customer, holding only its document, trust
that the cited evidence was in the provider's append-only log when the document was issued."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from cryptography import x509

from attest.attestation import Attestation
from attest.signing import verify_bytes
from evidence import merkle


def attestation_problems(att: Attestation, trust_anchors: Sequence[x509.Certificate]) -> list[str]:
    """Plain-English problems; empty when the checkpoint and every proof check out and the
    checkpoint's signer is trusted."""
    problems = integrity_problems(att)
    if not problems:
        trust = checkpoint_trust_problem(att, trust_anchors)
        if trust:
            problems.append(trust)
    return problems


def checkpoint_trust_problem(att: Attestation, trust_anchors: Sequence[x509.Certificate]) -> str | None:
    from attest.verify import validate_signer_chain

    chain = [x509.load_pem_x509_certificate(pem.encode()) for pem in att.checkpoint.signer_chain]
    reason = validate_signer_chain(chain, trust_anchors, at=att.checkpoint.signed_at)
    return f"the checkpoint's signer is not trusted: {reason}" if reason else None


def integrity_problems(att: Attestation) -> list[str]:
    """Whether the checkpoint signature matches its body (with the certificate it names) and
    every inclusion proof leads to its root; trust in the signer is a separate question."""
    cp = att.checkpoint
    problems: list[str] = []
    try:
        signed = json.loads(cp.body)
        chain = [x509.load_pem_x509_certificate(pem.encode()) for pem in cp.signer_chain]
        signature = base64.b64decode(cp.signature, validate=True)
        root = bytes.fromhex(cp.root_hash)
    except (ValueError, binascii.Error, TypeError) as exc:
        return [f"the checkpoint in the attestation is unreadable ({type(exc).__name__})"]
    if not chain or not verify_bytes(chain[0], cp.body.encode(), signature):
        problems.append("the checkpoint's signature does not match its content")
    if (signed.get("tree_size"), signed.get("root_hash"), signed.get("log_id")) != (
            cp.tree_size, cp.root_hash, cp.log_id):
        problems.append("the checkpoint's size, root or log id differ from what was signed")
    proven = {}
    for proof in att.proofs:
        try:
            ok = merkle.verify_inclusion(bytes.fromhex(proof.leaf_hash), proof.leaf_index, cp.tree_size,
                                         [bytes.fromhex(h) for h in proof.audit_path], root)
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"the inclusion proof of record {proof.leaf_hash[:16]}… does not lead to the signed root")
        proven[proof.leaf_hash] = ok
    cited = sorted({h for r in att.results for h in r.evidence})
    unproven = [h for h in cited if h not in proven]
    if unproven:
        problems.append(f"{len(unproven)} cited record(s) have no inclusion proof (e.g. {unproven[0][:16]}…)")
    return problems
