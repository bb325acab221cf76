"""The issue-3 scenarios of the demo world, as a collector sees them: HA (PVE 8 and 9 shapes),
backups (jobs, coverage, volumes, tasks and logs), firewall, offline nodes, and determinism.
Most tests call the handlers directly (fast); a few go through proxmoxer over real HTTPS."""

from __future__ import annotations

import calendar
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI, ResourceException

from attest.lab.history import parse_retention, prune
from attest.lab.pve_api import PveApi
from attest.lab.server import LabServer
from attest.lab.world import LabWorld, big_world, demo_world

NOW = calendar.timegm((2026, 11, 26, 8, 0, 0))  # a Thursday
WORLD = demo_world(now=NOW)
WORLD8 = demo_world(now=NOW, pve_major=8)
EVIDENCE = next(t for t in WORLD.tokens if t.tokenid == "evidence")
NARROW = next(t for t in WORLD.tokens if t.tokenid == "narrow")
BLINKERED = next(t for t in WORLD.tokens if t.tokenid == "blinkered")
API = PveApi(WORLD)
API8 = PveApi(WORLD8)


def _headers(token: Any = EVIDENCE) -> dict[str, str]:
    return {"Authorization": f"PVEAPIToken={token.full_id}={token.secret}"}


def get(path: str, api: PveApi = API, token: Any = EVIDENCE, **query: str) -> Any:
    r = api.handle("GET", "/api2/json" + path, query, _headers(token))
    assert r.status == 200, (path, r.status, r.reason)
    return json.loads(r.body)["data"]


def status_of(path: str, api: PveApi = API, token: Any = EVIDENCE, **query: str) -> tuple[int, str]:
    r = api.handle("GET", "/api2/json" + path, query, _headers(token))
    return r.status, r.reason


# --- cluster and placement -------------------------------------------------------------------------


def test_four_nodes_one_in_the_office() -> None:
    assert {s.id: s.kind for s in WORLD.sites} == {"mil1": "datacenter", "fra1": "datacenter",
                                                  "mil-office": "office"}
    assert {n.name: n.site for n in WORLD.nodes} == {"pve1": "mil1", "pve2": "mil1", "pve3": "fra1",
                                                    "pve4": "mil-office"}
    assert get("/cluster/config/nodes") == [
        {"name": f"pve{i}", "node": f"pve{i}", "nodeid": str(i), "quorum_votes": "1", "ring0_addr": f"10.20.0.1{i}"}
        for i in range(1, 5)]


def test_offline_node_answers_595_and_shows_offline() -> None:
    api = PveApi(dataclasses.replace(WORLD, offline_nodes=("pve3",)))
    status = get("/cluster/status", api)
    assert status[0]["quorate"] == 1 and status[0]["nodes"] == 4
    assert {e["name"]: e["online"] for e in status[1:]} == {"pve1": 1, "pve2": 1, "pve3": 0, "pve4": 1}
    assert {n["node"]: n["status"] for n in get("/nodes", api)}["pve3"] == "offline"
    for path in ("/nodes/pve3/qemu/102/config", "/nodes/pve3/qemu/102/firewall/rules", "/nodes/pve3/tasks",
                 "/nodes/pve3/storage/pbs-main/content", "/nodes/pve3/firewall/options"):
        assert status_of(path, api) == (595, "No route to host")
    assert status_of("/nodes/pve1/qemu/101/config", api)[0] == 200
    lrm = {e["node"]: e["status"] for e in get("/cluster/ha/status/current", api) if e["type"] == "lrm"}
    assert "old timestamp - dead?" in lrm["pve3"]


def test_ha_pve9_shape() -> None:
    resources = {r["sid"]: r for r in get("/cluster/ha/resources")}
    assert "vm:105" not in resources  # delta is not HA-managed
    assert "state" not in resources["vm:101"] and resources["vm:102"]["state"] == "started"
    assert not any("group" in r for r in resources.values())
    assert get("/cluster/ha/groups") == []
    rules = {r["rule"]: r for r in get("/cluster/ha/rules")}
    assert rules["pbx-acme"]["resources"] == "vm:101,vm:102" and rules["pbx-acme"]["strict"] == 1
    assert rules["pbx-fontana"]["nodes"] == "pve1:2,pve4:1"
    assert [r["rule"] for r in get("/cluster/ha/rules", resource="vm:101")] == ["pbx-acme", "acme-apart"]
    status = get("/cluster/ha/status/current")
    assert [e["id"] for e in status[:3]] == ["quorum", "master", "fencing"]
    assert status[2]["armed-state"] == "armed"
    service = next(e for e in status if e["id"] == "service:vm:101")
    assert (service["node"], service["crm_state"], service["request_state"], service["failback"]) == (
        "pve1", "started", "started", 1)
    lrm = next(e for e in status if e["id"] == "lrm:pve1")
    assert lrm["status"] == "pve1 (active, watchdog active, Thu Nov 26 07:59:58 2026)"
    hastate = {g["vmid"]: g.get("hastate") for g in get("/cluster/resources", type="vm")}
    assert hastate[101] == "started" and hastate[105] is None


