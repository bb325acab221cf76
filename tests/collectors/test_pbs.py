"""The Proxmox Backup Server collector against the lab's PBS API over real HTTPS."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from attest.lab.pbs_api import PbsApi
from attest.lab.server import LabServer
from attest.lab.world import demo_world
from tests.collectors.helpers import Collected, collected, workspace

PBS = "pbs-mil1"


def _pbs_source(url: str, ca: Path | str) -> dict[str, Any]:
    token = next(t for t in demo_world().pbs.tokens if t.tokenid == "evidence")  # type: ignore[union-attr]
    return {"id": PBS, "type": "proxmox_bs", "url": url, "token_id": token.full_id,
            "token_value_file": "secrets/pbs.token", "verify_tls": str(ca), "site": "mil1",
            "remote_sites": {"pbs-fra": "fra1"}}


def _secret() -> dict[str, str]:
    token = next(t for t in demo_world().pbs.tokens if t.tokenid == "evidence")  # type: ignore[union-attr]
    return {"pbs.token": token.secret}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("pbs")
    world = demo_world()
    with LabServer(world, d / "lab") as pve, LabServer(PbsApi(world), d / "lab") as pbs:
        ws = workspace(d / "ws", pve.url, pve.ca_path, extra_sources=[_pbs_source(pbs.url, pbs.ca_path)],
                       secrets=_secret())
        with collected(ws) as c:
            yield c


def test_pbs_sections_complete(both: Collected) -> None:
    src = both.source(PBS)
    assert src.status == "ok", src.failures
    assert src.sections == ["datastores", "snapshots", "jobs"]
    assert both.source("pve-main").status == "ok"


def test_datastores_with_site_and_verify_new(both: Collected) -> None:
    stores = both.records("pbs.datastore")
    assert stores[f"{PBS}/store1"] == {"store": "store1", "site": "mil1", "comment": "PBX backups (encrypted)",
                                       "verify_new": True}
    assert stores[f"{PBS}/store2"]["verify_new"] is False


def test_one_record_per_snapshot_with_encryption_and_verification(both: Collected) -> None:
    snaps = both.records("pbs.snapshot")
    store1 = [s for k, s in snaps.items() if k.startswith(f"{PBS}/store1/")]
    store2 = [s for k, s in snaps.items() if k.startswith(f"{PBS}/store2/")]
    assert store1 and store2
    assert all(s["encrypted"] for s in store1) and not any(s["encrypted"] for s in store2)
    assert any(s["verification"] and s["verification"]["state"] == "failed" for s in store2)
    acme = [s for s in store1 if s["backup_id"] == "101"]
    assert acme and any(s["protected"] for s in acme)
    s = acme[0]
    assert f"{PBS}/store1/vm/101/{s['backup_time']}" in snaps and s["created_at"].endswith("Z")


def test_jobs_with_push_sync_placed_at_the_remote_site(both: Collected) -> None:
    jobs = both.records("pbs.job")
    push = jobs[f"{PBS}/job/sync/push-store1-fra"]
    assert push["direction"] == "push" and push["remote"] == "pbs-fra" and push["remote_site"] == "fra1"
    assert push["remote_store"] == "store1-replica"
    assert jobs[f"{PBS}/job/verify/verify-store2"]["last_run_state"].startswith("verification failed")
    assert jobs[f"{PBS}/job/prune/prune-store1"]["job_type"] == "prune"
    remote = both.records("pbs.remote")[f"{PBS}/remote/pbs-fra"]
    assert remote == {"name": "pbs-fra", "host": "10.30.0.50", "site": "fra1"}


def test_a_pbs_that_does_not_answer_fails_only_its_source(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with LabServer(demo_world(), tmp_path / "lab") as pve:
        ws = workspace(tmp_path / "ws", pve.url, pve.ca_path,
                       extra_sources=[_pbs_source(f"https://127.0.0.1:{dead}", pve.ca_path)], secrets=_secret())
        with collected(ws) as c:
            assert c.summary.status == "partial"
            pbs = c.source(PBS)
            assert pbs.status == "failed" and pbs.records == 0
            assert "unreachable" in (pbs.error or "") and "connection failed" in (pbs.error or "")
            assert c.source("pve-main").status == "ok" and c.records("proxmox.guest")
            [run] = c.log.records(kind="attest.run")
            outcome = next(o for o in run.payload["sources"] if o["source"] == PBS)
            assert outcome["status"] == "failed" and "unreachable" in outcome["error"]


def test_one_datastore_failing_is_listed_under_that_store(tmp_path: Path) -> None:
    world = demo_world()
    with LabServer(world, tmp_path / "lab") as pve, \
            LabServer(PbsApi(world, error_paths={"/admin/datastore/store2/snapshots": 500}), tmp_path / "lab") as pbs:
        ws = workspace(tmp_path / "ws", pve.url, pve.ca_path, extra_sources=[_pbs_source(pbs.url, pbs.ca_path)],
                       secrets=_secret())
        with collected(ws) as c:
            src = c.source(PBS)
            assert src.status == "partial"
            [failure] = src.failures
            assert failure["section"] == "snapshots" and failure["subject"] == f"{PBS}/store2"
            assert "HTTP 500" in str(failure["error"])
            snaps = c.records("pbs.snapshot")
            assert any(k.startswith(f"{PBS}/store1/") for k in snaps)
            assert not any(k.startswith(f"{PBS}/store2/") for k in snaps)
