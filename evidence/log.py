"""The evidence log: append-only, RFC 6962 Merkle-hashed, closed by signed checkpoints.

Every collected fact becomes one record (canonical JSON bytes, one subject); its leaf hash is
its identity. Each run ends with an `attest.run` record (what the run did: each source's
outcome and error) and a checkpoint (tree size + root) signed by the provider key, which is
also appended to `checkpoints.jsonl` in the evidence folder, a witness outside the database.

Nothing is signed blindly: before a checkpoint is signed, the records it re-signs must still
give the previous checkpoint's root, and every record after it must belong to the run being
closed. A record is checked against its leaf hash whenever it is read; one whose payload
retention removed (evidence/retention.py) keeps its leaf and is skipped or flagged, never read as
an empty record. A run that died before its checkpoint is closed as `aborted` by the next run:
its records stay in the log, signed, but no check ever relies on them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, Insert, Table, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from attest.canonical import canonical_json, parse_utc, utc_iso
from attest.errors import CheckFailed
from evidence import merkle
from evidence.blobs import BlobStore
from evidence.db import make_engine, migrate, writer
from evidence.models import Artifact, Checkpoint, Document, LogMeta, Record, Run
from evidence.scrub import KnownSecrets, might_hold_secret, scrub, scrub_bytes

if TYPE_CHECKING:
    from evidence.retention import Coverage, Expiry

RECORD_VERSION = 1
CHECKPOINT_VERSION = 1
RUN_KIND = "attest.run"
DOCUMENT_KIND = "attest.document"
REVOCATION_KIND = "attest.revocation"  # `attest revoke`: attest/status.py
REDACTION_KIND = "attest.redaction"  # retention removed payloads: evidence/retention.py
# The only kinds whose payload retention may remove (personal data with a retention period).
# Documents, revocations, run closings and redaction statements are what the log exists to keep:
# evidence/retention.py refuses them even if they were added here.
REDACTABLE_KINDS = frozenset({"portal.audit"})
# A run whose owner cannot be checked (another host) is presumed dead after this long.
STALE_RUN = timedelta(hours=6)
# RFC 8785 numbers are IEEE doubles: larger integers (byte counters) would lose digits.
_SAFE_INT = 2**53
# Raw answers remembered (digest of the raw bytes -> digest of what was stored), so an answer seen
# again is neither scrubbed nor written again; forgotten past this many (a long-lived process).
_MAX_REMEMBERED = 500_000


class LogIntegrityError(CheckFailed):
    """The log is not what its signed checkpoints say: nothing more is signed until it is resolved."""


class RunInProgress(CheckFailed):
    """Another run is writing to the log."""


class RedactedPayload(LookupError):
    """The record's payload was removed under retention: only its leaf hash is left."""


