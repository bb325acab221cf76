"""What every request handler of the portal gets: the configuration, the evidence log and its
database, the signer (to seal the audit trail and build packs), the clock, and the client's
address as the portal believes it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from attest.config import LoadedConfig, PortalConfig
from attest.signing import ProviderSigner
from evidence.log import EvidenceLog


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Portal:
    loaded: LoadedConfig
    log: EvidenceLog
    signer: ProviderSigner
    clock: Callable[[], datetime] = field(default=_utcnow)  # tests move time to expire links and sessions
    # Every portal write in this process queues here rather than in SQLite's busy wait, which
    # backs off in sleeps of up to 100 ms and made the tail latency (reentrant: a writer may nest).
    write_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    audit_batch: GroupCommit = field(default_factory=lambda: GroupCommit(), repr=False)

    def __post_init__(self) -> None:
        # A long-lived process that closes a run every half minute (sealing the audit trail): its
        # runs check only the leaves appended since its last one (see EvidenceLog._check_before_signing).
        self.log.recheck_signed_leaves = False

    @property
    def settings(self) -> PortalConfig:
        return self.loaded.model.portal

    def now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    @contextmanager
    def db(self) -> Iterator[Session]:
        """A database session in one transaction (committed on success, rolled back on error)."""
        with Session(self.log.engine) as s, s.begin():
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that reads and then writes. On SQLite it takes the write lock at BEGIN:
        a deferred transaction that read first fails at once ("database is locked") when another
        writer (the audit sealer, a render) committed meanwhile, instead of waiting its turn."""
        with self.write_lock, Session(self.log.writer) as s, s.begin():
            yield s

    def client_address(self, request: Request) -> str:
        """The client's IP address: the TCP peer, or, when the peer is a trusted reverse proxy,
        the last address in X-Forwarded-For that is not itself a trusted proxy."""
        peer = request.client.host if request.client else "unknown"
        trusted = {str(ipaddress.ip_address(p)) for p in self.settings.trusted_proxies}
        if peer not in trusted:
            return peer
        forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
        for address in reversed(forwarded):
            try:
                normal = str(ipaddress.ip_address(address))
            except ValueError:
                return peer  # a malformed header is not believed
            if normal not in trusted:
                return normal
        return peer


Settle = Callable[[BaseException | None], None]  # told once its row's commit is done (or failed)


class GroupCommit:
    """Group commit for small rows every request writes (audit entries): each caller queues its
    row and returns only once the row is committed, but rows queued while a commit is in progress
    share the next one, so twenty concurrent downloads cost a few flushes, not twenty.

    One flusher at a time commits batches until the queue is empty. The role is claimed only by a
    thread that is running: a thread caller that finds no flusher running flushes itself, and
    waits only for a flusher that is making progress. An async caller (`add_async`) schedules one
    in the threadpool when none runs or is scheduled, and awaits its row without holding a thread.
    (A flusher that claimed the role before it had a pool thread deadlocked the portal once
    requests waiting for their rows held every pool thread.) The scheduling delay is also what
    lets concurrent requests' rows gather into one commit."""

    def __init__(self) -> None:
        self._queue: list[tuple[object, Settle]] = []
        self._lock = threading.Lock()
        self._flushing = False  # a thread is running _drain
        self._scheduled = False  # a flusher is scheduled in the threadpool and has not started
        self._pending: set[asyncio.Future[None]] = set()  # the scheduled flushers, kept until done

    def _drain(self, portal: Portal) -> None:
        """Commit batches until the queue is empty, then give up the role (the caller claimed it)."""
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._flushing = False
                    return
            error: BaseException | None = None
            try:
                with portal.write() as s:
                    _insert_all(s, [row for row, _ in batch])
            except BaseException as exc:  # every caller of the batch gets it; the next batch is tried
                error = exc
            for _, settle in batch:
                with contextlib.suppress(Exception):  # a closed event loop must not stop the flusher
                    settle(error)

    def _scheduled_flush(self, portal: Portal) -> None:
        with self._lock:
            self._scheduled = False
            if self._flushing:  # another flusher runs: it takes the queued rows before it stops
                return
            self._flushing = True
        self._drain(portal)

    def _unschedule(self, future: asyncio.Future[None]) -> None:
        self._pending.discard(future)
        with self._lock:  # cancelled before it started (the loop stopping): let the next row schedule one
            self._scheduled = False

    def add(self, portal: Portal, row: object) -> None:
        done, failed = threading.Event(), list[BaseException]()

        def settle(error: BaseException | None) -> None:
            if error is not None:
                failed.append(error)
            done.set()

        with self._lock:
            self._queue.append((row, settle))
            claim = not self._flushing
            self._flushing = True
        if claim:
            self._drain(portal)
        done.wait()
        if failed:
            raise failed[0]

    async def add_async(self, portal: Portal, row: object) -> None:
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            loop.call_soon_threadsafe(_settle_future, committed, error)

        with self._lock:
            self._queue.append((row, settle))
            schedule = not self._flushing and not self._scheduled
            self._scheduled = self._scheduled or schedule
        if schedule:
            flusher = asyncio.ensure_future(run_in_threadpool(self._scheduled_flush, portal))
            self._pending.add(flusher)
            flusher.add_done_callback(self._unschedule)
        await committed


def _settle_future(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the awaiting request was cancelled (client gone): nothing to tell
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _insert_all(s: Session, rows: list[object]) -> None:
    """INSERT mapped objects in one executemany per table. Core, not `add_all`: the ORM's unit of
    work costs a millisecond a row here, and these rows are never read back in the transaction."""
    by_class: dict[type, list[dict[str, object]]] = {}
    for row in rows:
        columns = sa_inspect(type(row)).column_attrs
        values = {c.key: getattr(row, c.key) for c in columns}
        by_class.setdefault(type(row), []).append({k: v for k, v in values.items() if v is not None})
    for cls, values_list in by_class.items():
        # One statement per set of columns given (an omitted column takes its default).
        for keys in {tuple(sorted(v)) for v in values_list}:
            s.execute(insert(cls), [v for v in values_list if tuple(sorted(v)) == keys])


def get_portal(request: Request) -> Portal:
    """FastAPI dependency: the portal the application was created with."""
    portal: Portal = request.app.state.portal
    return portal
