"""The issued documents as the portal sees them: read from the signed evidence log only (each
``attest.document`` record: tenant, period, the SHA-256 of its files; its status current /
superseded / revoked as ``attest.status.DocumentIndex`` decides it), never from a folder listing;
and each file checked against the digest its record signed before anyone is given it.

One in-memory view per portal, `document_log`, serves the tenant pages, the API and the public
verification page. It is brought up to date when the log's latest checkpoint changes (a render,
`attest revoke` or the audit sealer in this or another process), so a request never answers from
a log older than its newest checkpoint; the check for a change is one primary-key query. Records
already read are kept: an update reads only what was appended since, and checks the new
checkpoint against the Merkle frontier of the leaves it had checked (see `_extend`).

A file's path is built only from the signed record (tenant, period), a validated document id and
a kind from a fixed set; nothing a request says is ever joined to a path.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from attest.attestation import Attestation
from attest.canonical import parse_utc, sha256_hex
from attest.portal.context import Portal
from attest.portal.hotpath import RowReader
from attest.signing import DSSE_SUFFIX
from attest.status import DOCUMENT_ID, SOURCE, DocumentIndex, DocumentStatus, Revocation, _Issued
from evidence import merkle
from evidence.log import (
    DOCUMENT_KIND,
    REVOCATION_KIND,
    RUN_KIND,
    LogIntegrityError,
    SignedCheckpoint,
    check_signed_checkpoint,
)
from evidence.models import Checkpoint, Record

FLEET_TENANT = "_fleet"  # attest/fleet/model.py FLEET_SCOPE: the provider-wide document's key
FILE_KINDS = ("pdf", "html", "json")  # the files an `attest.document` record gives digests for

# kind in the URL -> (file suffix, media type, the recorded digest it is checked against)
KINDS: dict[str, tuple[str, str, str]] = {
    "pdf": ("pdf", "application/pdf", "pdf"),
    "html": ("html", "text/html; charset=utf-8", "html"),
    "json": ("json", "application/json", "json"),
    "html.dsse.json": ("html" + DSSE_SUFFIX, "application/json", "html"),
    "json.dsse.json": ("json" + DSSE_SUFFIX, "application/json", "json"),
}
PACK_KINDS = ("tender", "audit")
_SUFFIXES = {s for s, _, _ in KINDS.values()}
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PERIOD = re.compile(r"^[0-9]{4}-[0-9]{2}$")
SUMMARY_CACHE = 4096  # parsed verdict summaries kept (LRU): the documents of a few hundred active tenants
CHUNK = 256 * 1024  # bytes per read when hashing or streaming a pack


class FileProblem(Exception):
    """A document file is missing, or differs from what its record signed."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome  # "missing" | "tampered"


def valid_document_id(text: str) -> bool:
    """Strict: exactly as issued (no case folding, no blanks), checked before any lookup."""
    return DOCUMENT_ID.fullmatch(text) is not None


def trust_anchors(portal: Portal) -> list[x509.Certificate]:
    """The provider's trust anchors from the configuration, as `attest verify` loads them."""
    from attest.verify import load_trust_anchors

    loaded = portal.loaded
    return load_trust_anchors([loaded.resolve(p) for p in loaded.model.provider.trust_anchors])


# --- the signed documents ---------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedRecord:
    """One document's signed `attest.document` record (the first one for its id counts)."""

    document_id: str
    tenant: str
    period: str
    supersedes: str | None
    overall: str | None
    issued_at: datetime
    files: dict[str, str]  # "pdf" | "html" | "json" -> SHA-256 hex
    idx: int = -1  # its position in the log

    @property
    def fleet(self) -> bool:
        return self.tenant == FLEET_TENANT

    def path(self, output_dir: Path, ext: str) -> Path:
        """Where `attest render` wrote the file: output_dir/<tenant>/<period>/<id>.<ext>. Every
        part comes from the signed record and the id matches DOCUMENT_ID, so this never leaves
        output_dir."""
        return output_dir / self.tenant / self.period / f"{self.document_id}.{ext}"


