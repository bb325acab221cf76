"""The reads every portal request makes (its session and account, the newest checkpoint) run on
the pooled DB-API connection (attest/portal/hotpath.py): on SQLite and on PostgreSQL, they must
answer exactly what the ORM would."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from attest.canonical import utc_iso
from attest.config import PortalConfig
from attest.portal import library, sessions
from attest.portal.context import GroupCommit, Portal
from attest.portal.hotpath import RowReader
from attest.portal.models import Account, AuditEntry, PortalSession
from attest.signing import ProviderSigner
from evidence.log import EvidenceLog, NewRecord
from evidence.models import Record

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def portal(db_url: str, tmp_path: Path, signer: ProviderSigner) -> Portal:
    log = EvidenceLog.open(db_url, tmp_path / "evidence")
    loaded: Any = SimpleNamespace(model=SimpleNamespace(portal=PortalConfig(idle_minutes=60, session_hours=8)))
    clock = {"now": NOW}
    portal = Portal(loaded, log, signer, clock=lambda: clock["now"])
    portal.clock_box = clock  # type: ignore[attr-defined]  # the tests move time
    return portal


def _account(portal: Portal, username: str, tenant: str | None = "acme", role: str = "tenant") -> str:
    with Session(portal.log.writer) as s, s.begin():
        account = Account(username=username, role=role, tenant_id=tenant, password_hash=None, disabled=False,
                          failed_logins=0, created_at=utc_iso(NOW))
        s.add(account)
        s.flush()
        return sessions.start_session(portal, s, account, "192.0.2.7")


def test_session_read_matches_the_rows(portal: Portal) -> None:
    token = _account(portal, "ada")
    signed = sessions.load_session(portal, token)
    assert signed is not None
    assert (signed.username, signed.role, signed.tenant_id) == ("ada", "tenant", "acme")
    with Session(portal.log.engine) as s:
        row = s.get(PortalSession, sessions.token_hash(token))
        assert row is not None
        assert (signed.account_id, signed.csrf_token, signed.session_hash) == (row.account_id, row.csrf_token,
                                                                               row.id_hash)
    staff = _account(portal, "sam", tenant=None, role="sales")
    other = sessions.load_session(portal, staff)
    assert other is not None and (other.username, other.role, other.tenant_id) == ("sam", "sales", None)


def test_unknown_disabled_and_expired_sessions_open_nothing(portal: Portal) -> None:
    assert sessions.load_session(portal, sessions.new_token()) is None
    token = _account(portal, "ada")
    with Session(portal.log.writer) as s, s.begin():
        s.execute(update(Account).where(Account.username == "ada").values(disabled=True))
    assert sessions.load_session(portal, token) is None
    with Session(portal.log.engine) as s:  # an ended session is removed, not kept for later
        assert s.get(PortalSession, sessions.token_hash(token)) is None

    late = _account(portal, "bea")
    portal.clock_box["now"] = NOW + timedelta(minutes=61)  # type: ignore[attr-defined]  # idle too long
    assert sessions.load_session(portal, late) is None


def test_use_is_noted_at_most_once_a_minute(portal: Portal) -> None:
    token = _account(portal, "ada")
    box = portal.clock_box  # type: ignore[attr-defined]

    def last_seen() -> str:
        with Session(portal.log.engine) as s:
            row = s.get(PortalSession, sessions.token_hash(token))
            assert row is not None
            return row.last_seen_at

    box["now"] = NOW + timedelta(seconds=30)
    assert sessions.load_session(portal, token) is not None
    assert last_seen() == utc_iso(NOW)
    box["now"] = NOW + timedelta(seconds=90)
    assert sessions.load_session(portal, token) is not None
    assert last_seen() == utc_iso(NOW + timedelta(seconds=90))


def test_latest_checkpoint_key(portal: Portal, signer: ProviderSigner) -> None:
    assert library._latest_key(portal) is None
    for n in range(2):
        run = portal.log.begin_run("collect", signer)
        portal.log.append(run, [NewRecord(source="test", kind="test.thing", subject=f"thing/{n}",
                                          payload={"n": n}, collected_at=NOW)])
        portal.log.finish_run(run, "ok", signer)
    latest = portal.log.latest_checkpoint()
    assert latest is not None
    assert library._latest_key(portal) == (latest.id, latest.tree_size) == (2, 4)


def test_row_reader_binds_the_statement_s_own_values(portal: Portal, signer: ProviderSigner) -> None:
    """A LIMIT's bound value comes from the statement; the caller's values go by name."""
    run = portal.log.begin_run("collect", signer)
    portal.log.append(run, [NewRecord(source="test", kind="test.thing", subject=f"thing/{n}", payload={"n": n},
                                      collected_at=NOW) for n in range(3)])
    portal.log.finish_run(run, "ok", signer)
    reader = RowReader(select(Record.idx, Record.subject).where(Record.kind == bindparam("kind"))
                       .order_by(Record.idx.desc()).limit(1))
    assert reader.first(portal.log.engine, kind="test.thing") == (2, "thing/2")
    assert reader.first(portal.log.engine, kind="no.such.kind") is None


def _entry(n: int, action: str | None = "download") -> AuditEntry:
    return AuditEntry(at=utc_iso(NOW), action=action, outcome="ok", account=f"user{n}", link=None, tenant_id="acme",
                      client="192.0.2.7", detail=json.dumps({"n": n}))


def _staged(portal: Portal) -> list[str]:
    with Session(portal.log.engine) as s:
        return sorted(str(a) for a in s.scalars(select(AuditEntry.account)))


def test_group_commit_from_threads_and_the_event_loop(portal: Portal) -> None:
    """Rows added concurrently from threads and from coroutines are all committed, each caller
    returning only once its row is; a failed batch fails every caller in it, and the next
    batch is committed."""
    batch = GroupCommit()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: batch.add(portal, _entry(n)), range(40)))

    async def from_the_loop() -> None:
        await asyncio.gather(*(batch.add_async(portal, _entry(n)) for n in range(40, 80)))

    asyncio.run(from_the_loop())
    assert _staged(portal) == sorted(f"user{n}" for n in range(80))

    with pytest.raises(IntegrityError):  # NOT NULL action: the database refuses the batch
        batch.add(portal, _entry(80, action=None))

    async def failing() -> None:
        await batch.add_async(portal, _entry(81, action=None))

    with pytest.raises(IntegrityError):
        asyncio.run(failing())
    batch.add(portal, _entry(82))  # the flusher is not stuck after a failure
    assert "user82" in _staged(portal) and len(_staged(portal)) == 81


def test_group_commit_needs_no_request_thread(portal: Portal) -> None:
    """Requests waiting for their audit rows may hold every thread of the request pool: the rows
    are still committed (the writer is a thread of its own), with no deadlock."""
    batch = GroupCommit()

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 4
        busy = threading.Barrier(4)

        def handler(n: int) -> None:
            busy.wait()  # all four pool threads are taken before the coroutine queues its row
            time.sleep(0.05)
            batch.add(portal, _entry(n))

        threads = [asyncio.ensure_future(run_in_threadpool(handler, n)) for n in range(4)]
        await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(batch.add_async(portal, _entry(4)), *threads), timeout=20)

    asyncio.run(main())
    assert _staged(portal) == sorted(f"user{n}" for n in range(5))