class CheckpointSigner(Protocol):
    """What the log needs from the provider key (implemented by attest.signing.ProviderSigner)."""

    @property
    def certificate(self) -> x509.Certificate: ...

    @property
    def chain(self) -> list[x509.Certificate]: ...

    def sign_bytes(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class NewRecord:
    source: str
    kind: str
    subject: str
    payload: dict[str, Any]
    collected_at: datetime
    artifacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredRecord:
    idx: int
    leaf_hash: bytes
    body: bytes
    run_id: int
    source: str
    kind: str
    subject: str
    collected_at: datetime
    # Retention removed the payload (`records(include_redacted=True)` only): `body` is empty, and
    # `data` / `payload` raise RedactedPayload rather than pass for a record that said nothing.
    redacted: bool = False

    @property
    def leaf_hex(self) -> str:
        return self.leaf_hash.hex()

    @property
    def data(self) -> dict[str, Any]:
        if self.redacted:
            raise RedactedPayload(f"record #{self.idx} ({self.kind} {self.subject}): its payload was removed under "
                                  "retention")
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @functools.cached_property
    def payload(self) -> dict[str, Any]:
        """The record's payload, parsed once per record: checks read the same few fields of every
        record many times (once per tenant and control). The bytes are immutable, so the parse
        cannot go stale; the dict is shared, so callers read it and never change it."""
        payload: dict[str, Any] = self.data["payload"]
        return payload


@dataclass(frozen=True)
class SignedCheckpoint:
    id: int
    run_id: int
    log_id: str
    tree_size: int
    root_hash: bytes
    signed_at: datetime
    body: bytes
    signature: bytes
    signer_cert_pem: str  # the signer certificate, then its chain

    @property
    def signer_chain(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.signer_cert_pem.encode())

    @property
    def signer_certificate(self) -> x509.Certificate:
        return self.signer_chain[0]


@dataclass(frozen=True)
class SourceOutcome:
    """One source's outcome in one run, as the run's signed `attest.run` record states it."""

    run_id: int
    source_id: str
    source_type: str
    status: str  # ok | partial (parts listed in failures) | failed
    error: str | None
    started_at: datetime
    finished_at: datetime
    records: int
    run_record: StoredRecord  # the signed record this comes from: checks cite it
    sections: tuple[str, ...] = ()  # sections the collector read through
    failures: tuple[dict[str, Any], ...] = ()  # {section, subject (None = whole section), error}


@dataclass
class Problem:
    """One thing `verify` found wrong, named for the operator."""

    what: str
    idx: int | None = None


@dataclass
class VerifyOutcome:
    tree_size: int
    checkpoints: int
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts worth knowing that are not tampering
    redacted: int = 0  # records whose payload retention removed (their leaves still verified)

    @property
    def ok(self) -> bool:
        return not self.problems


def json_safe(value: Any) -> Any:
    """Integers beyond ±2^53 become strings: RFC 8785 serialises numbers as IEEE doubles."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) >= _SAFE_INT:
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def record_body(run_id: int, rec: NewRecord, collected_at: str | None = None) -> bytes:
    """The record's canonical bytes (*collected_at*: utc_iso(rec.collected_at), if already known)."""
    envelope = {
        "v": RECORD_VERSION,
        "run": run_id,
        "source": rec.source,
        "kind": rec.kind,
        "subject": rec.subject,
        "collected_at": collected_at or utc_iso(rec.collected_at),
        "payload": rec.payload,
        "artifacts": list(rec.artifacts),
    }
    # The common case, about seven times cheaper: plain JSON that the C encoder writes exactly as
    # RFC 8785 does, in which the scrubber's pre-check finds nothing to redact, and where json_safe
    # has nothing to convert (_jcs_plain refuses big integers and tuples): the very bytes below.
    body = _fast_canonical(envelope)
    if body is not None and not might_hold_secret(body):
        return body
    envelope["payload"] = json_safe(scrub(rec.payload))
    return canonical_json(envelope)


def _jcs_plain(value: Any) -> bool:
    """Whether json.dumps(sort_keys=True, ensure_ascii=False, compact) writes *value* byte for byte
    as RFC 8785 does: str / bool / None, integers RFC 8785 accepts, floats whose repr is already
    their ECMAScript form (no exponent, not integral), lists, and dicts with ASCII keys (so code
    point order is UTF-16 order). Anything else takes the exact path. A loop, not a recursion:
    it runs over every value of every record."""
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        v = pop()
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is dict:
            for k, item in v.items():
                if type(k) is not str or not k.isascii():
                    return False
                push(item)
        elif t is list:
            extend(v)
        elif t is int:
            if not -_SAFE_INT < v < _SAFE_INT:
                return False
        elif t is float:
            if not (math.isfinite(v) and 1e-4 <= abs(v) < 1e16 and not v.is_integer()):
                return False
        else:
            return False
    return True


def _fast_canonical(value: Any) -> bytes | None:
    """RFC 8785 bytes of *value* through the C JSON encoder, or None when only rfc8785 can tell."""
    if not _jcs_plain(value):
        return None
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                          allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: rfc8785 refuses it, with its own error
        return None


# Core tables, for executemany inserts without ORM objects.
_RECORDS = cast(Table, Record.__table__)
_ARTIFACTS = cast(Table, Artifact.__table__)

# Records of one run mostly share a handful of collection times: parse each once.
_parse_time = functools.lru_cache(maxsize=4096)(parse_utc)


def _now() -> str:
    return utc_iso(datetime.now(UTC))


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), so a reused pid is not taken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}|{_boot_id()}|{pid}|{_process_start(pid) or ''}"


def _owner_alive(owner: str | None, started_at: str) -> bool:
    """Whether the process that started a run may still be running it."""
    parts = (owner or "").split("|")
    if len(parts) == 4 and parts[0] == socket.gethostname():
        _host, boot, pid, start = parts
        if boot != _boot_id() or not pid.isdigit():
            return False  # the machine rebooted since
        current = _process_start(int(pid))
        if current is None:
            return False
        return current == start or not start
    try:
        return datetime.now(UTC) - parse_utc(started_at) < STALE_RUN
    except ValueError:
        return False


def _leaf_ok(body: object, leaf: object) -> bool:
    return isinstance(body, bytes) and merkle.leaf_hash(body) == leaf


@dataclass(frozen=True)
class _Prepared:
    """A record serialised and hashed, before the transaction that places it."""

    leaf: bytes
    body: bytes
    rec: NewRecord
    collected_at: str