@dataclass
class DocumentLog:
    """The documents as of one checkpoint. Read-only once built: requests share it."""

    index: DocumentIndex
    records: dict[str, IssuedRecord]
    by_digest: dict[str, tuple[str, str]] = field(default_factory=dict)  # sha256 -> (document id, kind)
    by_tenant: dict[str, list[IssuedRecord]] = field(default_factory=dict)  # in log order
    # Changes whenever the documents or their statuses may have (not when only the checkpoint
    # moved on): what is rendered from a view is cached under it.
    generation: int = 0

    def status(self, document_id: str) -> DocumentStatus:
        return self.index.status(document_id)

    def record(self, document_id: str) -> IssuedRecord | None:
        return self.records.get(document_id)

    def for_tenant(self, tenant: str) -> list[IssuedRecord]:
        """*tenant*'s documents, newest first (period, then issue time)."""
        return sorted(self.by_tenant.get(tenant, ()), key=lambda r: (r.period, r.issued_at), reverse=True)


@dataclass
class _Read:
    """Everything read from the log so far, kept to extend when a new checkpoint appears."""

    checkpoint: SignedCheckpoint | None = None
    frontier: merkle.Frontier = field(default_factory=merkle.Frontier)  # of the leaves checked so far
    issued: list[_Issued] = field(default_factory=list)  # every counted-shape `attest.document` record, log order
    records: dict[str, IssuedRecord] = field(default_factory=dict)
    revocation_records: list[tuple[int, int, str, dict[str, Any], datetime]] = field(default_factory=list)
    run_status: dict[int, str] = field(default_factory=dict)  # run id -> its signed closing status
    anchors: list[x509.Certificate] = field(default_factory=list)
    view: DocumentLog | None = None

    @property
    def size(self) -> int:
        return self.checkpoint.tree_size if self.checkpoint else 0


def _check_checkpoint(cp: SignedCheckpoint, anchors: Sequence[x509.Certificate]) -> None:
    """The checks of EvidenceLog.checked_checkpoint except the root, which `_extend` computes from
    the frontier: signature over the body, the body agrees with the stored row, a trusted signer."""
    check_signed_checkpoint(cp, anchors)


