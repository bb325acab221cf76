"""SQLAlchemy tables of the evidence log. The same code runs on SQLite and PostgreSQL.

Record bodies are stored as the exact canonical JSON bytes (BLOB / bytea), never as JSON(B),
which would reorder keys and change the bytes the leaf hash was computed over. Times are
RFC 3339 UTC strings, so both databases hand back exactly what was written.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class LogMeta(Base):
    """One row: the log's identity and current size (the row writers lock to append)."""

    __tablename__ = "log_meta"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_id: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[str] = mapped_column(String(20))


class Run(Base):
    """Bookkeeping of runs in progress. What a run did (its sources' outcomes) is not trusted
    from here: it is the signed `attest.run` record that closes the run in the log."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purpose: Mapped[str] = mapped_column(String(32))  # collect | evaluate | render | evidence-add
    started_at: Mapped[str] = mapped_column(String(20))
    finished_at: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # running | ok | partial | aborted
    owner: Mapped[str | None] = mapped_column(String(300), nullable=True)  # host:pid running it


class Record(Base):
    """A leaf of the Merkle log. `idx` is its position in the tree; the other columns repeat
    fields of `body` for querying, and `attest evidence verify` checks they still agree (except
    for a redacted record, whose body is gone)."""

    __tablename__ = "records"
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(255), index=True)
    collected_at: Mapped[str] = mapped_column(String(20))
    # Set when retention removed the payload (evidence/retention.py): `body` is then empty and
    # only the leaf hash is left. Not trusted on its own: `evidence verify` requires a signed
    # `attest.redaction` record naming the row.
    redacted_at: Mapped[str | None] = mapped_column(String(20), nullable=True)


class Checkpoint(Base):
    """A signed tree head: `body` is the canonical JSON that `signature` covers."""

    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[str] = mapped_column(String(20))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    signer_cert: Mapped[str] = mapped_column(Text)  # PEM bundle: signer certificate, then its chain


class Artifact(Base):
    """Raw bytes behind records (a whole API response), kept in the blob store by SHA-256."""

    __tablename__ = "artifacts"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[str] = mapped_column(String(20))


class Document(Base):
    """An issued document id: the primary key is what guarantees an id is never reused."""

    __tablename__ = "documents"
    document_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    period: Mapped[str] = mapped_column(String(7))
    issued_at: Mapped[str] = mapped_column(String(20))
    supersedes: Mapped[str | None] = mapped_column(String(32), nullable=True)
