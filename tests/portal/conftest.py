"""Shared portal fixtures: a workspace with issued documents for two tenants (acme and bellini;
`attest init`, no collection: cheap) and the real portal served by uvicorn over HTTP on
127.0.0.1 in a background thread, so tests speak real HTTP to it (httpx, Chromium)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.test_demo_end_to_end import attest

PERIOD = "2026-10"
AS_OF = "2026-10-20T12:00:00Z"
TENANTS = ("acme", "bellini")


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT
    portal: object  # attest.portal.context.Portal
    workspace: Path
    documents: dict[str, str]  # tenant id -> its document id for PERIOD


def render(ws: Path, tenant: str, period: str = PERIOD, as_of: str = AS_OF) -> str:
    proc = attest("render", "--tenant", tenant, "--period", period, "--as-of", as_of,
                  "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (doc,) = [word for word in proc.stdout.split() if word.startswith("AT-")]
    return doc


@pytest.fixture(scope="module")
def portal_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("portal")
    ws = root / "ws"
    assert attest("init", ws, cwd=root).returncode == 0
    return ws, {t: render(ws, t) for t in TENANTS}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(portal_workspace: tuple[Path, dict[str, str]]) -> Iterator[Served]:
    """The portal over the workspace, on a free loopback port, until the module's tests end."""
    import uvicorn

    from attest.cli import _signer
    from attest.config import load_config
    from attest.portal.app import create_app
    from attest.portal.context import Portal
    from evidence.log import EvidenceLog

    ws, docs = portal_workspace
    loaded = load_config(ws / "attest.yaml")
    log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
    portal = Portal(loaded, log, _signer(loaded))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(portal, seal_every_s=0.5), host="127.0.0.1", port=port,
                                           log_level="warning", proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the portal did not start")
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", portal, ws, docs)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        log.close()


# --- accounts and a cookie-keeping client (attest/portal/auth.py) ------------------------------------

PASSWORD = "correct horse battery staple"


class Browser:
    """A browser over httpx that keeps cookies itself: the session cookie is Secure, and httpx's
    cookie jar (http.cookiejar) will not send a Secure cookie over http://127.0.0.1, which
    browsers treat as a secure context and do send it to."""

    def __init__(self, url: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []  # every Set-Cookie seen, for flag checks

    def request(self, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        from http.cookies import SimpleCookie

        headers = dict(kwargs.pop("headers", {}) or {})
        if self.cookies and "cookie" not in {k.lower() for k in headers}:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.client.request(method, path, headers=headers, **kwargs)
        for raw in response.headers.get_list("set-cookie"):
            self.set_cookie_headers.append(raw)
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value or morsel.value == '""':
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.request("POST", path, **kwargs)

    def csrf(self, path: str) -> str:
        """The CSRF token of the form on *path*."""
        import re

        page = self.get(path)
        assert page.status_code == 200, (path, page.status_code, page.text[:300])
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text[:500]
        return found.group(1)

    def login(self, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        token = self.csrf("/login")
        return self.post("/login", data={"username": username, "password": password, "csrf_token": token})

    def close(self) -> None:
        self.client.close()


def add_account(served: Served, username: str, role: str = "tenant", tenant: str | None = "acme",
                password: str | None = PASSWORD) -> None:
    """An account straight in the portal's tables (the CLI that does it is tested on its own)."""
    from attest.canonical import utc_iso
    from attest.portal.models import Account
    from attest.portal.passwords import hash_password

    portal = served.portal
    with portal.db() as s:  # type: ignore[attr-defined]
        s.add(Account(username=username, role=role, tenant_id=tenant if role == "tenant" else None,
                      password_hash=hash_password(password) if password else None, disabled=False,
                      failed_logins=0, created_at=utc_iso(portal.now())))  # type: ignore[attr-defined]


def audit_rows(served: Served, **where: object) -> list[object]:
    """portal_audit rows matching *where* (column=value), oldest first."""
    from sqlalchemy import select

    from attest.portal.models import AuditEntry

    q = select(AuditEntry).order_by(AuditEntry.id)
    for column, value in where.items():
        q = q.where(getattr(AuditEntry, column) == value)
    with served.portal.db() as s:  # type: ignore[attr-defined]
        rows = list(s.scalars(q))
        s.expunge_all()
        return rows


@pytest.fixture
def browser(served: Served) -> Iterator[Browser]:
    b = Browser(served.url)
    try:
        yield b
    finally:
        b.close()


class Clock:
    """The portal's clock, moved by tests (Portal.clock): starts at the real time plus *offset*."""

    def __init__(self, offset_days: float = 0) -> None:
        from datetime import UTC, datetime, timedelta

        self.now = datetime.now(UTC) + timedelta(days=offset_days)

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock(served: Served) -> Iterator[Clock]:
    """A movable portal clock, set back to the real one after the test."""
    portal = served.portal
    real = portal.clock  # type: ignore[attr-defined]
    moved = Clock()
    portal.clock = moved  # type: ignore[attr-defined]
    try:
        yield moved
    finally:
        portal.clock = real  # type: ignore[attr-defined]


@contextmanager
def portal_settings(served: Served, **changes: object) -> Iterator[None]:
    """Run with some portal settings changed (the config is frozen: a changed copy is swapped in)."""
    import copy

    portal = served.portal
    original = portal.loaded  # type: ignore[attr-defined]
    changed = copy.copy(original)
    model = original.model
    changed.model = model.model_copy(update={"portal": model.portal.model_copy(update=changes)})
    portal.loaded = changed  # type: ignore[attr-defined]
    try:
        yield
    finally:
        portal.loaded = original  # type: ignore[attr-defined]
