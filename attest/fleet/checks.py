"""What `attest verify` checks in a fleet attestation's own claims: the checkpoint it names is
signed over exactly the size, root and log id it states, by a trusted signer. It cites no record
and carries no inclusion proof (they would identify customers), so there is nothing more."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from cryptography import x509

from attest.attestation import CheckpointRef
from attest.signing import verify_bytes


def checkpoint_problems(cp: CheckpointRef) -> list[str]:
    """Whether the checkpoint's signature matches its body and the body states what the document
    says; trust in the signer is `checkpoint_trust_problem`'s question."""
    try:
        signed = json.loads(cp.body)
        chain = [x509.load_pem_x509_certificate(pem.encode()) for pem in cp.signer_chain]
        signature = base64.b64decode(cp.signature, validate=True)
    except (ValueError, binascii.Error, TypeError) as exc:
        return [f"the checkpoint in the document is unreadable ({type(exc).__name__})"]
    problems = []
    if not chain or not verify_bytes(chain[0], cp.body.encode(), signature):
        problems.append("the checkpoint's signature does not match its content")
    if not isinstance(signed, dict) or (signed.get("tree_size"), signed.get("root_hash"), signed.get("log_id")) != (
            cp.tree_size, cp.root_hash, cp.log_id):
        problems.append("the checkpoint's size, root or log id differ from what was signed")
    return problems


def checkpoint_trust_problem(cp: CheckpointRef, trust_anchors: Sequence[x509.Certificate]) -> str | None:
    from attest.verify import validate_signer_chain

    chain = [x509.load_pem_x509_certificate(pem.encode()) for pem in cp.signer_chain]
    reason = validate_signer_chain(chain, trust_anchors, at=cp.signed_at)
    return f"the checkpoint's signer is not trusted: {reason}" if reason else None