def _extend(portal: Portal, old: _Read, cp: SignedCheckpoint) -> _Read:
    """*old* brought up to checkpoint *cp*: reads only the records appended since *old*'s
    checkpoint. The new root is computed from *old*'s frontier and the new leaves, so the new
    checkpoint is accepted only if it extends exactly the leaves checked before (a consistency
    check); rewriting older rows later is for `attest evidence verify` to find, and changes
    nothing here (their content was read, leaf-checked, when they were new).
    LogIntegrityError when the log does not match *cp*."""
    hint = "run `attest evidence verify`"
    start = old.size
    if cp.tree_size < start or (old.checkpoint is not None and cp.id < old.checkpoint.id):
        raise LogIntegrityError(f"checkpoint {cp.id} is older or smaller than one already read: {hint}")
    _check_checkpoint(cp, old.anchors)
    # The document lists are shared with *old* (and its view, which requests may be reading) until
    # a document or revocation arrives: most new checkpoints seal only audit entries or collections.
    new = _Read(cp, old.frontier.copy(), old.issued, old.records, old.revocation_records, dict(old.run_status),
                old.anchors)
    documents_changed = False
    copied = False  # *old*'s lists copied once before the first write into them
    wanted = (DOCUMENT_KIND, REVOCATION_KIND, RUN_KIND)
    try:
        with Session(portal.log.engine) as s:
            span = (Record.idx >= start, Record.idx < cp.tree_size)
            leaves = s.execute(select(Record.idx, Record.leaf_hash).where(*span).order_by(Record.idx)).all()
            rows = s.execute(select(Record.idx, Record.leaf_hash, Record.body, Record.run_id, Record.source,
                                    Record.kind, Record.subject, Record.collected_at)
                             .where(*span, Record.kind.in_(wanted)).order_by(Record.idx)).all()
    except SQLAlchemyError as exc:
        raise LogIntegrityError(f"the log holds unreadable rows: {hint}") from exc
    for expected, (idx, leaf) in enumerate(leaves, start):
        if idx != expected:
            break
        new.frontier.push(leaf)
    if len(leaves) != cp.tree_size - start or new.frontier.root() != cp.root_hash:
        raise LogIntegrityError(f"the log no longer matches signed checkpoint {cp.id}: {hint}")
    for idx, leaf, body, run, src, kind, subject, collected in rows:
        if not isinstance(body, bytes) or merkle.leaf_hash(body) != leaf:
            raise LogIntegrityError(f"record #{idx} ({kind} {subject}) does not match its leaf hash: {hint}")
        data = json.loads(body)
        if (data.get("kind"), data.get("subject"), data.get("source"), data.get("run")) != (kind, subject, src, run):
            raise LogIntegrityError(f"record #{idx}: its columns do not match its body: {hint}")
        payload = data.get("payload") or {}
        if kind == RUN_KIND:  # as EvidenceLog._closing_records: one closing record per run, its own
            closed = int(payload.get("run", -1))
            if closed in new.run_status or closed != run:
                raise LogIntegrityError(f"run {closed} has more than one closing record, or one written by another "
                                        f"run (record #{idx}): {hint}")
            new.run_status[closed] = str(payload.get("status"))
            # A revocation counts once its run closed "ok": that closing changes the documents.
            documents_changed = documents_changed or any(r[1] == closed for r in new.revocation_records)
            continue
        doc_id = payload.get("document_id")
        if src != SOURCE or not isinstance(doc_id, str) or subject != f"document/{doc_id}":
            continue  # the same filter as DocumentIndex.load
        if not copied:  # copy on first write: *old*'s view keeps its own lists
            new.issued, new.records = list(new.issued), dict(new.records)
            new.revocation_records = list(new.revocation_records)
            copied = True
        documents_changed = True
        at = parse_utc(collected)
        if kind == REVOCATION_KIND:
            new.revocation_records.append((idx, run, doc_id, payload, at))
            continue
        supersedes = payload.get("supersedes")
        overall = str(payload["overall"]) if payload.get("overall") is not None else None
        tenant, period = str(payload.get("tenant")), str(payload.get("period"))
        new.issued.append(_Issued(doc_id, tenant, period, supersedes if isinstance(supersedes, str) else None,
                                  overall, at, idx, leaf.hex()))
        if doc_id not in new.records and valid_document_id(doc_id):
            raw = payload.get("files")
            files = {k: v for k, v in (raw if isinstance(raw, dict) else {}).items()
                     if k in FILE_KINDS and isinstance(v, str)}
            new.records[doc_id] = IssuedRecord(doc_id, tenant, period,
                                               supersedes if isinstance(supersedes, str) else None, overall, at,
                                               files, idx)
    if documents_changed or old.view is None:
        new.view = _view(new)
    else:  # the same documents as of a newer checkpoint: statuses name the checkpoint they are read at
        index = copy.copy(old.view.index)
        index.checkpoint = cp
        new.view = dataclasses.replace(old.view, index=index)
    return new


