"""Shared portal fixtures: a workspace with issued documents for two tenants (acme and bellini;
`attest init`, no collection: cheap) and the real portal served by uvicorn over HTTP on
127.0.0.1 in a background thread, so tests speak real HTTP to it (httpx, Chromium)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
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