class EvidenceLog:
    def __init__(self, engine: Engine, evidence_dir: Path) -> None:
        self.engine = engine
        self.writer = writer(engine)
        self.evidence_dir = evidence_dir
        self.blobs = BlobStore(evidence_dir / "blobs")
        self.witness_path = evidence_dir / "checkpoints.jsonl"
        # Artifacts: their blobs are written at once, their rows wait here (sha -> row) for the
        # next transaction that appends records or closes a run, which is the one that makes a
        # record citing them durable. Guarded by _artifact_lock (collectors put from threads).
        self._artifact_lock = threading.Lock()
        # The configured secrets' values, redacted wherever they appear (`redact_values`).
        self.known_secrets = KnownSecrets()
        self._pending_artifacts: dict[str, dict[str, Any]] = {}
        self._stored_artifacts: set[str] = set()  # blob written, row pending or committed
        self._raw_to_sha: dict[bytes, str] = {}  # sha256(raw answer) -> sha256(as stored)
        # The leaves this process has checked against a signed root, or signed itself, summed up as
        # a Merkle frontier. With `recheck_signed_leaves` off (a long-lived process: the portal),
        # the next run's check before signing reads only the leaves after them.
        self.recheck_signed_leaves = True
        self._checked = merkle.Frontier()
        self._checked_lock = threading.Lock()

    @classmethod
    def open(cls, database_url: str, evidence_dir: Path, *, repair: bool = True) -> EvidenceLog:
        """Open (and migrate) the log. *repair=False* is for verification: nothing is written."""
        evidence_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(database_url)
        migrate(engine)
        log = cls(engine, evidence_dir)
        if repair:
            log._ensure_meta()
            log._repair_witness()
        return log

    def close(self) -> None:
        # Rows no record cites (records flush them first): losing them leaves unreferenced blobs, harmless.
        with suppress(SQLAlchemyError):
            self.flush_artifacts()
        self.engine.dispose()

    def _ensure_meta(self) -> None:
        with Session(self.writer) as s, s.begin():
            if s.get(LogMeta, 1) is not None:
                return
            if s.execute(select(Record.idx).limit(1)).first() or s.execute(select(Checkpoint.id).limit(1)).first():
                # Never mint a new identity for a log that has content: that would hide a rewrite.
                raise LogIntegrityError("the log's head row (log_meta) is missing although the log holds records: "
                                        "run `attest evidence verify`")
            s.add(LogMeta(id=1, log_id="log-" + secrets.token_hex(8), size=0, created_at=_now()))

    def _repair_witness(self) -> None:
        """A crash between committing a checkpoint and writing its witness line leaves exactly the
        newest line missing. Only that case is repaired, and only with a validly signed checkpoint:
        anything else (a deleted or shortened witness file) is left for `evidence verify` to report,
        since restoring it from the database would hide a rollback."""
        from evidence.verify import signature_valid, witness_entries

        try:
            last = self.latest_checkpoint()
        except (SQLAlchemyError, ValueError, LogIntegrityError):
            return  # unreadable: `evidence verify` reports it
        if last is None or not self.witness_path.exists():
            return
        witnessed, problems = witness_entries(self.witness_path)
        if problems or last.id in witnessed or max(witnessed, default=0) != last.id - 1:
            return
        if signature_valid(last.signer_certificate, last.body, last.signature):
            self._witness(last)

    def _witness(self, cp: SignedCheckpoint) -> None:
        with self.witness_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"id": cp.id, "body": cp.body.decode(),
                                 "signature": base64.b64encode(cp.signature).decode()}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    @property
    def log_id(self) -> str:
        with Session(self.engine) as s:
            meta = s.get(LogMeta, 1)
            if meta is None:
                raise LogIntegrityError("the log's head row (log_meta) is missing")
            return meta.log_id

    # --- runs ----------------------------------------------------------------------------

    def begin_run(self, purpose: str, signer: CheckpointSigner, wait_s: float = 0) -> int:
        """Start a run. Runs are serialised: while another live run holds the log this waits up to
        *wait_s* seconds, then refuses; a run whose process died is first closed as aborted (with
        its own checkpoint). The check and the insert happen under the log's head lock, so two
        runs starting at the same instant cannot both start."""
        deadline = time.monotonic() + wait_s
        while True:
            with Session(self.writer) as s, s.begin():
                self._lock_head(s)
                running = list(s.execute(select(Run).where(Run.status == "running").order_by(Run.id)).scalars())
                live = [r for r in running if _owner_alive(r.owner, r.started_at)]
                dead = [r.id for r in running if r not in live]
                if not running:
                    row = Run(purpose=purpose, started_at=_now(), status="running", owner=_owner())
                    s.add(row)
                    s.flush()
                    return row.id
                blocker = live[0] if live else None
                blocker_text = (f"run {blocker.id} ({blocker.purpose}, started {blocker.started_at})"
                                if blocker else "")
            for run_id in dead:
                self._close(run_id, "aborted", signer, {"note": "the run was interrupted before it finished; "
                                                                "its records are kept but no check relies on them"})
            if blocker is None:
                continue
            if time.monotonic() >= deadline:
                raise RunInProgress(f"{blocker_text} is still in progress; try again when it has finished")
            time.sleep(0.5)

    def finish_run(self, run_id: int, status: str, signer: CheckpointSigner,
                   summary: dict[str, Any] | None = None) -> SignedCheckpoint:
        """Close a run: append its `attest.run` record, then sign a checkpoint over the whole log."""
        return self._close(run_id, status, signer, summary or {})

    def _close(self, run_id: int, status: str, signer: CheckpointSigner, summary: dict[str, Any]) -> SignedCheckpoint:
        with self._writing() as (s, taken):
            meta = self._lock_head(s)
            run = s.get(Run, run_id)
            if run is None:
                raise LogIntegrityError(f"run {run_id} does not exist")
            if run.status != "running":
                raise LogIntegrityError(f"run {run_id} is already closed ({run.status})")
            already = s.execute(select(Checkpoint.id).where(Checkpoint.run_id == run_id)).first() or s.execute(
                select(Record.idx).where(Record.kind == RUN_KIND, Record.subject == f"run/{run_id}")).first()
            if already:
                raise LogIntegrityError(f"run {run_id} is marked as running but a signed record already closed it: "
                                        "its status was altered; run `attest evidence verify`")
            frontier = self._check_before_signing(s, meta, run_id, signer)
            finished = _now()
            closing = NewRecord(source="attest", kind=RUN_KIND, subject=f"run/{run_id}", payload={
                "run": run_id, "purpose": run.purpose, "status": status, "started_at": run.started_at,
                "finished_at": finished, **summary}, collected_at=parse_utc(finished))
            self._flush_artifacts(s, taken)
            frontier.extend(r.leaf_hash for r in self._insert_rows(s, meta, run_id, self._prepare(run_id, [closing])))
            root = frontier.root()
            body = canonical_json({"v": CHECKPOINT_VERSION, "log_id": meta.log_id, "tree_size": meta.size,
                                   "root_hash": root.hex(), "signed_at": finished, "run": run_id})
            signature = signer.sign_bytes(body)
            bundle = "".join(c.public_bytes(serialization.Encoding.PEM).decode()
                             for c in [signer.certificate, *signer.chain])
            cp = Checkpoint(run_id=run_id, tree_size=meta.size, root_hash=root, signed_at=finished, body=body,
                            signature=signature, signer_cert=bundle)
            s.add(cp)
            s.execute(update(Run).where(Run.id == run_id).values(status=status, finished_at=finished))
            s.flush()
            result = _checkpoint(cp, meta.log_id)
        with self._checked_lock:  # committed: these leaves are signed (never shrink what is known)
            if frontier.size > self._checked.size:
                self._checked = frontier
        self._witness(result)
        return result

    def _lock_head(self, s: Session) -> LogMeta:
        meta = s.execute(select(LogMeta).where(LogMeta.id == 1).with_for_update()).scalar_one_or_none()
        if meta is None:
            raise LogIntegrityError("the log's head row (log_meta) is missing")
        return meta

    def _check_before_signing(self, s: Session, meta: LogMeta, run_id: int,
                              signer: CheckpointSigner) -> merkle.Frontier:
        """Refuse to sign over a log that no longer matches its last signed checkpoint (as signed,
        and as the witness file holds it), or whose unsigned tail holds records of another run.
        Returns the frontier of the log's leaves, which the new checkpoint's root is computed over.

        Every leaf hash is read, unless `recheck_signed_leaves` is off: then a run starts from the
        frontier of the leaves this process already checked (or signed) and reads only the leaves
        after it, so a long-lived process (the portal seals its audit trail every half minute) does
        not pay a pass over the whole log per run. The price: an older leaf rewritten in the
        database after this process checked it is caught by another process's next run or by
        `attest evidence verify`, not by this process's. Deleted rows are still caught (the count)."""
        from evidence.verify import signature_valid, witness_entries

        last = s.execute(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).scalar_one_or_none()
        witnessed, witness_problems = (witness_entries(self.witness_path) if self.witness_path.exists()
                                       else ({}, []))
        if witness_problems:
            raise LogIntegrityError(f"witness file: {witness_problems[0]}; run `attest evidence verify`")
        if max(witnessed, default=0) > (last.id if last else 0):
            raise LogIntegrityError("the witness file holds checkpoints the database does not (the database was "
                                    "rolled back): run `attest evidence verify`")
        signed_size, signed_root = 0, merkle.EMPTY_ROOT
        if last is not None:
            cp = _checkpoint(last, meta.log_id)
            try:
                body = json.loads(cp.body)
                signed_size, signed_root = int(body["tree_size"]), bytes.fromhex(body["root_hash"])
                chain = cp.signer_chain
            except (ValueError, KeyError, TypeError) as exc:
                raise LogIntegrityError(f"checkpoint {cp.id} is unreadable: run `attest evidence verify`") from exc
            if not signature_valid(chain[0], cp.body, cp.signature) or not _same_authority(chain, signer):
                raise LogIntegrityError(f"checkpoint {cp.id} is not validly signed by this provider: "
                                        "run `attest evidence verify`")
            if witnessed.get(cp.id) != (cp.body, cp.signature):
                raise LogIntegrityError(f"checkpoint {cp.id} differs from (or is missing in) the witness file: "
                                        "run `attest evidence verify`")
        with self._checked_lock:
            known = merkle.Frontier() if self.recheck_signed_leaves else self._checked
        # A frontier larger than the signed log means the database went back: check it all again.
        frontier = known.copy() if known.size <= signed_size else merkle.Frontier()
        start = frontier.size
        # Positions and leaf hashes only (32 bytes a record): bodies are read for the unsigned tail.
        heads = s.execute(select(Record.idx, Record.leaf_hash).where(Record.idx >= start).order_by(Record.idx)).all()
        before = (s.execute(select(func.count()).select_from(Record).where(Record.idx < start)).scalar_one()
                  if start else 0)
        if ([h.idx for h in heads] != list(range(start, start + len(heads))) or before != start
                or start + len(heads) != meta.size or meta.size < signed_size):
            raise LogIntegrityError("the log's records are not contiguous (deleted or inserted records): "
                                    "run `attest evidence verify`")
        frontier.extend(h.leaf_hash for h in heads[:signed_size - start])
        if frontier.root() != signed_root:
            raise LogIntegrityError(f"the log no longer matches signed checkpoint {last.id if last else 0}: "
                                    "run `attest evidence verify`")
        # The unsigned tail: every record must be this run's and match its leaf hash. Its bodies
        # are read back and hashed again (a body edited in the database during the run is refused
        # here, not only found later by `evidence verify`) -- a second's fraction for a big run.
        tail = s.execute(select(Record.idx, Record.run_id, Record.leaf_hash, Record.body)
                         .where(Record.idx >= signed_size).order_by(Record.idx))
        for idx, row_run, leaf, body in tail:
            if row_run != run_id:
                raise LogIntegrityError(f"record #{idx} claims run {row_run} but was not written by run {run_id}: "
                                        "refusing to sign it; run `attest evidence verify`")
            if not _leaf_ok(body, leaf):
                raise LogIntegrityError(f"record #{idx} does not match its leaf hash: refusing to sign it")
        frontier.extend(h.leaf_hash for h in heads[signed_size - start:])
        return frontier

    # --- writing -------------------------------------------------------------------------

    def redact_values(self, values: Iterable[str]) -> None:
        """From now on, replace these secret values by REDACTED in every record and artifact
        stored, under any key or none (collection passes the configuration's secrets)."""
        self.known_secrets.add(values)
        with self._artifact_lock:
            self._raw_to_sha.clear()  # an answer stored before may have held one of them

    def put_artifact(self, data: bytes, media_type: str) -> str:
        """Store raw bytes (scrubbed first) and return their SHA-256, which records cite.

        Thread-safe. The blob is written before this returns; its row in the artifact table is
        inserted with the next `append` or `finish_run`, in the same transaction as the records
        that cite it, so a signed record never cites a missing row. A crash before then leaves
        only a blob nobody cites, which is harmless (and reused by the next run that needs it)."""
        raw_key = hashlib.sha256(data).digest()
        sha = self._raw_to_sha.get(raw_key)
        if sha is not None:  # the same answer again (empty lists, shared options): done already
            return sha
        clean = self.known_secrets.redact_bytes(scrub_bytes(data))
        sha = raw_key.hex() if clean is data else hashlib.sha256(clean).hexdigest()
        if sha not in self._stored_artifacts:
            self.blobs.put(clean, sha)
            with self._artifact_lock:
                if sha not in self._stored_artifacts:
                    self._stored_artifacts.add(sha)
                    self._pending_artifacts[sha] = {"sha256": sha, "media_type": media_type, "size": len(clean),
                                                    "stored_at": _now()}
        with self._artifact_lock:
            if len(self._raw_to_sha) >= _MAX_REMEMBERED:
                # Forgetting costs only work: the blob is found on disk, the row inserted once.
                self._raw_to_sha.clear()
                self._stored_artifacts.clear()
            # Only now: a thread that finds the answer here must find its blob written and its row due.
            self._raw_to_sha[raw_key] = sha
        return sha

    def flush_artifacts(self) -> None:
        """Insert the rows of artifacts stored since the last append (done by append and finish_run)."""
        if self._pending_artifacts:
            with self._writing() as (s, taken):
                self._flush_artifacts(s, taken)

    @contextmanager
    def _writing(self) -> Iterator[tuple[Session, list[dict[str, Any]]]]:
        """A write transaction, and the artifact rows taken into it (by _flush_artifacts): if the
        transaction does not commit, they are queued again for the next one."""
        taken: list[dict[str, Any]] = []
        try:
            with Session(self.writer) as s, s.begin():
                yield s, taken
        except BaseException:
            with self._artifact_lock:
                for row in taken:
                    self._pending_artifacts.setdefault(row["sha256"], row)
            raise

    def _flush_artifacts(self, s: Session, taken: list[dict[str, Any]]) -> None:
        """Insert the pending artifact rows in *s*'s transaction (noting them in *taken*)."""
        with self._artifact_lock:
            taken += self._pending_artifacts.values()
            self._pending_artifacts = {}
        if taken:
            # Rows of blobs stored by an earlier run (the same answer on another day) already exist.
            s.execute(_insert_ignoring_duplicates(s, _ARTIFACTS), taken)

    def get_artifact(self, sha: str) -> bytes:
        return self.blobs.get(sha)

    def append(self, run_id: int, records: Iterable[NewRecord]) -> list[StoredRecord]:
        """Append records as consecutive leaves, in one transaction holding the log's head row,
        so concurrent writers cannot interleave or reuse positions. Records are serialised and
        hashed before the head row is taken, so other writers wait only for the inserts."""
        prepared = self._prepare(run_id, records)
        with self._writing() as (s, taken):
            meta = self._lock_head(s)
            run = s.get(Run, run_id)
            if run is None or run.status != "running":
                raise LogIntegrityError(f"run {run_id} is not open: cannot append to it")
            self._flush_artifacts(s, taken)
            return self._insert_rows(s, meta, run_id, prepared)

    def _prepare(self, run_id: int, records: Iterable[NewRecord]) -> list[_Prepared]:
        """Bodies and leaf hashes of *records*, an identical record given twice kept once."""
        prepared: list[_Prepared] = []
        seen: set[bytes] = set()
        for rec in records:
            collected_at = utc_iso(rec.collected_at)
            body = record_body(run_id, rec, collected_at)
            if self.known_secrets.found_in(body):
                body = canonical_json(self.known_secrets.redact(json.loads(body)))
            leaf = merkle.leaf_hash(body)
            if leaf not in seen:
                seen.add(leaf)
                prepared.append(_Prepared(leaf, body, rec, collected_at))
        return prepared

    def _insert_rows(self, s: Session, meta: LogMeta, run_id: int, prepared: list[_Prepared]) -> list[StoredRecord]:
        """Place *prepared* records at the log's head with one executemany; those already in
        the log (identical record: same run, subject, time, payload) are skipped silently.

        A body names its run, so an identical record can only be one of this run's: one query
        for the run's leaves replaces a lookup per record. (Not `leaf_hash IN (…hundreds…)`:
        PostgreSQL, without statistics on rows inserted moments ago, plans that as a full scan.)"""
        logged: set[bytes] = set()
        if prepared:
            logged.update(s.execute(select(Record.leaf_hash).where(Record.run_id == run_id)).scalars())
        rows: list[dict[str, Any]] = []
        stored: list[StoredRecord] = []
        idx = meta.size
        for p in prepared:
            if p.leaf in logged:
                continue
            rec = p.rec
            rows.append({"idx": idx, "leaf_hash": p.leaf, "body": p.body, "run_id": run_id, "source": rec.source,
                         "kind": rec.kind, "subject": rec.subject, "collected_at": p.collected_at})
            stored.append(StoredRecord(idx=idx, leaf_hash=p.leaf, body=p.body, run_id=run_id, source=rec.source,
                                       kind=rec.kind, subject=rec.subject, collected_at=_parse_time(p.collected_at)))
            idx += 1
        if rows:
            s.execute(insert(_RECORDS), rows)
        meta.size = idx
        return stored

    def register_document(self, document_id: str, tenant_id: str, period: str, supersedes: str | None) -> None:
        """Reserve a document id; the primary key refuses a reused one."""
        with Session(self.writer) as s, s.begin():
            s.add(Document(document_id=document_id, tenant_id=tenant_id, period=period, issued_at=_now(),
                           supersedes=supersedes))

    def latest_document(self, tenant_id: str, period: str) -> str | None:
        """The newest document issued for this tenant and period, from the signed log."""
        closed_ok = {run for run, rec in self._closing_records().items() if rec.payload.get("status") == "ok"}
        latest: str | None = None
        for rec in self.records(kind=DOCUMENT_KIND, up_to=self.signed_size()):
            p = rec.payload
            if rec.run_id in closed_ok and p.get("tenant") == tenant_id and p.get("period") == period:
                latest = str(p["document_id"])
        return latest

    def run_statuses(self, up_to: int | None = None) -> dict[int, str]:
        """run id -> the status its signed `attest.run` record states (ok, partial, aborted), for
        the runs closed below *up_to* (default: the signed size)."""
        return {run: str(rec.payload.get("status")) for run, rec in self._closing_records(up_to).items()}

    def checked_checkpoint(self, trust_anchors: Sequence[x509.Certificate] = ()) -> SignedCheckpoint | None:
        """The latest checkpoint, once checked enough to read the log by: its signature holds over
        its body (and, given *trust_anchors*, its signer chains to one of them at its signing
        time), the body states the log id, tree size and root it is stored with, and the log's
        first tree-size leaves give that root. Records read below its tree size, each checked
        against its leaf hash as it is read, are then the ones it signed.

        Not `attest evidence verify`: the witness file, earlier checkpoints and the consistency
        between them, and whether each row's query columns (kind, subject…) agree with its body
        are left to it. None when nothing is signed yet; LogIntegrityError when the log does not
        match its checkpoint."""
        cp = self.latest_checkpoint()
        if cp is None:
            return None
        hint = "run `attest evidence verify`"
        size, root = check_signed_checkpoint(cp, trust_anchors)
        leaves = self.leaf_hashes(size)
        if len(leaves) != size or merkle.root(leaves) != root:
            raise LogIntegrityError(f"the log no longer matches signed checkpoint {cp.id}: {hint}")
        return cp

    def _closing_records(self, up_to: int | None = None) -> dict[int, StoredRecord]:
        """run id -> its signed `attest.run` record. Two closing records for one run, or one
        written by another run, never come from the log itself: that is tampering, and stops the
        reader."""
        closing: dict[int, StoredRecord] = {}
        for rec in self.records(kind=RUN_KIND, up_to=self.signed_size() if up_to is None else up_to):
            run = int(rec.payload.get("run", -1))
            if run in closing or run != rec.run_id:
                raise LogIntegrityError(f"run {run} has more than one closing record, or one written by another run "
                                        f"(record #{rec.idx}): run `attest evidence verify`")
            closing[run] = rec
        return closing

    # --- reading -------------------------------------------------------------------------

    def size(self) -> int:
        with Session(self.engine) as s:
            meta = s.get(LogMeta, 1)
            return meta.size if meta else 0

    def signed_size(self) -> int:
        cp = self.latest_checkpoint()
        return cp.tree_size if cp else 0

    def records(self, *, kind: str | None = None, source: str | None = None, run_id: int | None = None,
                subject: str | None = None, up_to: int | None = None,
                leaves: Sequence[str] | None = None, include_redacted: bool = False) -> Iterator[StoredRecord]:
        """Records in log order; each is checked against its leaf hash as it is read, so a check
        can never judge on bytes that were edited in the database.

        A record whose payload retention removed is skipped, or, with *include_redacted*, given
        with `redacted=True` and an empty body. Only a redactable kind can be redacted here: an
        emptied document or revocation is an altered record (LogIntegrityError), never skipped.
        Whether a signed redaction names the record is `attest evidence verify`'s to check."""
        q = select(Record.idx, Record.leaf_hash, Record.body, Record.run_id, Record.source, Record.kind,
                   Record.subject, Record.collected_at, Record.redacted_at).order_by(Record.idx)
        if kind is not None:
            q = q.where(Record.kind == kind)
        if source is not None:
            q = q.where(Record.source == source)
        if run_id is not None:
            q = q.where(Record.run_id == run_id)
        if subject is not None:
            q = q.where(Record.subject == subject)
        if up_to is not None:
            q = q.where(Record.idx < up_to)
        if leaves is not None:
            q = q.where(Record.leaf_hash.in_([bytes.fromhex(h) for h in leaves]))
        with Session(self.engine) as s:
            try:
                # Plain rows, not ORM objects: a check may read a whole big run (tens of thousands).
                rows = s.execute(q).all()
            except SQLAlchemyError as exc:  # e.g. a BLOB rewritten as text that is not UTF-8
                raise LogIntegrityError("the log holds unreadable rows: run `attest evidence verify`") from exc
        coverage: Coverage | None = None
        for idx, leaf, body, run, src, kind_, subj, collected, redacted_at in rows:
            if redacted_at is not None and body == b"" and kind_ in REDACTABLE_KINDS:
                # Skipped only when a signed redaction names it as that kind: a record emptied and
                # marked by hand (its kind column relabelled, say) must not just vanish from reads.
                coverage = coverage or self.redaction_coverage()
                if coverage.kind_of(idx) != kind_:
                    raise LogIntegrityError(f"record #{idx} ({kind_} {subj}) has no content and no signed "
                                            "redaction names it: run `attest evidence verify`")
                if include_redacted:
                    yield StoredRecord(idx=idx, leaf_hash=leaf, body=b"", run_id=run, source=src, kind=kind_,
                                       subject=subj, collected_at=_parse_time(collected), redacted=True)
                continue
            if not _leaf_ok(body, leaf):
                raise LogIntegrityError(f"record #{idx} ({kind_} {subj}) does not match its leaf "
                                        "hash: run `attest evidence verify`")
            yield StoredRecord(idx=idx, leaf_hash=leaf, body=body, run_id=run, source=src, kind=kind_, subject=subj,
                               collected_at=_parse_time(collected))

    def redaction_coverage(self) -> Coverage:
        """The positions signed redaction statements (runs closed "ok") name, with their kind."""
        from evidence.retention import Coverage, statement_problem

        signed = self.signed_size()
        statuses = self.run_statuses(signed)
        return Coverage(r.payload for r in self.records(kind=REDACTION_KIND, up_to=signed)
                        if statuses.get(r.run_id) == "ok" and statement_problem(r.payload) is None)

    def source_outcomes(self, source_id: str, up_to: int | None = None) -> list[SourceOutcome]:
        """Each signed outcome of *source_id*, oldest first. Aborted runs give none."""
        by_run = self._closing_records(up_to)
        outcomes: list[SourceOutcome] = []
        for run_id, rec in by_run.items():
            if rec.payload.get("status") == "aborted":
                continue
            for src in rec.payload.get("sources", []):
                if src.get("source") != source_id:
                    continue
                outcomes.append(SourceOutcome(run_id, source_id, str(src.get("type")), str(src.get("status")),
                                              src.get("error"), parse_utc(src["started_at"]),
                                              parse_utc(src["finished_at"]), int(src.get("records", 0)), rec,
                                              tuple(src.get("sections") or ()), tuple(src.get("failures") or ())))
        return sorted(outcomes, key=lambda o: (o.finished_at, o.run_id))

    def checkpoints(self) -> list[SignedCheckpoint]:
        log_id = self.log_id
        with Session(self.engine) as s:
            return [_checkpoint(c, log_id) for c in s.execute(select(Checkpoint).order_by(Checkpoint.id)).scalars()]

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        with Session(self.engine) as s:
            cp = s.execute(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).scalar_one_or_none()
            return _checkpoint(cp, self.log_id) if cp else None

    def leaf_hashes(self, tree_size: int | None = None) -> list[bytes]:
        q = select(Record.leaf_hash).order_by(Record.idx)
        if tree_size is not None:
            q = q.where(Record.idx < tree_size)
        with Session(self.engine) as s:
            return list(s.execute(q).scalars())

    def inclusion_proofs(self, indices: Sequence[int], tree_size: int,
                         leaves: Sequence[bytes] | None = None) -> dict[int, list[bytes]]:
        leaves = leaves if leaves is not None else self.leaf_hashes(tree_size)
        return {i: merkle.inclusion_proof(leaves, i) for i in indices}

    # --- retention ---------------------------------------------------------------------------

    def expire_payloads(self, kind: str, older_than: datetime, signer: CheckpointSigner, *, reason: str,
                        dry_run: bool = False) -> Expiry:
        """Remove the payloads of *kind*'s records collected before *older_than* and covered by a
        signed checkpoint, keeping their leaves, after a signed `attest.redaction` record names
        them (evidence/retention.py). Only REDACTABLE_KINDS; RedactionRefused otherwise."""
        from evidence.retention import expire_payloads

        return expire_payloads(self, kind, older_than, signer, reason=reason, dry_run=dry_run)

    # --- verification ----------------------------------------------------------------------

    def verify(self, trust_anchors: Sequence[x509.Certificate] = ()) -> VerifyOutcome:
        from evidence.verify import verify_log  # kept apart: the checks are long and read-only

        return verify_log(self, trust_anchors)


