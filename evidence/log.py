"""The evidence log: append-only, RFC 6962 Merkle-hashed, closed by signed checkpoints.

Every collected fact becomes one record (canonical JSON bytes, one subject); its leaf hash is
its identity. Each run ends with a checkpoint (tree size + root) signed by the provider key and
also appended to `checkpoints.jsonl` in the evidence folder, a witness outside the database: a
rewrite of the database alone is then still caught by `verify()`.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from attest.canonical import canonical_json, parse_utc, utc_iso
from evidence import merkle
from evidence.blobs import BlobStore
from evidence.db import make_engine, migrate
from evidence.models import Artifact, Checkpoint, Document, LogMeta, Record, Run, RunSource
from evidence.scrub import scrub, scrub_bytes

RECORD_VERSION = 1
CHECKPOINT_VERSION = 1


class CheckpointSigner(Protocol):
    """What the log needs from the provider key (implemented by attest.signing.ProviderSigner)."""

    @property
    def certificate(self) -> x509.Certificate: ...

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

    @property
    def leaf_hex(self) -> str:
        return self.leaf_hash.hex()

    @property
    def data(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def payload(self) -> dict[str, Any]:
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
    signer_cert_pem: str

    @property
    def signer_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.signer_cert_pem.encode())


@dataclass(frozen=True)
class SourceOutcome:
    run_id: int
    source_id: str
    source_type: str
    status: str
    error: str | None
    started_at: datetime
    finished_at: datetime
    records: int


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

    @property
    def ok(self) -> bool:
        return not self.problems


def record_body(run_id: int, rec: NewRecord) -> bytes:
    return canonical_json({
        "v": RECORD_VERSION,
        "run": run_id,
        "source": rec.source,
        "kind": rec.kind,
        "subject": rec.subject,
        "collected_at": utc_iso(rec.collected_at),
        "payload": scrub(rec.payload),
        "artifacts": list(rec.artifacts),
    })


def _now() -> str:
    return utc_iso(datetime.now(UTC))


class EvidenceLog:
    def __init__(self, engine: Engine, evidence_dir: Path) -> None:
        self.engine = engine
        self.evidence_dir = evidence_dir
        self.blobs = BlobStore(evidence_dir / "blobs")
        self.witness_path = evidence_dir / "checkpoints.jsonl"

    @classmethod
    def open(cls, database_url: str, evidence_dir: Path) -> EvidenceLog:
        evidence_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(database_url)
        migrate(engine)
        log = cls(engine, evidence_dir)
        log._ensure_meta()
        return log

    def close(self) -> None:
        self.engine.dispose()

    def _ensure_meta(self) -> None:
        with Session(self.engine) as s, s.begin():
            if s.get(LogMeta, 1) is None:
                s.add(LogMeta(id=1, log_id="log-" + secrets.token_hex(8), size=0, created_at=_now()))

    @property
    def log_id(self) -> str:
        with Session(self.engine) as s:
            meta = s.get(LogMeta, 1)
            assert meta is not None
            return meta.log_id

    # --- writing -------------------------------------------------------------------------

    def begin_run(self, purpose: str) -> int:
        with Session(self.engine) as s, s.begin():
            run = Run(purpose=purpose, started_at=_now(), status="running")
            s.add(run)
            s.flush()
            return run.id

    def put_artifact(self, data: bytes, media_type: str) -> str:
        """Store raw bytes (scrubbed first) and return their SHA-256, which records cite."""
        clean = scrub_bytes(data)
        sha = self.blobs.put(clean)
        with Session(self.engine) as s, s.begin():
            if s.get(Artifact, sha) is None:
                s.add(Artifact(sha256=sha, media_type=media_type, size=len(clean), stored_at=_now()))
        return sha

    def get_artifact(self, sha: str) -> bytes:
        return self.blobs.get(sha)

    def append(self, run_id: int, records: Iterable[NewRecord]) -> list[StoredRecord]:
        """Append records as consecutive leaves, in one transaction holding the log's head row,
        so concurrent writers on PostgreSQL cannot interleave or reuse positions."""
        stored: list[StoredRecord] = []
        with Session(self.engine) as s, s.begin():
            meta = s.execute(select(LogMeta).where(LogMeta.id == 1).with_for_update()).scalar_one()
            idx = meta.size
            seen: set[bytes] = set()
            for rec in records:
                body = record_body(run_id, rec)
                leaf = merkle.leaf_hash(body)
                if leaf in seen or s.execute(select(Record.idx).where(Record.leaf_hash == leaf)).first():
                    continue  # identical record (same run, subject, time, payload) already logged
                seen.add(leaf)
                row = Record(idx=idx, leaf_hash=leaf, body=body, run_id=run_id, source=rec.source, kind=rec.kind,
                             subject=rec.subject, collected_at=utc_iso(rec.collected_at))
                s.add(row)
                stored.append(_stored(row))
                idx += 1
            meta.size = idx
        return stored

    def record_source(self, run_id: int, source_id: str, source_type: str, status: str, error: str | None,
                      started_at: datetime, finished_at: datetime, records: int) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(RunSource(run_id=run_id, source_id=source_id, source_type=source_type, status=status,
                            error=error, started_at=utc_iso(started_at), finished_at=utc_iso(finished_at),
                            records=records))

    def finish_run(self, run_id: int, status: str, signer: CheckpointSigner) -> SignedCheckpoint:
        """Close a run with a checkpoint over the whole log, signed, and mirrored to the witness file."""
        with Session(self.engine) as s, s.begin():
            meta = s.execute(select(LogMeta).where(LogMeta.id == 1).with_for_update()).scalar_one()
            size = meta.size
            leaves = list(s.execute(select(Record.leaf_hash).order_by(Record.idx)).scalars())
            if len(leaves) != size:
                raise RuntimeError(f"the log holds {len(leaves)} records but its head says {size}: "
                                   "run `attest evidence verify`")
            root = merkle.root(leaves)
            signed_at = _now()
            body = canonical_json({"v": CHECKPOINT_VERSION, "log_id": meta.log_id, "tree_size": size,
                                   "root_hash": root.hex(), "signed_at": signed_at, "run": run_id})
            signature = signer.sign_bytes(body)
            cert_pem = signer.certificate.public_bytes(serialization.Encoding.PEM).decode()
            cp = Checkpoint(run_id=run_id, tree_size=size, root_hash=root, signed_at=signed_at, body=body,
                            signature=signature, signer_cert=cert_pem)
            s.add(cp)
            s.execute(update(Run).where(Run.id == run_id).values(status=status, finished_at=signed_at))
            s.flush()
            result = _checkpoint(cp, meta.log_id)
        with self.witness_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"id": result.id, "body": body.decode(),
                                 "signature": base64.b64encode(signature).decode()}) + "\n")
        return result

    def register_document(self, document_id: str, tenant_id: str, period: str, supersedes: str | None) -> None:
        """Reserve a document id; the primary key refuses a reused one."""
        with Session(self.engine) as s, s.begin():
            s.add(Document(document_id=document_id, tenant_id=tenant_id, period=period, issued_at=_now(),
                           supersedes=supersedes))

    def latest_document(self, tenant_id: str, period: str) -> str | None:
        with Session(self.engine) as s:
            row = s.execute(select(Document.document_id).where(Document.tenant_id == tenant_id,
                                                               Document.period == period)
                            .order_by(Document.issued_at.desc(), Document.document_id)).first()
            return row[0] if row else None

    # --- reading -------------------------------------------------------------------------

    def size(self) -> int:
        with Session(self.engine) as s:
            meta = s.get(LogMeta, 1)
            return meta.size if meta else 0

    def records(self, *, kind: str | None = None, source: str | None = None, run_id: int | None = None,
                subject: str | None = None, up_to: int | None = None) -> Iterator[StoredRecord]:
        q = select(Record).order_by(Record.idx)
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
        with Session(self.engine) as s:
            for row in s.execute(q).scalars():
                yield _stored(row)

    def runs(self) -> list[tuple[int, str, str, str | None, str]]:
        with Session(self.engine) as s:
            return [(r.id, r.purpose, r.started_at, r.finished_at, r.status)
                    for r in s.execute(select(Run).order_by(Run.id)).scalars()]

    def source_outcomes(self, source_id: str | None = None) -> list[SourceOutcome]:
        q = select(RunSource).order_by(RunSource.id)
        if source_id is not None:
            q = q.where(RunSource.source_id == source_id)
        with Session(self.engine) as s:
            return [SourceOutcome(o.run_id, o.source_id, o.source_type, o.status, o.error,
                                  parse_utc(o.started_at), parse_utc(o.finished_at), o.records)
                    for o in s.execute(q).scalars()]

    def checkpoints(self) -> list[SignedCheckpoint]:
        log_id = self.log_id
        with Session(self.engine) as s:
            return [_checkpoint(c, log_id) for c in s.execute(select(Checkpoint).order_by(Checkpoint.id)).scalars()]

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    def leaf_hashes(self, tree_size: int | None = None) -> list[bytes]:
        q = select(Record.leaf_hash).order_by(Record.idx)
        if tree_size is not None:
            q = q.where(Record.idx < tree_size)
        with Session(self.engine) as s:
            return list(s.execute(q).scalars())

    def inclusion_proofs(self, indices: Sequence[int], tree_size: int) -> dict[int, list[bytes]]:
        leaves = self.leaf_hashes(tree_size)
        return {i: merkle.inclusion_proof(leaves, i) for i in indices}

    # --- verification ----------------------------------------------------------------------

    def verify(self, trust_anchors: Sequence[x509.Certificate] = ()) -> VerifyOutcome:
        from evidence.verify import verify_log  # kept apart: the checks are long and read-only

        return verify_log(self, trust_anchors)


def _stored(row: Record) -> StoredRecord:
    return StoredRecord(idx=row.idx, leaf_hash=row.leaf_hash, body=row.body, run_id=row.run_id, source=row.source,
                        kind=row.kind, subject=row.subject, collected_at=parse_utc(row.collected_at))


def _checkpoint(cp: Checkpoint, log_id: str) -> SignedCheckpoint:
    return SignedCheckpoint(id=cp.id, run_id=cp.run_id, log_id=log_id, tree_size=cp.tree_size,
                            root_hash=cp.root_hash, signed_at=parse_utc(cp.signed_at), body=cp.body,
                            signature=cp.signature, signer_cert_pem=cp.signer_cert)


def count_records(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(Record)).scalar_one())