def _view(read: _Read) -> DocumentLog:
    """The DocumentIndex and lookups over everything read (what DocumentIndex.load would give)."""
    known = {d.document_id for d in read.issued}
    revocations: dict[str, Revocation] = {}
    for idx, run, doc_id, payload, at in read.revocation_records:
        # As DocumentIndex.load: the first revocation of a known document by a run closed "ok" counts.
        if doc_id not in known or doc_id in revocations or read.run_status.get(run) != "ok":
            continue
        revoked_at = at
        if isinstance(payload.get("revoked_at"), str):
            with suppress(ValueError):
                revoked_at = parse_utc(payload["revoked_at"])
        revocations[doc_id] = Revocation(doc_id, revoked_at, str(payload.get("reason", "")),
                                         str(payload.get("revoked_by", "")), idx)
    by_digest: dict[str, tuple[str, str]] = {}
    by_tenant: dict[str, list[IssuedRecord]] = {}
    for r in read.records.values():  # insertion order is log order
        by_tenant.setdefault(r.tenant, []).append(r)
        for kind, digest in r.files.items():
            by_digest.setdefault(digest.lower(), (r.document_id, kind))
    return DocumentLog(DocumentIndex(read.checkpoint, read.issued, revocations), read.records, by_digest, by_tenant,
                       next(_generations))


_lock = threading.Lock()
_cache: dict[int, tuple[Portal, _Read]] = {}
_generations = itertools.count(1)


_LATEST = RowReader(select(Checkpoint.id, Checkpoint.tree_size).order_by(Checkpoint.id.desc()).limit(1))


def _latest_key(portal: Portal) -> tuple[int, int] | None:
    """(id, tree size) of the newest checkpoint: one primary-key lookup, run on every request."""
    row = _LATEST.first(portal.log.engine)
    return (int(row[0]), int(row[1])) if row else None


def _key(read: _Read) -> tuple[int, int] | None:
    return (read.checkpoint.id, read.checkpoint.tree_size) if read.checkpoint else None


def kept_document_log(portal: Portal) -> DocumentLog | None:
    """The view already read when it is that of the newest checkpoint (one indexed read), else
    None: what an async handler may use on the event loop before handing a reload to a thread."""
    key = _latest_key(portal)
    hit = _cache.get(id(portal))
    if hit is not None and hit[0] is portal and _key(hit[1]) == key and hit[1].view is not None:
        return hit[1].view
    return None


def document_log(portal: Portal) -> DocumentLog:
    """The documents as of the log's latest checkpoint. Raises LogIntegrityError when the log does
    not match its checkpoint."""
    view = kept_document_log(portal)
    if view is not None:
        return view
    # One reader at a time brings the view up to date; the others wait for it instead of each
    # reading the same records again (after a checkpoint, every request in flight would).
    with _lock:
        hit = _cache.get(id(portal))
        read = hit[1] if hit is not None and hit[0] is portal else _Read(anchors=trust_anchors(portal))
        cp = portal.log.latest_checkpoint()
        if cp is None:
            read = _Read(anchors=read.anchors)
            read.view = _view(read)
        elif _key(read) != (cp.id, cp.tree_size) or read.view is None:
            read = _extend(portal, read, cp)
        _cache[id(portal)] = (portal, read)
        assert read.view is not None
        return read.view


def forget(portal: Portal) -> None:
    """Drop the portal's view (tests; a configuration with other trust anchors)."""
    with _lock:
        _cache.pop(id(portal), None)


# --- files --------------------------------------------------------------------------------------


def document_path(portal: Portal, record: IssuedRecord, suffix: str) -> Path:
    """output_dir/<tenant>/<period>/<id>.<suffix>, from the signed record only; refuses anything
    that would not stay inside output_dir (defence in depth: the record is signed, but a tenant
    id is configuration)."""
    if not (_SAFE_SEGMENT.fullmatch(record.tenant) and _PERIOD.fullmatch(record.period)
            and valid_document_id(record.document_id) and suffix in _SUFFIXES):
        raise FileProblem("missing", "the document's record names no usable file")
    root = portal.loaded.output_dir.resolve()
    path = (root / record.tenant / record.period / f"{record.document_id}.{suffix}").resolve()
    if not path.is_relative_to(root) or path.parent.parent.parent != root:
        raise FileProblem("missing", "the document's file lies outside the document store")
    return path


