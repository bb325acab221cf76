"""Build an evidence pack from a workspace: the tenant's current document for a period, the
records it cites, the provider chain, the guides and the signed manifest; written atomically.

Kind ``audit`` adds ``audit/``: the GDPR audit report (attest/pack/audit/), issued once per
content and stored, so that a pack built twice is still identical.

Refusals (``BadInput``, exit 2, nothing written): an unknown tenant or malformed period, no
document for the tenant and period, a newest document that is revoked, document files that are
missing or differ from what the log recorded at issue, cited records the log no longer holds,
an existing output path, a folder that cannot be written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from attest.attestation import Attestation
from attest.canonical import sha256_hex
from attest.config import LoadedConfig
from attest.errors import BadInput
from attest.pack import CHAIN, KINDS, MANIFEST, MANIFEST_ENVELOPE, PACK_PREDICATE_TYPE
from attest.pack.archive import write_zip
from attest.pack.audit import AUDIT_DIR
from attest.pack.certificates import site_certificate_files
from attest.pack.guide import guides
from attest.pack.manifest import build_manifest
from attest.period import parse_period
from attest.signing import DSSE_SUFFIX, ProviderSigner
from attest.status import DocumentIndex, DocumentStatus
from evidence.log import DOCUMENT_KIND, EvidenceLog


@dataclass(frozen=True)
class Pack:
    data: bytes  # the ZIP
    document_id: str
    tenant: str
    period: str
    records: int
    files: int


def choose_document(index: DocumentIndex, tenant: str, period: str | None, label: str | None = None
                    ) -> DocumentStatus:
    """The tenant's current document for *period*, or for the newest period that has one. *label*
    names what is exported in the refusals (default "tenant <id>")."""
    label = label or f"tenant {tenant}"
    if period is None:
        periods = index.periods(tenant)
        for each in periods:
            newest = index.newest(tenant, each)
            if newest is not None and newest.revocation is None:
                return newest
        if periods:
            raise BadInput(f"{label}: every period with a document ({', '.join(periods)}) has its newest "
                           "document revoked: no current document to pack (issue one with `attest render`)")
        raise BadInput(f"{label}: no document was issued for any period (issue one with `attest render`)")
    newest = index.newest(tenant, period)
    if newest is None:
        raise BadInput(f"{label}, period {period}: no document was issued "
                       f"(periods with documents: {', '.join(index.periods(tenant)) or 'none'})")
    if newest.revocation is not None:
        r = newest.revocation
        raise BadInput(f"{label}, period {period}: the newest document {newest.document_id} was revoked on "
                       f"{r.revoked_at:%Y-%m-%d %H:%M} UTC ({r.reason}): no current document to pack")
    return newest


def _document_files(loaded: LoadedConfig, log: EvidenceLog, status: DocumentStatus) -> dict[str, bytes]:
    """The document's five files, checked against the digests its `attest.document` record signed."""
    doc_id = status.document_id
    folder = loaded.output_dir / str(status.tenant) / str(status.period)
    names = [f"{doc_id}.pdf", f"{doc_id}.html", f"{doc_id}.json", f"{doc_id}.html{DSSE_SUFFIX}",
             f"{doc_id}.json{DSSE_SUFFIX}"]
    files: dict[str, bytes] = {}
    for name in names:
        try:
            files[name] = (folder / name).read_bytes()
        except OSError as exc:
            raise BadInput(f"{folder / name}: cannot read the document file ({exc.strerror})") from None
    recorded = next((r.payload.get("files") or {} for r in log.records(kind=DOCUMENT_KIND,
                                                                       subject=f"document/{doc_id}")
                     if r.idx == status.record_idx), {})
    for ext in ("pdf", "html", "json"):
        if sha256_hex(files[f"{doc_id}.{ext}"]) != recorded.get(ext):
            raise BadInput(f"{folder / f'{doc_id}.{ext}'}: differs from the file recorded in the evidence log "
                           f"when {doc_id} was issued (record #{status.record_idx}); nothing was packed")
    return files


def _cited_records(log: EvidenceLog, att: Attestation) -> dict[int, bytes]:
    """The stored bytes of every record the attestation proves, by log position."""
    wanted = {p.leaf_index: p.leaf_hash for p in att.proofs}
    found = {r.idx: r.body for r in log.records(leaves=sorted(set(wanted.values())), up_to=att.checkpoint.tree_size)
             if wanted.get(r.idx) == r.leaf_hex}
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise BadInput(f"the evidence log no longer holds {len(missing)} record(s) {att.document_id} cites "
                       f"(e.g. #{missing[0]}): nothing was packed")
    return found


def _what(name: str, files: dict[str, bytes]) -> str:
    """" (kind subject)" of a record entry, to say which record it is; "" for other files."""
    if not name.startswith("records/"):
        return ""
    try:
        record = json.loads(files[name])
        return f" ({record.get('kind')} {record.get('subject')})"
    except (ValueError, AttributeError):
        return ""


def _audit_entries(loaded: LoadedConfig, log: EvidenceLog, signer: ProviderSigner, index: DocumentIndex,
                   att: Attestation, records: dict[int, bytes], files: dict[str, bytes],
                   others: dict[str, str]) -> dict[str, bytes]:
    """The audit report's files as ``audit/<name>`` entries (issued once, then reused: see
    attest/pack/audit/issue.py). The pack's other entries and the report's content are checked for
    other tenants first, so a report that could never be packed is not issued and stored either."""
    from attest.pack.audit.assemble import audit_content
    from attest.pack.audit.issue import audit_report_files

    content = audit_content(att, records, index, loaded.output_dir, log)
    probe = {**files, f"{AUDIT_DIR}/report.json": content.digest_bytes()}
    if found := foreign_mentions(probe, others):
        raise BadInput(f"{found[0]}{_what(found[0], files)} names another tenant ({found[1]}), so no audit pack "
                       f"can be built for {att.tenant.id}; nothing was written")
    report = audit_report_files(loaded.output_dir, log, signer, att, content)
    return {f"{AUDIT_DIR}/{name}": data for name, data in report.items()}


