"""When a document need not be issued again (issue 6 item 7).

A document is rendered again only when what it would show changed: the **content digest** of its
attestation JSON — everything the document shows, the tenant's language and the provider's
identity included, but not what identifies one issuance (document id, the document it
supersedes, when it was generated, and the checkpoint and proofs it names, which every
evaluation renews) — or the **render version**: a digest of the templates, translations,
stylesheet, control catalog and tool version. Both are kept in the signed `attest.document`
record, so the decision rests on the log, not on files that might have been edited.

An open month changes with every evaluation (its as-of instant moves), so this mostly spares
closed months and timers that run often: an unchanged document stays the current one.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache
from importlib import resources
from typing import Any

from attest.attestation import Attestation
from attest.canonical import digest_of, sha256_hex
from evidence.log import DOCUMENT_KIND, EvidenceLog

# What identifies one issuance rather than what the document says.
ISSUANCE_FIELDS = frozenset({"document_id", "supersedes", "generated_at", "checkpoint", "proofs"})


def content_digest(att: Attestation, issuance_leaves: Collection[str] = ()) -> str:
    """Digest of what *att* shows. *issuance_leaves* are the configuration records every
    evaluation writes anew (same content, new leaf): left out of the citations, since
    `config_digest`, which is in, already covers what they say."""
    data = att.model_dump(mode="json", by_alias=True, exclude=set(ISSUANCE_FIELDS))
    skip = set(issuance_leaves)
    for result in data["results"]:
        result["evidence"] = [h for h in result["evidence"] if h not in skip]
    return digest_of(data)


def _package_files(package: str, suffixes: tuple[str, ...]) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []

    def walk(node: Any, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            name = f"{prefix}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, name + "/")
            elif child.name.endswith(suffixes):
                found.append((name, child.read_bytes()))

    walk(resources.files(package), f"{package}/")
    return found


@cache
def render_version(tool_version: str) -> str:
    """Digest of everything besides the attestation that shapes a document: templates,
    translations, stylesheet, catalog (titles, explanations, mappings) and the tool's version."""
    files = _package_files("templates", (".j2", ".css", ".yaml")) + _package_files("attest.controls", (".yaml",))
    return digest_of({"tool": tool_version, "files": {name: sha256_hex(data) for name, data in files}})


def current_records(log: EvidenceLog, period: str) -> dict[str, dict[str, Any]]:
    """tenant id -> the payload of its newest signed `attest.document` record for *period* (one
    pass over the document records, whatever the number of tenants)."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in log.records(kind=DOCUMENT_KIND, up_to=log.signed_size()):
        p = rec.payload
        if p.get("period") == period and isinstance(p.get("tenant"), str):
            latest[p["tenant"]] = p
    return latest


def unchanged(previous: dict[str, Any] | None, att: Attestation, issuance_leaves: Collection[str] = ()) -> bool:
    """Whether *att* would show exactly what the previous document shows, rendered the same way."""
    return (previous is not None and previous.get("content_digest") == content_digest(att, issuance_leaves)
            and previous.get("render_version") == render_version(att.tool_version))