def checked_bytes(portal: Portal, record: IssuedRecord, kind: str) -> bytes:
    """The bytes of one of the document's files, checked: PDF, HTML and JSON against the digests
    signed at issue; a DSSE envelope by verifying it over its (checked) subject."""
    suffix, _, digest_of = KINDS[kind]
    subject_path = document_path(portal, record, digest_of)
    try:
        subject = subject_path.read_bytes()
    except OSError:
        raise FileProblem("missing", "the document's file is not in the document store") from None
    if not record.files.get(digest_of) or sha256_hex(subject) != record.files[digest_of]:
        raise FileProblem("tampered", "the stored file differs from the one recorded when the document was issued")
    if suffix == digest_of:
        return subject
    path = document_path(portal, record, suffix)
    try:
        envelope = path.read_bytes()
    except OSError:
        raise FileProblem("missing", "the document's signature envelope is not in the document store") from None
    from attest.verify import UnusableInput, verify_dsse

    try:
        valid = verify_dsse(path, trust_anchors(portal)).valid
    except (UnusableInput, ValueError, OSError):
        valid = False
    if not valid:
        raise FileProblem("tampered", "the signature envelope does not verify over the document")
    return envelope


# --- the documents page -------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    status: DocumentStatus
    record: IssuedRecord

    @property
    def files(self) -> dict[str, str]:  # ext -> SHA-256 hex, as signed at issue
        return self.record.files


def tenant_documents(dlog: DocumentLog, tenant: str) -> list[Listed]:
    """Every signed document of *tenant*, newest first (log order): its own documents only, found
    through the per-tenant index, never by reading everyone's."""
    return [Listed(dlog.status(r.document_id), r) for r in reversed(dlog.by_tenant.get(tenant, []))]


@dataclass(frozen=True)
class ControlSummary:
    control_id: str
    title: str
    verdict: str
    reason: str


_summaries: OrderedDict[tuple[str, str], list[ControlSummary]] = OrderedDict()
_summaries_lock = threading.Lock()


def summary(portal: Portal, record: IssuedRecord) -> tuple[list[ControlSummary], str | None]:
    """The per-control verdicts of a document, from its checked JSON; or ([], why not).

    Kept per (document id, recorded JSON digest): an issued document never changes, and the
    digest in the key means a cached summary is always that of the signed JSON. The file is not
    read again for the list, so a JSON altered on disk later shows here until the summary is
    evicted; every download of it still checks the file and is refused."""
    key = (record.document_id, record.files.get("json", ""))
    with _summaries_lock:
        cached = _summaries.get(key)
        if cached is not None:
            _summaries.move_to_end(key)
            return cached, None
    try:
        att = Attestation.from_json_bytes(checked_bytes(portal, record, "json"))
    except FileProblem as exc:
        return [], str(exc)  # not kept: a file put back in place is shown again at once
    except ValueError:
        return [], "the document's JSON cannot be read"
    lang = att.tenant.language

    def text(t: dict[str, str]) -> str:
        return t.get(lang) or t.get("en") or next(iter(t.values()), "")

    found = [ControlSummary(r.control_id, text(r.title), r.verdict.value, text(r.reason)) for r in att.results]
    with _summaries_lock:
        _summaries[key] = found
        _summaries.move_to_end(key)
        while len(_summaries) > SUMMARY_CACHE:
            _summaries.popitem(last=False)
    return found, None


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def status_view(status: DocumentStatus) -> dict[str, Any]:
    """What a page shows of a document's status."""
    return {"id": status.document_id, "state": status.state, "overall": status.overall or "",
            "issued": when(status.issued_at), "period": status.period, "superseded_by": status.superseded_by,
            "revoked_at": when(status.revoked_at), "reason": status.reason or ""}


# --- packs --------------------------------------------------------------------------------------


class PackRefused(Exception):
    """The pack cannot be built (the reason may name paths or other tenants: for the audit trail)."""


class NotCurrent(Exception):
    """The pack built is of another document: a newer one was issued meanwhile."""


_pack_locks: dict[Path, threading.Lock] = {}
_pack_locks_lock = threading.Lock()
_pack_checked: dict[Path, tuple[tuple[int, int, int, int], str]] = {}  # path -> (stat key, SHA-256 seen)


