"""Shared fixtures: databases (SQLite always, PostgreSQL when .ci/run started one), the demo
PKI and signer, the simulated Proxmox VE lab over real HTTPS, and a workspace pointed at it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from attest.pki import DemoPki, create_demo_pki
from attest.signing import ProviderSigner

PG_ADMIN_URL = os.environ.get("ATTEST_TEST_PG_URL")  # set by .ci/run; a database with CREATEDB rights
SIGNING_PASSWORD = b"test-signing-password"


def _pg_engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind the log must support."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'attest.db'}"
        return
    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL not available: set ATTEST_TEST_PG_URL (bash .ci/run does)")
    name = "attest_t_" + secrets.token_hex(6)
    admin = _pg_engine(PG_ADMIN_URL)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return create_demo_pki(tmp_path_factory.mktemp("pki"), "Test Provider", SIGNING_PASSWORD)


@pytest.fixture(scope="session")
def signer(demo_pki: DemoPki) -> ProviderSigner:
    return ProviderSigner.load(demo_pki.signer_p12, SIGNING_PASSWORD)


@pytest.fixture
def lab_factory(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Start simulated Proxmox VE APIs over real HTTPS on 127.0.0.1 (optionally with faults)."""
    from attest.lab.server import LabServer
    from attest.lab.world import demo_world

    started: list[LabServer] = []

    def start(**faults: object) -> LabServer:
        server = LabServer(demo_world(), tmp_path / "lab", **faults)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def lab(lab_factory):  # type: ignore[no-untyped-def]
    return lab_factory()


def make_workspace(directory: Path, url: str, ca_path: Path, database_url: str | None = None,
                   **source_overrides: object):  # type: ignore[no-untyped-def]
    """A demo-shaped workspace (keys, secrets, attest.yaml) pointed at a running lab."""
    from attest.config import load_config
    from attest.lab.world import demo_world
    from attest.workspace import config_document, init_workspace, write_config

    init_workspace(directory)
    doc = config_document(demo_world(), url, str(ca_path))
    doc["sources"][0].update(source_overrides)
    if database_url:
        doc["database_url"] = database_url
    return load_config(write_config(directory, doc))


@pytest.fixture
def workspace(tmp_path: Path, lab):  # type: ignore[no-untyped-def]
    return make_workspace(tmp_path / "ws", lab.url, lab.ca_path)
