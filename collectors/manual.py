"""Manual evidence: documents no API holds (a restore-test log, a datacenter's ISO/IEC 27001
certificate, a maintenance notice), added with `attest evidence add`.

The file is stored as an artifact exactly as given (its SHA-256 is what a reader checks it
against) and described by one record in its own run, with who added it and when, so it sits in
the log like collected evidence: Merkle-hashed, covered by a signed checkpoint, cited by checks.
The input is untrusted: size-limited, type-sniffed, refused when truncated or empty.

A maintenance notice (the email or PDF sent to customers) also carries the window it announces
and when it was announced: `window {start, end, announced_at, instances}`, the instances being
the SLA instances it covers (`sla/<instance>`, or every SLA instance of `tenant/<id>` when it is
added). SLA-01 reads these records; whether the notice came early enough is its judgement, not
this module's.
"""

from __future__ import annotations

import getpass
import hashlib
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
NOTICE = "maintenance-notice"
# A planned maintenance window, not a way to exclude a week of outages from the SLA: longer work
# is announced as several windows.
MAX_WINDOW = timedelta(days=7)

_GUEST_SUBJECT = re.compile(r"^(?P<src>[a-z0-9][a-z0-9_-]*)/(?P<type>qemu|lxc)/(?P<vmid>\d{1,9})$")


@dataclass(frozen=True)
class AddedEvidence:
    record: StoredRecord
    checkpoint: SignedCheckpoint
    sha256: str
    notes: tuple[str, ...] = ()  # what the person adding it should know (e.g. a late announcement)


@dataclass(frozen=True)
class NoticeWindow:
    """The maintenance window a notice announces. *announced_at* None: the moment it is added."""

    start: datetime
    end: datetime
    announced_at: datetime | None = None


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


def notice_instances(config: LoadedConfig, subject: str) -> list[str]:
    """The SLA instances a maintenance notice about *subject* covers: `sla/<instance>` (an
    instance some tenant lists in sla_instances) or `tenant/<id>` (all of its SLA instances)."""
    listed = {i for t in config.model.tenants for i in t.sla_instances}
    if subject.startswith("sla/"):
        instance = subject.removeprefix("sla/")
        if instance not in listed:
            raise BadInput(f"--subject {subject!r}: no tenant lists {instance!r} in sla_instances (listed: "
                           f"{', '.join(sorted(listed)) or 'none'})")
        return [instance]
    if subject.startswith("tenant/"):
        tenant = next((t for t in config.model.tenants if t.id == subject.removeprefix("tenant/")), None)
        if tenant is None:
            raise BadInput(f"--subject {subject!r}: unknown tenant")
        if not tenant.sla_instances:
            raise BadInput(f"--subject {subject!r}: tenant {tenant.id} has no sla_instances, so there is no SLA "
                           "a maintenance window could be excluded from; list them in the config first")
        return list(dict.fromkeys(tenant.sla_instances))
    raise BadInput(f"--subject {subject!r}: a maintenance notice is about tenant/<id> (all its SLA instances) or "
                   "sla/<instance> (an instance listed in some tenant's sla_instances)")


def check_window(window: NoticeWindow | None, now: datetime) -> tuple[dict[str, str], list[str]]:
    """The notice's window as stored (UTC ISO 8601) and notes for whoever adds it; BadInput when it
    is missing, has no offset, ends before it starts, is longer than MAX_WINDOW, or its
    announcement is in the future or after the window ended."""
    if window is None:
        raise BadInput("--window-start/--window-end: a maintenance notice needs the window it announces "
                       "(ISO 8601 with an offset, e.g. --window-start 2026-12-05T02:00:00+01:00)")
    announced = window.announced_at or now
    for name, moment in (("--window-start", window.start), ("--window-end", window.end),
                         ("--announced", announced)):
        if moment.tzinfo is None:
            raise BadInput(f"{name} {moment.isoformat()}: give a time zone offset or Z")
    start, end, announced = (m.astimezone(UTC) for m in (window.start, window.end, announced))
    if end <= start:
        raise BadInput(f"--window-end {utc_iso(end)}: not after --window-start {utc_iso(start)}")
    if end - start > MAX_WINDOW:
        raise BadInput(f"--window-start/--window-end: {(end - start) / timedelta(hours=1):g} h is longer than the "
                       f"{MAX_WINDOW.days} days a maintenance window may last; announce longer work as several "
                       "windows")
    if announced > now:
        raise BadInput(f"--announced {utc_iso(announced)}: in the future")
    if announced > end:
        if window.announced_at is None:
            raise BadInput(f"the window ended on {utc_iso(end)}, before now: give --announced, the time the notice "
                           "was sent to the customers")
        raise BadInput(f"--announced {utc_iso(announced)}: after the window ended ({utc_iso(end)}); a notice sent "
                       "afterwards announces nothing (store it with --kind document)")
    notes = []
    if announced > start:
        notes.append(f"announced {utc_iso(announced)}, after the window started ({utc_iso(start)}): it is on record "
                     "but SLA-01 will never exclude it")
    return {"start": utc_iso(start), "end": utc_iso(end), "announced_at": utc_iso(announced)}, notes


def default_author() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def add_manual_evidence(config: LoadedConfig, log: EvidenceLog, signer: CheckpointSigner, *, kind: str,
                        path: Path, subject: str, performed_at: datetime | None = None,
                        reference: str | None = None, title: str | None = None, note: str | None = None,
                        added_by: str | None = None, window: NoticeWindow | None = None,
                        wait_s: float = 0, now: datetime | None = None) -> AddedEvidence:
    """Store *path* as manual evidence of *kind* about *subject*; *window* is required for (and
    only for) a maintenance notice. Everything is checked before the log is touched."""
    if kind not in KINDS:
        raise BadInput(f"--kind {kind!r}: one of {', '.join(KINDS)}")
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    notice: dict[str, object] | None = None
    notes: list[str] = []
    if kind == NOTICE:
        instances = notice_instances(config, subject)
        times, notes = check_window(window, now)
        notice = {**times, "instances": instances}
    else:
        if window is not None:
            raise BadInput(f"--window-start/--window-end/--announced: only for --kind {NOTICE}")
        check_subject(config, kind, subject, reference)
    if kind == "restore-test" and performed_at is None:
        raise BadInput("--performed: give the date the restore test was performed (YYYY-MM-DD or ISO 8601)")
    if performed_at is not None and performed_at > now:
        raise BadInput(f"--performed {utc_iso(performed_at)}: in the future")
    data, media_type = read_document(path)
    # Everything is checked before the run begins: a refused file leaves no trace in the log.
    log.redact_values(config.known_secrets())  # a test log may quote a configured token
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
    if notice is not None:
        payload["window"] = notice
    stored = log.append(run_id, [NewRecord(source=SOURCE, kind=KINDS[kind], subject=subject, payload=payload,
                                           collected_at=now, artifacts=(stored_sha,))])
    checkpoint = log.finish_run(run_id, "ok", signer, {"sources": [{
        "source": SOURCE, "type": "manual", "status": "ok", "error": None, "started_at": utc_iso(now),
        "finished_at": utc_iso(now), "records": 1, "sections": ["manual"], "failures": []}]})
    return AddedEvidence(stored[0], checkpoint, sha, tuple(notes))