def test_ha_pve8_shape_same_placement() -> None:
    assert get("/version", API8)["version"].startswith("8.4.")
    assert status_of("/cluster/ha/rules", API8) == (501, "Method 'GET /cluster/ha/rules' not implemented")
    groups = {g["group"]: g for g in get("/cluster/ha/groups", API8)}
    assert groups["pbx-fontana"] == {"group": "pbx-fontana", "type": "group", "nodes": "pve1:2,pve4:1",
                                     "restricted": 1, "digest": groups["pbx-fontana"]["digest"]}
    resources = {r["sid"]: r for r in get("/cluster/ha/resources", API8)}
    assert resources["vm:107"]["group"] == "pbx-fontana"
    status = get("/cluster/ha/status/current", API8)
    assert "fencing" not in {e["id"] for e in status}
    assert next(e for e in status if e["id"] == "service:vm:101")["group"] == "pbx-acme"
    # Same membership in both shapes.
    rules9 = {r["rule"]: set(r["resources"].split(",")) for r in get("/cluster/ha/rules", type="node-affinity")}
    groups8: dict[str, set[str]] = {}
    for r in resources.values():
        groups8.setdefault(r["group"], set()).add(r["sid"])
    assert rules9 == groups8


def test_storage_and_replication() -> None:
    storages = {s["storage"]: s for s in get("/storage")}
    assert storages["pbs-main"]["encryption-key"] == storages["pbs-main"]["encryption-key"].lower()
    assert "encryption-key" not in storages["pbs-weak"] and "password" not in storages["pbs-main"]
    assert (storages["pbs-main"]["datastore"], storages["pbs-main"]["shared"]) == ("store1", 1)
    assert "shared" not in storages["local-zfs"] and storages["local-lvm"]["nodes"] == "pve3"
    assert status_of("/storage/pbs-main")[0] == 403  # one storage's config takes Datastore.Allocate
    (job,) = get("/cluster/replication")
    assert (job["id"], job["guest"], job["target"], job["source"]) == ("106-0", 106, "pve1", "pve2")
    (state,) = get("/nodes/pve2/replication")
    assert state["fail_count"] == 0 and state["last_sync"] <= NOW
    assert get("/cluster/replication", token=NARROW) == []


# --- backups -------------------------------------------------------------------------------------------


