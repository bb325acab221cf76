"""Manual evidence: documents no API holds (a restore-test log, a datacenter's ISO/IEC 27001
certificate, a maintenance notice), added with `attest evidence add`.

The file is stored as an artifact exactly as given (its SHA-256 is what a reader checks it
against) and described by one record in its own run, with who added it and when, so it sits in
the log like collected evidence: Merkle-hashed, covered by a signed checkpoint, cited by checks.
The input is untrusted: size-limited, type-sniffed, refused when truncated or empty.
"""

from __future__ import annotations

import getpass
import hashlib
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from attest.canonical import utc_iso
from attest.config import LoadedConfig, ProxmoxSource
from attest.errors import BadInput
from evidence.log import CheckpointSigner, EvidenceLog, NewRecord, SignedCheckpoint, StoredRecord

SOURCE = "manual"
# CLI name -> record kind (DESIGN.md §2: manual.<thing>).
KINDS = {
    "restore-test": "manual.restore_test",
    "site-certificate": "manual.site_certificate",
    "maintenance-notice": "manual.maintenance_notice",
    "document": "manual.document",
}
MAX_BYTES = 50 * 1024 * 1024  # a certificate or a test log, not a disk image

_GUEST_SUBJECT = re.compile(r"^(?P<src>[a-z0-9][a-z0-9_-]*)/(?P<type>qemu|lxc)/(?P<vmid>\d{1,9})$")


@dataclass(frozen=True)
class AddedEvidence:
    record: StoredRecord
    checkpoint: SignedCheckpoint
    sha256: str


def sniff_media_type(data: bytes) -> str:
    """What the bytes are, from their content (the file name is not trusted)."""
    if data.startswith(b"%PDF-"):
        # A PDF cut short in transfer lacks its trailer: refuse it rather than keep half a certificate.
        if b"%%EOF" not in data[-2048:]:
            raise BadInput("the PDF is truncated (no %%EOF trailer in its last 2 KiB)")
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("unsupported file type: give a PDF, PNG, JPEG or UTF-8 text file") from None
    if "\x00" in text:
        raise BadInput("unsupported file type: text with NUL bytes")
    return "text/plain; charset=utf-8"


def read_document(path: Path) -> tuple[bytes, str]:
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    if not path.is_file():
        raise BadInput(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise BadInput(f"{path}: the file is empty")
    if size > MAX_BYTES:
        raise BadInput(f"{path}: {size:,} bytes is more than the {MAX_BYTES // (1024 * 1024)} MiB accepted")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        return data, sniff_media_type(data)
    except BadInput as exc:
        raise BadInput(f"{path}: {exc}") from exc


def check_subject(config: LoadedConfig, kind: str, subject: str, reference: str | None) -> None:
    """A subject names something the config knows, so checks can find the document."""
    sites = {s.id: s for s in config.model.sites}
    tenants = {t.id for t in config.model.tenants}
    pve = {s.id for s in config.model.sources if isinstance(s, ProxmoxSource)}
    if kind == "site-certificate":
        site_id = subject.removeprefix("site/")
        if not subject.startswith("site/") or site_id not in sites:
            raise BadInput(f"--subject {subject!r}: a site certificate is about a site: site/<id> with id one of "
                           f"{', '.join(sorted(sites)) or '(no sites configured)'}")
        if not reference:
            raise BadInput("--reference: give the certificate number the document proves")
        numbers = [c.number for c in sites[site_id].certifications]
        if reference not in numbers:
            raise BadInput(f"--reference {reference!r}: site {site_id} declares no certification with that number "
                           f"(declared: {', '.join(numbers) or 'none'}); declare it in the config first")
        return
    if subject.startswith("tenant/"):
        if subject.removeprefix("tenant/") not in tenants:
            raise BadInput(f"--subject {subject!r}: unknown tenant")
        return
    if subject.startswith("site/"):
        if subject.removeprefix("site/") not in sites:
            raise BadInput(f"--subject {subject!r}: unknown site")
        return
    m = _GUEST_SUBJECT.match(subject)
    if m and m["src"] in pve:
        return
    raise BadInput(f"--subject {subject!r}: expected tenant/<id>, site/<id> or <source>/<qemu|lxc>/<vmid> "
                   f"with source one of {', '.join(sorted(pve)) or '(none)'}")


def default_author() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def add_manual_evidence(config: LoadedConfig, log: EvidenceLog, signer: CheckpointSigner, *, kind: str,
                        path: Path, subject: str, performed_at: datetime | None = None,
                        reference: str | None = None, title: str | None = None, note: str | None = None,
                        added_by: str | None = None, wait_s: float = 0) -> AddedEvidence:
    if kind not in KINDS:
        raise BadInput(f"--kind {kind!r}: one of {', '.join(KINDS)}")
    check_subject(config, kind, subject, reference)
    now = datetime.now(UTC).replace(microsecond=0)
    if kind == "restore-test" and performed_at is None:
        raise BadInput("--performed: give the date the restore test was performed (YYYY-MM-DD or ISO 8601)")
    if performed_at is not None and performed_at > now:
        raise BadInput(f"--performed {utc_iso(performed_at)}: in the future")
    data, media_type = read_document(path)
    # Everything is checked before the run begins: a refused file leaves no trace in the log.
    run_id = log.begin_run("evidence-add", signer, wait_s)
    stored_sha = log.put_artifact(data, media_type)
    sha = hashlib.sha256(data).hexdigest()
    payload = {
        # The hash of the file as given, which its author can check; the stored copy differs only
        # if the secret scrubber found something that looked like a credential in it.
        "document": {"filename": path.name, "sha256": sha, "size": len(data), "media_type": media_type,
                     "stored_redacted": stored_sha != sha},
        "performed_at": utc_iso(performed_at) if performed_at else None,
        "reference": reference,
        "title": title,
        "note": note,
        "added_by": added_by or default_author(),
        "added_at": utc_iso(now),
    }
    stored = log.append(run_id, [NewRecord(source=SOURCE, kind=KINDS[kind], subject=subject, payload=payload,
                                           collected_at=now, artifacts=(stored_sha,))])
    checkpoint = log.finish_run(run_id, "ok", signer, {"sources": [{
        "source": SOURCE, "type": "manual", "status": "ok", "error": None, "started_at": utc_iso(now),
        "finished_at": utc_iso(now), "records": 1, "sections": ["manual"], "failures": []}]})
    return AddedEvidence(stored[0], checkpoint, sha)