def _insert_ignoring_duplicates(s: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING on the primary key, in the dialect at hand."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def _checkpoint(cp: Checkpoint, log_id: str) -> SignedCheckpoint:
    return SignedCheckpoint(id=cp.id, run_id=cp.run_id, log_id=log_id, tree_size=cp.tree_size,
                            root_hash=cp.root_hash, signed_at=parse_utc(cp.signed_at), body=cp.body,
                            signature=cp.signature, signer_cert_pem=cp.signer_cert)


def _same_authority(chain: Sequence[x509.Certificate], signer: CheckpointSigner) -> bool:
    """Whether a stored checkpoint was signed by this provider: the same key, or a certificate
    issued under one of the authorities in the current signer's own chain (a renewed key)."""
    def der(cert: x509.Certificate) -> bytes:
        return cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)

    if der(chain[0]) == der(signer.certificate):
        return True
    from attest.verify import validate_signer_chain

    roots = [c for c in signer.chain if c.issuer == c.subject] or list(signer.chain)
    return bool(roots) and validate_signer_chain(list(chain), roots) is None


def check_signed_checkpoint(cp: SignedCheckpoint, trust_anchors: Sequence[x509.Certificate] = ()) -> tuple[int, bytes]:
    """(tree size, root) of *cp* once its signature holds over its body, the body states the log
    id, tree size and root it is stored with, and, given *trust_anchors*, its signer chains to one
    of them at its signing time; LogIntegrityError otherwise. The leaves are the caller's to check
    against the root (`checked_checkpoint` reads them all; the portal extends what it checked)."""
    from evidence.verify import signature_valid

    hint = "run `attest evidence verify`"
    try:
        body = json.loads(cp.body)
        size, root, signed_at = int(body["tree_size"]), bytes.fromhex(body["root_hash"]), body["signed_at"]
        chain = cp.signer_chain
        signed = signature_valid(chain[0], cp.body, cp.signature)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise LogIntegrityError(f"checkpoint {cp.id} is unreadable: {hint}") from exc
    if not signed:
        raise LogIntegrityError(f"checkpoint {cp.id}: its signature does not match its content: {hint}")
    if (size, root, body.get("log_id")) != (cp.tree_size, cp.root_hash, cp.log_id):
        raise LogIntegrityError(f"checkpoint {cp.id}: the signed body differs from the stored tree size, root "
                                f"or log id: {hint}")
    if trust_anchors:
        from attest.verify import validate_signer_chain

        try:
            at = parse_utc(str(signed_at))
        except ValueError as exc:
            raise LogIntegrityError(f"checkpoint {cp.id} is unreadable: {hint}") from exc
        reason = validate_signer_chain(chain, trust_anchors, at=at)
        if reason is not None:
            raise LogIntegrityError(f"checkpoint {cp.id} is not signed by a trusted signer: {reason}")
    return size, root