def test_backup_jobs_carry_both_retention_shapes() -> None:
    jobs = {j["id"]: j for j in get("/cluster/backup")}
    assert jobs["backup-daily"]["prune-backups"] == {"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 3}
    assert jobs["backup-bellini"]["prune-backups"] == "keep-daily=3,keep-weekly=1"
    assert parse_retention(jobs["backup-bellini"]["prune-backups"]) == {"keep-daily": 3, "keep-weekly": 1}
    assert jobs["backup-lombardi"]["enabled"] == 0 and "next-run" not in jobs["backup-lombardi"]
    assert jobs["backup-daily"]["next-run"] == NOW + 17 * 3600 + 30 * 60


def test_not_backed_up_counts_disabled_jobs() -> None:
    missing = [g["vmid"] for g in get("/cluster/backup-info/not-backed-up")]
    assert missing == [110, 9000]  # 111 is "covered" by a disabled job; the template by nothing


def _volumes(storage: str, vmid: int) -> list[dict[str, Any]]:
    return get(f"/nodes/pve1/storage/{storage}/content", content="backup", vmid=str(vmid))


def test_backup_volumes_per_scenario() -> None:
    acme = _volumes("pbs-main", 101)
    newest = acme[-1]
    assert newest["volid"] == "pbs-main:backup/vm/101/2026-11-26T01:30:03Z" and newest["format"] == "pbs-vm"
    assert newest["verification"]["state"] == "ok" and NOW - newest["ctime"] < 86400
    assert newest["encrypted"] == WORLD.storage("pbs-main").options["encryption-key"]
    assert acme[0].get("protected") == 1 and len(acme) == 7 + 3 + 3  # 7 daily, 3 more weeks, 3 months
    greco = _volumes("pbs-main", 108)
    assert 3 * 86400 < NOW - greco[-1]["ctime"] < 4 * 86400
    bellini = _volumes("pbs-weak", 103)
    assert bellini[-1]["verification"]["state"] == "failed" and "encrypted" not in bellini[-1]
    assert _volumes("pbs-main", 110) == [] and _volumes("pbs-main", 111) == []
    assert _volumes("pbs-main", 106)[-1]["format"] == "pbs-ct"
    # A plain auditor role cannot list backups at all (check_volume_access wants more): an empty 200.
    assert get("/nodes/pve1/storage/pbs-main/content", token=BLINKERED, content="backup") == []


def test_prune_keeps_daily_weekly_monthly() -> None:
    days = [NOW - d * 86400 for d in range(100)]
    kept = prune(days, {"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 3})
    assert len(kept) == 13 and sorted(days)[-7:] == kept[-7:]
    assert prune(days, {}) == sorted(days) and prune(days, {"keep-last": 2}) == sorted(days)[-2:]


def test_vzdump_tasks_and_logs() -> None:
    tasks = get("/nodes/pve2/tasks", typefilter="vzdump", since=str(NOW - 45 * 86400), limit="500")
    assert len(tasks) == 2 * 45  # backup-daily and backup-bellini, one task per node per run
    assert {t["id"] for t in tasks} == {""} and {t["user"] for t in tasks} == {"root@pam"}
    daily = [t for t in tasks if time.gmtime(t["starttime"]).tm_hour == 1]
    assert [t["status"] for t in daily[:4]] == ["job errors", "job errors", "job errors", "OK"]
    log = get(f"/nodes/pve2/tasks/{daily[0]['upid']}/log", limit="1000")
    lines = [entry["t"] for entry in log]
    assert "ERROR: Backup of VM 108 failed - VM 108 qmp command 'backup' failed - got timeout" in lines
    assert "INFO: Starting Backup of VM 106 (lxc)" in lines and lines[-1] == "TASK ERROR: job errors"
    assert any(line.startswith("INFO: Finished Backup of VM 900 (00:") for line in lines)
    pve1_newest = get("/nodes/pve1/tasks", typefilter="vzdump", limit="1")[0]["upid"]
    assert len(get(f"/nodes/pve1/tasks/{pve1_newest}/log", limit="1000")) > 50
    assert len(get(f"/nodes/pve1/tasks/{pve1_newest}/log")) == 50  # PVE's default limit
    status = get(f"/nodes/pve2/tasks/{daily[3]['upid']}/status")
    assert (status["status"], status["exitstatus"]) == ("stopped", "OK")
    assert len(get("/nodes/pve2/tasks")) == 50  # default limit, aptupdate tasks included
    assert get("/nodes/pve2/tasks", typefilter="vzdump", vmid="108") == []  # scheduled tasks have id ""
    assert len(get("/nodes/pve1/tasks", typefilter="vzdump", since=str(NOW - 100 * 86400), limit="1000")) >= 99
    assert get("/nodes/pve2/tasks", token=NARROW) == []  # others' tasks need Sys.Audit on the node
    assert status_of(f"/nodes/pve2/tasks/{daily[0]['upid']}/log", token=NARROW)[0] == 403


# --- firewall -------------------------------------------------------------------------------------------


def test_cluster_firewall() -> None:
    assert get("/cluster/firewall/options")["enable"] == 1
    assert {s["name"] for s in get("/cluster/firewall/ipset")} == {"blacklist", "management", "sip-trunks"}
    blacklist = get("/cluster/firewall/ipset/blacklist")
    assert any(e.get("nomatch") == 1 for e in blacklist) and all("digest" in e for e in blacklist)
    assert [g["group"] for g in get("/cluster/firewall/groups", token=NARROW)] == ["pbx-base"]
    assert len(get("/cluster/firewall/groups/pbx-base")) == 3
    assert {"+dc/blacklist", "dc/noc"} <= {r["ref"] for r in get("/cluster/firewall/refs")}
    assert status_of("/cluster/firewall/options", token=NARROW)[0] == 403
    assert get("/nodes/pve1/firewall/options")["enable"] == 1


def _fw(vmid: int) -> dict[str, Any]:
    g = WORLD.guest(vmid)
    base = f"/nodes/{g.node}/{g.type}/{vmid}/firewall"
    return {"options": get(f"{base}/options"), "rules": get(f"{base}/rules"), "ipsets": get(f"{base}/ipset")}


def test_guest_firewall_scenarios() -> None:
    acme = _fw(101)
    assert acme["options"] == {"enable": 1, "ipfilter": 1}  # policy_in omitted: DROP
    ports = {(r["proto"], r["dport"]) for r in acme["rules"] if r["action"] == "ACCEPT" and r.get("source") ==
             "+guest/whitelist"}
    assert ports == {("udp", "5060"), ("tcp", "5061"), ("udp", "10000:20000")}
    assert {"type": "group", "action": "pbx-base"}.items() <= acme["rules"][0].items()
    assert {s["name"] for s in acme["ipsets"]} == {"whitelist", "blacklist"}
    assert _fw(105)["options"]["enable"] == 0
    assert not any("source" not in r for r in _fw(104)["rules"] if r["type"] == "in")
    assert any(r.get("dport") == "5061" and "source" not in r for r in _fw(109)["rules"])
    assert [r["type"] for r in _fw(110)["rules"]] == ["group"]
    lombardi = _fw(111)
    assert lombardi["options"]["ipfilter"] == 0 and lombardi["ipsets"] == []
    assert lombardi["rules"][0]["source"] == "212.45.100.0/24" and lombardi["rules"][0]["ipversion"] == 4
    assert any(r.get("dport") == "5060" and "source" not in r for r in _fw(120)["rules"])
    assert get("/nodes/pve1/qemu/9000/firewall/options") == {} and get("/nodes/pve1/qemu/9000/firewall/rules") == []
    assert "firewall=0" in get("/nodes/pve2/lxc/106/config")["net0"]
    refs = {r["ref"] for r in get("/nodes/pve1/qemu/101/firewall/refs")}
    assert {"+guest/whitelist", "+dc/blacklist", "guest/customer-office"} <= refs
    assert status_of("/nodes/pve1/lxc/101/firewall/rules")[0] == 500  # wrong type
    assert status_of("/nodes/pve3/qemu/102/firewall/rules", token=NARROW) == (
        403, "Permission check failed (/vms/102, VM.Audit)")


# --- determinism, big world, real HTTPS ---------------------------------------------------------------


def test_answers_are_deterministic_for_a_given_now() -> None:
    other = PveApi(demo_world(now=NOW))
    for path, query in (("/nodes/pve2/tasks", {"limit": "200"}), ("/cluster/ha/status/current", {}),
                        ("/nodes/pve1/storage/pbs-main/content", {"content": "backup"})):
        a = API.handle("GET", "/api2/json" + path, query, _headers()).body
        assert a == other.handle("GET", "/api2/json" + path, query, _headers()).body


def test_big_world_is_big_and_quick() -> None:
    world: LabWorld = big_world(nodes=10, guests=300, now=NOW, history_days=10)
    api = PveApi(world)
    assert len(get("/cluster/resources", api, type="vm")) == 300
    assert len(get("/cluster/ha/resources", api)) == 300
    g = world.guests[7]
    start = time.process_time()
    for _ in range(200):
        api.handle("GET", f"/api2/json/nodes/{g.node}/{g.type}/{g.vmid}/firewall/ipset", {}, _headers())
    assert (time.process_time() - start) / 200 < 0.001


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with LabServer(WORLD, tmp_path_factory.mktemp("lab"), latency_s=0.01) as server:
        yield server


def test_through_proxmoxer(lab: LabServer) -> None:
    pve = ProxmoxAPI(f"127.0.0.1:{lab.port}", user=EVIDENCE.userid, token_name=EVIDENCE.tokenid,
                     token_value=EVIDENCE.secret, verify_ssl=str(lab.ca_path), timeout=5)
    assert pve.cluster.backup.get()[1]["prune-backups"] == "keep-daily=3,keep-weekly=1"
    assert pve.nodes("pve1").qemu(101).firewall.options.get() == {"enable": 1, "ipfilter": 1}
    vols = pve.nodes("pve2").storage("pbs-weak").content.get(content="backup")
    assert vols[-1]["verification"]["state"] == "failed"
    with pytest.raises(ResourceException) as info:
        pve.cluster.ha.manager_status.get()
    assert info.value.status_code == 501