def pack_path(portal: Portal, record: IssuedRecord, kind: str) -> Path:
    """output_dir/<tenant>/<period>/packs/<id>-<kind>.zip, from the signed record and a fixed kind."""
    if kind not in PACK_KINDS:
        raise PackRefused(f"not a pack kind: {kind[:40]!r}")
    folder = document_path(portal, record, "json").parent / "packs"
    return folder / f"{record.document_id}-{kind}.zip"


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    # ctime too: a file rewritten and given its old mtime back still gets a new ctime.
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _sha256_of(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
    fh.seek(0)
    return digest.hexdigest()


def _digest_file(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.name + ".sha256")


def _open_cached(zip_path: Path) -> IO[bytes] | None:
    """The cached pack, opened, when its SHA-256 is the one written beside it when it was built
    (hashed once per version of the file: the stat key says when it changed); None otherwise."""
    try:
        expected = _digest_file(zip_path).read_text(encoding="ascii").strip()
        fh = zip_path.open("rb")
    except (OSError, UnicodeDecodeError):
        return None
    key = _stat_key(os.fstat(fh.fileno()))
    seen = _pack_checked.get(zip_path)
    if seen is not None and seen[0] == key and seen[1] == expected:
        return fh
    digest = _sha256_of(fh)
    if digest == expected:
        _pack_checked[zip_path] = (key, digest)
        return fh
    fh.close()
    return None


def open_pack(portal: Portal, record: IssuedRecord, tenant: str, kind: str) -> tuple[IO[bytes], int]:
    """The *kind* pack of *record* (the tenant's current document of its period) as an open file
    and its size, built once and then served from disk (flat memory, whatever its size).

    Building is deterministic, so a cached pack is the pack a build would give; it is reused
    while its SHA-256 matches the one written beside it when it was built. The document's own
    files are checked against the log on every download all the same, so a file altered on disk
    refuses the pack as building it would. Raises FileProblem, PackRefused or NotCurrent."""
    for ext in FILE_KINDS:
        checked_bytes(portal, record, ext)
    path = pack_path(portal, record, kind)
    with _pack_locks_lock:
        lock = _pack_locks.setdefault(path, threading.Lock())
    with lock:  # one build per pack at a time; the others then find it on disk
        fh = _open_cached(path)
        if fh is None:
            _build(portal, record, tenant, kind, path)
            fh = _open_cached(path)
        if fh is None:
            raise PackRefused(f"{path}: the pack just written does not read back as written")
        return fh, os.fstat(fh.fileno()).st_size


def _build(portal: Portal, record: IssuedRecord, tenant: str, kind: str, path: Path) -> None:
    from attest.errors import AttestError
    from attest.pack.build import build_pack, write_pack

    try:
        pack = build_pack(portal.loaded, portal.log, portal.signer, tenant, record.period, kind)
    except AttestError as exc:
        raise PackRefused(str(exc)) from None
    if pack.document_id != record.document_id:
        raise NotCurrent(pack.document_id)
    digest = hashlib.sha256(pack.data).hexdigest()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A stale or damaged copy goes first: write_pack never writes over a file. The digest is
        # written after the pack, so a pack without a matching digest beside it is never served.
        for stale in (_digest_file(path), path):
            with suppress(FileNotFoundError):
                stale.unlink()
        write_pack(path, pack.data)
        del pack  # the ZIP's bytes: only the file serves it from here on
        write_pack(_digest_file(path), (digest + "\n").encode("ascii"))
    except (OSError, AttestError) as exc:
        raise PackRefused(f"{path}: cannot store the pack ({exc})") from None


def stream(fh: IO[bytes]) -> Iterator[bytes]:
    """The open file *fh* in chunks, closed at the end (or when the client goes away)."""
    try:
        while chunk := fh.read(CHUNK):
            yield chunk
    finally:
        fh.close()
