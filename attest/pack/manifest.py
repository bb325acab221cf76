"""``MANIFEST.json``: what a pack holds, for whom, on which checkpoint.

Shape (``attest.pack/v1``): ``schema``, ``kind`` (tender | audit | fleet), ``document_id``, ``tenant``
(id, legal name; null in a fleet pack), ``period``, ``checkpoint`` (log id, tree size, root hash), ``created`` (the
attestation's ``generated_at``: a pack built twice is identical), ``signer_fingerprint``
(SHA-256 of the provider certificate), ``files`` (every entry but the manifest and its
envelope, sorted by path, each with ``sha256`` and ``size``). Written as sorted, indented
UTF-8 JSON, so it reads well and is byte-for-byte reproducible.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from attest.attestation import Attestation, CheckpointRef
from attest.pack import MANIFEST, MANIFEST_ENVELOPE, PACK_SCHEMA


def build_manifest(kind: str, att: Attestation, signer_fingerprint: str, files: Mapping[str, bytes]) -> bytes:
    return manifest_bytes(kind, att.document_id, {"id": att.tenant.id, "legal_name": att.tenant.legal_name},
                          att.period, att.checkpoint, att.generated_at, signer_fingerprint, files)


def manifest_bytes(kind: str, document_id: str, tenant: dict[str, str] | None, period: str, checkpoint: CheckpointRef,
                   created: datetime, signer_fingerprint: str, files: Mapping[str, bytes]) -> bytes:
    """The manifest of any pack; *tenant* is None for a provider-wide (fleet) pack, which names none."""
    manifest = {
        "schema": PACK_SCHEMA,
        "kind": kind,
        "document_id": document_id,
        "tenant": tenant,
        "period": period,
        "checkpoint": {"log_id": checkpoint.log_id, "tree_size": checkpoint.tree_size,
                       "root_hash": checkpoint.root_hash},
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signer_fingerprint": signer_fingerprint,
        "files": [{"path": name, "sha256": hashlib.sha256(files[name]).hexdigest(), "size": len(files[name])}
                  for name in sorted(files)],
    }
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Manifest:
    kind: str
    document_id: str
    tenant: str
    period: str
    tree_size: int
    root_hash: str
    signer_fingerprint: str
    files: dict[str, tuple[str, int]]  # path -> (sha256 hex, size)


def parse_manifest(data: bytes) -> Manifest:
    """The manifest in *data*; ValueError saying what is wrong with it."""
    try:
        raw: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(raw, dict) or raw.get("schema") != PACK_SCHEMA:
        raise ValueError(f"not a {PACK_SCHEMA} manifest")
    try:
        files: dict[str, tuple[str, int]] = {}
        for entry in raw["files"]:
            path, sha, size = entry["path"], entry["sha256"], entry["size"]
            if not (isinstance(path, str) and isinstance(sha, str) and isinstance(size, int)):
                raise TypeError
            if path in files or path in (MANIFEST, MANIFEST_ENVELOPE):
                raise ValueError(f"lists {path} twice, or lists itself")
            files[path] = (sha.lower(), size)
        cp = raw["checkpoint"]
        tenant = "" if raw["tenant"] is None else str(raw["tenant"]["id"])  # None: a fleet pack names no tenant
        return Manifest(str(raw["kind"]), str(raw["document_id"]), tenant, str(raw["period"]),
                        int(cp["tree_size"]), str(cp["root_hash"]), str(raw["signer_fingerprint"]), files)
    except (KeyError, TypeError, AttributeError):
        raise ValueError("a field is missing or of the wrong type") from None