_WORD = re.compile(r"[A-Za-z0-9]+")


def _as_word(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(text)}(?![A-Za-z0-9])")


def foreign_mentions(files: dict[str, bytes], others: dict[str, str]) -> tuple[str, str] | None:
    """The first (file, tenant id) where a text entry names another tenant (*others*: id → legal
    name) by its id or its legal name, each as a whole word; None when none does (DESIGN.md §3.8).
    The PDF is not read: its text is the HTML's, its attachment the JSON's.

    A fleet has a thousand tenants and a provider-wide pack several megabytes of text, so each file
    is split into its words once, and a name is searched for only when every word of it is there."""
    wanted = [(tid, needle, _WORD.findall(needle)) for tid, legal_name in others.items()
              for needle in (tid, legal_name) if needle]
    for name in sorted(files):
        if name.endswith((".pdf", ".png", ".jpg")):
            continue
        text = files[name].decode("utf-8", "replace")
        words = set(_WORD.findall(text))
        for tid, needle, parts in wanted:
            if all(part in words for part in parts) and _as_word(needle).search(text):
                return name, tid
    return None


def build_pack(loaded: LoadedConfig, log: EvidenceLog, signer: ProviderSigner, tenant_id: str,
               period: str | None, kind: str = "tender") -> Pack:
    if kind not in KINDS:
        raise BadInput(f"--kind {kind!r}: expected one of {', '.join(KINDS)}")
    tenant = loaded.tenant(tenant_id)
    if period is not None:
        parse_period(period, loaded.model.time_zone)  # BadInput for anything but YYYY-MM
    anchors = [loaded.resolve(p) for p in loaded.model.provider.trust_anchors]
    from attest.verify import load_trust_anchors

    index = DocumentIndex.load(log, load_trust_anchors(anchors))
    status = choose_document(index, tenant.id, period)
    doc_files = _document_files(loaded, log, status)
    att = Attestation.from_json_bytes(doc_files[f"{status.document_id}.json"])
    if att.tenant.id != tenant.id or att.document_id != status.document_id:
        raise BadInput(f"{status.document_id}.json: names document {att.document_id} of tenant {att.tenant.id}, "
                       f"not what the log recorded; nothing was packed")
    records = _cited_records(log, att)
    # The key signing the pack first, then any other certificate the document's checkpoint names
    # (a key rotated since the document was issued).
    from cryptography import x509

    chain: list[x509.Certificate] = []
    for cert in [signer.certificate, *signer.chain,
                 *(x509.load_pem_x509_certificate(pem.encode()) for pem in att.checkpoint.signer_chain)]:
        if cert not in chain:
            chain.append(cert)
    files: dict[str, bytes] = {f"document/{name}": data for name, data in doc_files.items()}
    files.update({f"records/{idx}.json": body for idx, body in records.items()})
    files.update(site_certificate_files(log, records))  # the datacenter certificates the document cites
    files[CHAIN] = b"".join(c.public_bytes(Encoding.PEM) for c in chain)
    files.update(guides(att, signer.certificate, kind))
    others = {t.id: t.legal_name for t in loaded.model.tenants if t.id != tenant.id}
    if kind == "audit":
        files.update(_audit_entries(loaded, log, signer, index, att, records, files, others))
    if found := foreign_mentions(files, others):
        raise BadInput(f"{found[0]}{_what(found[0], files)} names another tenant ({found[1]}), so it cannot go in "
                       f"{tenant.id}'s pack; nothing was written. A record about something two tenants share (a "
                       "guest both are assigned to) cannot be packed without revealing the other; the configuration "
                       "record holds source ids and paths as configured, so name sources without tenant names "
                       "(e.g. pbx-07) and issue the document again")
    manifest = build_manifest(kind, att, signer.fingerprint, files)
    predicate = {"kind": kind, "document_id": att.document_id, "tenant": att.tenant.id, "period": att.period}
    files[MANIFEST] = manifest
    files[MANIFEST_ENVELOPE] = signer.dsse_envelope(MANIFEST, manifest, PACK_PREDICATE_TYPE, predicate,
                                                    deterministic=True)
    return Pack(write_zip(files), att.document_id, att.tenant.id, att.period, len(records), len(files))


def check_output(out: Path) -> None:
    """Refuse an output path that exists or whose folder is missing, before any work is done."""
    if out.exists() or out.is_symlink():
        raise BadInput(f"--out {out}: already exists; nothing was written (choose another name)")
    if not out.parent.is_dir():
        raise BadInput(f"--out {out}: the folder {out.parent} does not exist")


def write_pack(out: Path, data: bytes) -> None:
    """Write *data* to *out* through a temporary file in the same folder, linked into place only
    when complete, and never over an existing file."""
    check_output(out)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    except OSError as exc:
        raise BadInput(f"--out {out}: cannot write in {out.parent} ({exc.strerror})") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, out)  # fails if *out* appeared meanwhile: never clobbers
        except FileExistsError:
            raise BadInput(f"--out {out}: already exists; nothing was written") from None
    except OSError as exc:
        raise BadInput(f"--out {out}: cannot write ({exc.strerror})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
