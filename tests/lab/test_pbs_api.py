"""The lab's Proxmox Backup Server API: PBS auth, plain-text errors, JSON booleans, push sync jobs,
and snapshots that match the PVE side's backup volumes to the second."""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from proxmoxer import ProxmoxAPI, ResourceException

from attest.lab.pbs_api import PbsApi
from attest.lab.pve_api import PveApi
from attest.lab.server import LabServer
from attest.lab.world import demo_world

NOW = calendar.timegm((2026, 11, 26, 8, 0, 0))
WORLD = demo_world(now=NOW)
assert WORLD.pbs is not None
EVIDENCE = next(t for t in WORLD.pbs.tokens if t.tokenid == "evidence")
STORE1_ONLY = next(t for t in WORLD.pbs.tokens if t.tokenid == "store1-only")
API = PbsApi(WORLD)


def _auth(token: Any = EVIDENCE, secret: str | None = None) -> dict[str, str]:
    return {"Authorization": f"PBSAPIToken={token.full_id}:{token.secret if secret is None else secret}"}


def get(path: str, token: Any = EVIDENCE, **query: str) -> Any:
    r = API.handle("GET", "/api2/json" + path, query, _auth(token))
    assert r.status == 200, (path, r.status, r.body)
    return json.loads(r.body)


def test_auth_and_plain_text_errors() -> None:
    r = API.handle("GET", "/api2/json/version", {}, _auth(secret="wrong"))
    assert (r.status, r.content_type.startswith("text/plain")) == (401, True)
    r = API.handle("GET", "/api2/json/version", {}, {"Authorization": f"PVEAPIToken={EVIDENCE.full_id}="
                                                                      f"{EVIDENCE.secret}"})
    assert r.status == 401  # a PVE-style header is no PBS token
    r = API.handle("GET", "/api2/json/nope", {}, _auth())
    assert (r.status, r.body) == (404, b"Path '/api2/json/nope' not found.")
    r = API.handle("GET", "/api2/json/admin/datastore/store2/snapshots", {}, _auth(STORE1_ONLY))
    assert (r.status, r.body) == (403, b"permission check failed")
    r = API.handle("GET", "/api2/json/admin/datastore/store1/snapshots", {"backup-type": "vmx"}, _auth())
    assert r.status == 400 and r.body.startswith(b"parameter verification errors")


def test_datastores_filtered_by_privilege() -> None:
    assert [d["store"] for d in get("/admin/datastore")["data"]] == ["store1", "store2"]
    assert [d["store"] for d in get("/admin/datastore", STORE1_ONLY)["data"]] == ["store1"]
    config = {d["name"]: d for d in get("/config/datastore")["data"]}
    assert config["store1"]["verify-new"] is True and "verify-new" not in config["store2"]


def test_snapshots_match_pve_backup_volumes() -> None:
    snaps = get("/admin/datastore/store1/snapshots", **{"backup-type": "vm", "backup-id": "101"})["data"]
    newest = snaps[-1]
    assert newest["protected"] is False and snaps[0]["protected"] is True  # JSON booleans, not 0/1
    assert newest["verification"]["state"] == "ok" and newest["fingerprint"].count(":") == 31
    assert {f.get("crypt-mode") for f in newest["files"]} == {"encrypt", "sign-only", None}
    assert newest["size"] == sum(f.get("size", 0) for f in newest["files"])
    pve = PveApi(WORLD)
    headers = {"Authorization": "PVEAPIToken=attest@pve!evidence=3f1c2a7e-5b9d-4e8a-9c61-0d2f7b4e8a15"}
    vols = json.loads(pve.handle("GET", "/api2/json/nodes/pve1/storage/pbs-main/content",
                                 {"content": "backup", "vmid": "101"}, headers).body)["data"]
    assert [v["ctime"] for v in vols] == [s["backup-time"] for s in snaps]
    assert [v.get("verification") for v in vols] == [s.get("verification") for s in snaps]
    weak = get("/admin/datastore/store2/snapshots")["data"]
    assert {s["backup-id"] for s in weak} == {"103"} and not any("fingerprint" in s for s in weak)
    assert weak[-1]["verification"]["state"] == "failed"


def test_jobs_and_remotes() -> None:
    assert get("/admin/sync")["data"] == []  # like PBS: pull jobs only, unless asked
    (push,) = get("/admin/sync", **{"sync-direction": "all"})["data"]
    assert (push["sync-direction"], push["remote"], push["remote-store"], push["last-run-state"]) == (
        "push", "pbs-fra", "store1-replica", "OK")
    assert get("/admin/sync", **{"sync-direction": "push"})["data"] == [push]
    verify = {j["store"]: j for j in get("/admin/verify")["data"]}
    assert verify["store1"]["last-run-state"] == "OK" and verify["store2"]["last-run-state"] != "OK"
    (prune,) = get("/admin/prune")["data"]
    assert (prune["store"], prune["keep-daily"], prune["keep-weekly"], prune["keep-monthly"]) == ("store1", 7, 4, 3)
    (remote,) = get("/config/remote")["data"]
    assert set(remote) == {"name", "host", "port", "auth-id", "fingerprint", "comment"}  # never a password
    assert get("/config/remote", STORE1_ONLY)["data"] == []


@pytest.fixture(scope="module")
def pbs_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with LabServer(PbsApi(WORLD), tmp_path_factory.mktemp("pbs")) as server:
        yield server


def test_proxmoxer_pbs_over_https(pbs_lab: LabServer) -> None:
    pbs = ProxmoxAPI(f"127.0.0.1:{pbs_lab.port}", service="PBS", user=EVIDENCE.userid, token_name=EVIDENCE.tokenid,
                     token_value=EVIDENCE.secret, verify_ssl=str(pbs_lab.ca_path), timeout=5)
    assert pbs.version.get()["version"] == "4.0"
    snaps = pbs.admin.datastore("store1").snapshots.get(**{"backup-type": "ct", "backup-id": "106"})
    assert snaps and all(s["backup-type"] == "ct" for s in snaps)
    with pytest.raises(ResourceException) as info:
        pbs.admin.datastore("nostore").snapshots.get()
    assert info.value.status_code == 400
    r = requests.get(f"{pbs_lab.url}/api2/json/version", verify=str(pbs_lab.ca_path), timeout=5)
    assert r.status_code == 401 and r.text.startswith("authentication failed")
