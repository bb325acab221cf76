"""Engine creation and schema migration (Alembic, run in-process on every open)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).parent / "migrations"
WRITER_OPTION = "attest_writer"
POOL_SIZE = 20


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that SQLite transactions take the write lock at BEGIN."""
    return engine.execution_options(**{WRITER_OPTION: True})


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # A connection costs a file open and four PRAGMAs (SQLite) or a login (PostgreSQL): keep enough
    # open for a portal's worker threads that none is opened and closed per request under load
    # (SQLAlchemy's default keeps 5). Connections are opened lazily: a command-line run that
    # needs two keeps two.
    pool = ({"pool_size": POOL_SIZE, "max_overflow": POOL_SIZE}
            if url.startswith(("sqlite:///", "postgresql+psycopg://")) and ":memory:" not in url else {})
    engine = create_engine(url, future=True, **pool)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer of a run
            # FULL, not NORMAL: NORMAL is safe against corruption in WAL mode, but a power cut may
            # undo the last commits -- among them a checkpoint whose witness line (fsync'd right
            # after the commit) survives, which the next run must then refuse as a rolled-back
            # database. Writes are batched (one commit per source, one per checkpoint), so the
            # fsync a commit costs here is a few milliseconds a run, not a reason to risk that.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # SELECT … FOR UPDATE does nothing on SQLite: taking the write lock at BEGIN is what
            # serialises two writers reading the log's head (a deferred BEGIN lets both read it).
            # Readers keep a deferred BEGIN so they never wait for, or block, a writer.
            immediate = conn.get_execution_options().get(WRITER_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
    return engine


def migrate(engine: Engine) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
