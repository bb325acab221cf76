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

    The commits are made by one writer thread of its own, started on demand and ended after
    IDLE_S without rows. Not a thread of the request pool: requests waiting for their rows hold
    pool threads, and a flusher that needed one could wait behind them for ever. A thread caller
    waits on an event; an async caller (`add_async`) awaits a future and holds no thread."""

    IDLE_S = 30.0

    def __init__(self) -> None:
        self._queue: list[tuple[object, Settle]] = []
        self._wake = threading.Condition()
        self._writer: threading.Thread | None = None

    def _enqueue(self, portal: Portal, row: object, settle: Settle) -> None:
        with self._wake:
            self._queue.append((row, settle))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write, args=(portal,), name="attest-audit-writer",
                                                daemon=True)
                self._writer.start()
            self._wake.notify()

    def _write(self, portal: Portal) -> None:
        while True:
            with self._wake:
                if not self._queue:
                    self._wake.wait(self.IDLE_S)
                if not self._queue:  # idle: end; the next row starts a new writer
                    self._writer = None
                    return
                batch, self._queue = self._queue, []
            error: BaseException | None = None
            try:
                with portal.write() as s:
                    _insert_all(s, [row for row, _ in batch])
            except BaseException as exc:  # every caller of the batch gets it; the next batch is tried
                error = exc
            for _, settle in batch:
                with contextlib.suppress(Exception):  # a closed event loop must not stop the writer
                    settle(error)

    def add(self, portal: Portal, row: object) -> None:
        done, failed = threading.Event(), list[BaseException]()

        def settle(error: BaseException | None) -> None:
            if error is not None:
                failed.append(error)
            done.set()

        self._enqueue(portal, row, settle)
        done.wait()
        if failed:
            raise failed[0]

    async def add_async(self, portal: Portal, row: object) -> None:
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            loop.call_soon_threadsafe(_settle_future, committed, error)

        self._enqueue(portal, row, settle)
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
