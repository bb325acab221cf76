"""The lab PVE API, driven the way the collectors drive it: proxmoxer over real HTTPS.

Nothing in proxmoxer or requests is patched; what these tests see is what a collector sees.
A few tests at the end call `PveApi.handle` directly for privilege rules that need other worlds.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from proxmoxer import ProxmoxAPI, ResourceException

from attest.lab.pve_api import PveApi, acl_privileges
from attest.lab.server import LabServer
from attest.lab.world import AUDITOR_PRIVS, EVIDENCE_PRIVS, LabToken, LabWorld, demo_world

WORLD = demo_world()
EVIDENCE = next(t for t in WORLD.tokens if t.tokenid == "evidence")
NARROW = next(t for t in WORLD.tokens if t.tokenid == "narrow")
BLINKERED = next(t for t in WORLD.tokens if t.tokenid == "blinkered")
GIB = 1024**3


def _client(server: LabServer, token: LabToken, *, secret: str | None = None, timeout: float = 5) -> ProxmoxAPI:
    return ProxmoxAPI(f"127.0.0.1:{server.port}", user=token.userid, token_name=token.tokenid,
                      token_value=token.secret if secret is None else secret,
                      verify_ssl=str(server.ca_path), timeout=timeout)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with LabServer(WORLD, tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def pve(lab: LabServer) -> ProxmoxAPI:
    return _client(lab, EVIDENCE)


@pytest.fixture(scope="module")
def narrow(lab: LabServer) -> ProxmoxAPI:
    return _client(lab, NARROW)


@pytest.fixture(scope="module")
def blinkered(lab: LabServer) -> ProxmoxAPI:
    return _client(lab, BLINKERED)


def _raises(call: Any, *args: Any, **kwargs: Any) -> ResourceException:
    with pytest.raises(ResourceException) as info:
        call(*args, **kwargs)
    return info.value


# --- authentication -------------------------------------------------------------------------------


def test_version(pve: ProxmoxAPI) -> None:
    assert pve.version.get() == {"repoid": "39d8a4de7dfb2c40", "release": "9.1", "version": "9.1.2"}


def test_wrong_secret_is_401_with_the_message_in_the_reason(lab: LabServer) -> None:
    err = _raises(_client(lab, EVIDENCE, secret="00000000-0000-0000-0000-000000000000").version.get)
    assert err.status_code == 401
    assert err.content == "authentication failure"
    # The body is empty (NOTES §8); proxmoxer then reports the raw bytes as "errors".
    assert err.errors == {"errors": b""}


def test_unknown_token_is_401(lab: LabServer) -> None:
    ghost = dataclasses.replace(EVIDENCE, tokenid="ghost")
    assert _raises(_client(lab, ghost).cluster.resources.get).status_code == 401


def test_no_token_is_401_no_ticket_with_empty_body(lab: LabServer) -> None:
    r = requests.get(f"{lab.url}/api2/json/version", verify=str(lab.ca_path), timeout=5)
    assert (r.status_code, r.reason, r.content) == (401, "No ticket", b"")


# --- cluster views ---------------------------------------------------------------------------------


def test_cluster_status(pve: ProxmoxAPI) -> None:
    status = pve.cluster.status.get()
    assert status[0] == {"type": "cluster", "id": "cluster", "name": "pbx-cluster-1", "nodes": 4,
                         "quorate": 1, "version": 5}
    nodes = status[1:]
    assert [(n["name"], n["nodeid"], n["ip"], n["local"]) for n in nodes] == [
        ("pve1", 1, "10.20.0.11", 1), ("pve2", 2, "10.20.0.12", 0), ("pve3", 3, "10.20.0.13", 0),
        ("pve4", 4, "10.20.0.14", 0)]
    assert all(n["type"] == "node" and n["online"] == 1 and n["id"] == f"node/{n['name']}" for n in nodes)


def test_cluster_status_needs_sys_audit(narrow: ProxmoxAPI) -> None:
    err = _raises(narrow.cluster.status.get)
    assert err.status_code == 403
    assert err.content == "Permission check failed (/, Sys.Audit)"


def test_resources_show_every_guest_to_the_auditor(pve: ProxmoxAPI) -> None:
    guests = {g["vmid"]: g for g in pve.cluster.resources.get(type="vm")}
    assert sorted(guests) == sorted(g.vmid for g in WORLD.guests)
    assert guests[101]["id"] == "qemu/101"
    assert (guests[101]["tags"], guests[101]["pool"], guests[101]["node"]) == ("t-acme;pbx", "acme", "pve1")
    assert guests[120]["tags"] == "t-moretti;t-nautilus;pbx" and "pool" not in guests[120]
    assert "pool" not in guests[107]  # fontana uses tags only
    assert (guests[106]["type"], guests[106]["id"]) == ("lxc", "lxc/106")
    template = guests[9000]
    assert (template["template"], template["status"], template["uptime"], template["cpu"]) == (1, "stopped", 0, 0)
    assert guests[101]["template"] == 0 and guests[101]["uptime"] > 0
    assert guests[900]["maxmem"] == 4096 * 1024 * 1024


def test_resources_are_filtered_for_a_narrow_token(narrow: ProxmoxAPI) -> None:
    guests = narrow.cluster.resources.get(type="vm")
    assert sorted(g["vmid"] for g in guests) == [101, 120]
    assert not any("pool" in g for g in guests)  # 101 is in pool acme, but the token may not see that
    everything = narrow.cluster.resources.get()
    assert {e["type"] for e in everything} == {"qemu", "node"}  # no storage, no pools
    assert not any("cpu" in e for e in everything if e["type"] == "node")  # node load needs Sys.Audit


def test_resources_type_filter(pve: ProxmoxAPI) -> None:
    assert {e["type"] for e in pve.cluster.resources.get(type="node")} == {"node"}
    storages = pve.cluster.resources.get(type="storage")
    everywhere = {(n, s) for n in ("pve1", "pve2", "pve3", "pve4")
                  for s in ("local", "ceph-vm", "pbs-main", "pbs-weak")}
    restricted = {(n, "local-zfs") for n in ("pve1", "pve2", "pve3")} | {("pve3", "local-lvm")}
    assert {(s["node"], s["storage"]) for s in storages} == everywhere | restricted
    expected = {"ceph-vm": ("rbd", 1, "images,rootdir"), "local": ("dir", 0, "backup,iso,vztmpl"),
                "pbs-main": ("pbs", 1, "backup"), "pbs-weak": ("pbs", 1, "backup"),
                "local-zfs": ("zfspool", 0, "images,rootdir"), "local-lvm": ("lvmthin", 0, "images,rootdir")}
    for s in storages:
        assert s["id"] == f"storage/{s['node']}/{s['storage']}" and s["status"] == "available"
        assert (s["plugintype"], s["shared"], s["content"]) == expected[s["storage"]]
    assert pve.cluster.resources.get(type="sdn") == []
    untyped = pve.cluster.resources.get()
    assert {e["type"] for e in untyped} == {"qemu", "lxc", "node", "storage", "pool"}


def test_bad_query_parameters_are_400(pve: ProxmoxAPI) -> None:
    err = _raises(pve.cluster.resources.get, type="vms", foo="1")
    assert err.status_code == 400
    assert set(err.errors) == {"type", "foo"}


def test_nodes(pve: ProxmoxAPI, narrow: ProxmoxAPI) -> None:
    nodes = pve.nodes.get()
    assert [n["node"] for n in nodes] == ["pve1", "pve2", "pve3", "pve4"]
    assert all(n["status"] == "online" and re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", n["ssl_fingerprint"])
               and n["maxcpu"] > 0 for n in nodes)
    assert all("mem" not in n for n in narrow.nodes.get())


# --- pools -----------------------------------------------------------------------------------------


def test_pools_list(pve: ProxmoxAPI, narrow: ProxmoxAPI) -> None:
    pools = pve.pools.get()
    assert [p["poolid"] for p in pools] == WORLD.pools
    assert {"poolid": "acme", "comment": "ACME Impianti S.r.l."} in pools
    assert narrow.pools.get() == []


def test_pool_members(pve: ProxmoxAPI, narrow: ProxmoxAPI) -> None:
    (acme,) = pve.pools.get(poolid="acme")
    assert [m["id"] for m in acme["members"]] == ["qemu/101", "qemu/102"]
    assert not any("tags" in m or "pool" in m for m in acme["members"])
    (moretti,) = pve.pools.get(poolid="moretti")
    assert moretti["members"] == []  # the shared PBX sits in no pool
    assert pve.pools.get(poolid="acme", type="lxc")[0]["members"] == []
    assert _raises(pve.pools.get, poolid="nope").status_code == 500
    assert _raises(narrow.pools.get, poolid="acme").content == "Permission check failed (/pool/acme, Pool.Audit)"


# --- guest configs ---------------------------------------------------------------------------------


def test_qemu_config(pve: ProxmoxAPI) -> None:
    cfg = pve.nodes("pve1").qemu(101).config.get()
    assert cfg["name"] == "pbx-acme-01"
    assert cfg["memory"] == "2048"  # a string since qemu-server 8.0.8, as the schema says
    assert (cfg["cores"], cfg["sockets"], cfg["ostype"]) == (2, 1, "l26")
    assert cfg["scsi0"] == "ceph-vm:vm-101-disk-0,size=32G"
    assert cfg["net0"] == WORLD.guest(101).nics[0] and "firewall=1" in cfg["net0"]
    assert (cfg["tags"], cfg["description"]) == ("t-acme;pbx", "FreePBX 17")
    assert re.fullmatch(r"[0-9a-f]{40}", cfg["digest"])
    assert "template" not in cfg  # default 0 is omitted
    template = pve.nodes("pve1").qemu(9000).config.get()
    assert template["template"] == 1 and template["scsi0"].startswith("ceph-vm:base-9000-disk-0")


def test_lxc_config(pve: ProxmoxAPI) -> None:
    cfg = pve.nodes("pve2").lxc(106).config.get()
    assert (cfg["hostname"], cfg["memory"], cfg["swap"], cfg["tags"]) == ("pbx-esposito-01", 2048, 512, "pbx")
    assert cfg["rootfs"] == "local-zfs:vm-106-disk-0,size=8G"  # local, but replicated (esposito)
    assert cfg["net0"].startswith("name=eth0,bridge=vmbr0,firewall=0,hwaddr=")  # its NIC is unfiltered


def test_config_on_the_wrong_node_or_type_is_500(pve: ProxmoxAPI) -> None:
    err = _raises(pve.nodes("pve2").qemu(101).config.get)
    assert err.status_code == 500
    assert err.content == "Configuration file 'nodes/pve2/qemu-server/101.conf' does not exist"
    assert _raises(pve.nodes("pve1").lxc(101).config.get).content == (
        "Configuration file 'nodes/pve1/lxc/101.conf' does not exist")
    assert _raises(pve.nodes("pve1").qemu("abc").config.get).status_code == 400


def test_config_needs_vm_audit(narrow: ProxmoxAPI) -> None:
    assert narrow.nodes("pve1").qemu(101).config.get()["name"] == "pbx-acme-01"
    err = _raises(narrow.nodes("pve3").qemu(102).config.get)
    assert (err.status_code, err.content) == (403, "Permission check failed (/vms/102, VM.Audit)")


# --- permissions -----------------------------------------------------------------------------------


TOP_LEVEL_PATHS = {"/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"}
POOL_MEMBER_PATHS = {f"/vms/{g.vmid}" for g in WORLD.guests if g.pool}


def test_access_permissions(pve: ProxmoxAPI, narrow: ProxmoxAPI) -> None:
    assert narrow.access.permissions.get() == {"/vms/101": {"VM.Audit": 1}, "/vms/120": {"VM.Audit": 1}}
    mine = pve.access.permissions.get()
    auditor = dict.fromkeys(EVIDENCE_PRIVS, 1)  # PVEAuditor + what listing backups takes
    # get_effective_permissions: the top-level paths, every path in the ACL tree (the other
    # tokens' /vms/101 and /vms/120 included) and the pool members -- not the pools themselves.
    assert set(mine) == TOP_LEVEL_PATHS | POOL_MEMBER_PATHS | {"/vms/120"}
    assert all(privs == auditor for privs in mine.values())
    assert mine["/vms"]["VM.Audit"] == 1 and mine["/pool"]["Pool.Audit"] == 1
    assert "/vms/107" not in mine and "/pool/acme" not in mine  # in no pool / in no ACL
    assert pve.access.permissions.get(path="/vms/102") == {"/vms/102": auditor}
    assert pve.access.permissions.get(path="/pool/acme") == {"/pool/acme": auditor}
    assert narrow.access.permissions.get(path="/") == {"/": {}}
    assert pve.access.permissions.get(userid=NARROW.full_id)["/vms/120"] == {"VM.Audit": 1}
    assert _raises(narrow.access.permissions.get, userid=EVIDENCE.full_id).status_code == 403


def test_blinkered_token_looks_complete_but_cannot_see_vm_120(pve: ProxmoxAPI, blinkered: ProxmoxAPI) -> None:
    full, mine = pve.access.permissions.get(), blinkered.access.permissions.get()
    for path in ("/", "/vms", "/pool", "/storage", "/nodes"):
        assert mine[path] == dict.fromkeys(AUDITOR_PRIVS, 1)  # the plain auditor role
        assert set(full[path]) - set(mine[path]) == {"Datastore.AllocateSpace", "VM.Backup"}
    # NoAccess leaves no privilege on /vms/120, so PVE leaves the path out rather than showing it empty.
    assert set(full) - set(mine) == {"/vms/120"}
    assert blinkered.access.permissions.get(path="/vms/120") == {"/vms/120": {}}
    assert sorted(g["vmid"] for g in blinkered.cluster.resources.get(type="vm")) == sorted(
        g.vmid for g in WORLD.guests if g.vmid != 120)
    assert not any(e.get("vmid") == 120 for e in blinkered.cluster.resources.get())
    err = _raises(blinkered.nodes("pve1").qemu(120).config.get)
    assert (err.status_code, err.content) == (403, "Permission check failed (/vms/120, VM.Audit)")


# --- storage content ---------------------------------------------------------------------------------


def test_storage_content_needs_datastore_audit(narrow: ProxmoxAPI) -> None:
    err = _raises(narrow.nodes("pve1").storage("ceph-vm").content.get)
    assert (err.status_code, err.content) == (
        403, "Permission check failed (/storage/ceph-vm, Datastore.Audit|Datastore.AllocateSpace)")


def test_storage_content_hides_disk_images_from_an_auditor(pve: ProxmoxAPI, blinkered: ProxmoxAPI) -> None:
    # As pve-storage's check_volume_access: an image is listed to whoever holds Datastore.Audit on
    # the storage *and* VM.Config.Disk on its guest (or Datastore.Allocate on the storage). The
    # PVEAuditor-like tokens hold neither, so the list is silently empty -- for VM 120 and all others.
    for client in (pve, blinkered):
        assert client.nodes("pve2").storage("ceph-vm").content.get() == []
        assert client.nodes("pve2").storage("ceph-vm").content.get(content="images", vmid=120) == []
        files = client.nodes("pve1").storage("local").content.get()
        assert [(f["content"], f["format"]) for f in files] == [("iso", "iso"), ("vztmpl", "tzst")]
        assert all(f["volid"].startswith(f"local:{f['content']}/") and f["size"] > 0 and f["ctime"] > 0
                   and "vmid" not in f for f in files)
    assert pve.nodes("pve1").storage("local").content.get(content="images") == []
    assert pve.nodes("pve1").storage("local").content.get(vmid=101) == []  # no backups in the lab


def test_storage_content_errors(pve: ProxmoxAPI) -> None:
    err = _raises(pve.nodes("pve1").storage("nope").content.get)
    assert (err.status_code, err.content) == (500, "storage 'nope' does not exist")
    assert _raises(pve.nodes("pve9").storage("ceph-vm").content.get).status_code == 500
    err = _raises(pve.nodes("pve1").storage("ceph-vm").content.get, content="disks", vmid="abc")
    assert err.status_code == 400 and set(err.errors) == {"content", "vmid"}
    assert _raises(pve.nodes("pve1").storage("ceph-vm").content.get, vmid=99).errors == {
        "vmid": "value must have a minimum value of 100"}
    assert set(_raises(pve.nodes("pve1").storage("9x").content.get).errors) == {"storage"}


# Tokens that may see disk images: one may configure every guest's disks but has NoAccess on
# VM 120; one administers the storage, which shows it every image -- VM 120's too, although it
# cannot see VM 120 itself. That is how a disk image can reveal a guest the inventory misses.
DISKS = LabToken("attest@pve", "disks", "disks-secret",
                 {"/": AUDITOR_PRIVS, "/vms": (*AUDITOR_PRIVS, "VM.Config.Disk"), "/vms/120": ()})
STORAGE_ADMIN = LabToken("attest@pve", "storage-admin", "storage-admin-secret",
                         {"/": AUDITOR_PRIVS, "/storage/ceph-vm": (*AUDITOR_PRIVS, "Datastore.Allocate"),
                          "/vms/120": ()})


@pytest.fixture(scope="module")
def disk_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    world = dataclasses.replace(WORLD, tokens=(*WORLD.tokens, DISKS, STORAGE_ADMIN))
    with LabServer(world, tmp_path_factory.mktemp("disk-lab")) as server:
        yield server


def test_storage_content_lists_each_guest_disk_as_pve_names_it(disk_lab: LabServer) -> None:
    pve = _client(disk_lab, STORAGE_ADMIN)
    volumes = pve.nodes("pve1").storage("ceph-vm").content.get()
    assert [v["volid"] for v in volumes] == sorted(v["volid"] for v in volumes)
    by_vmid = {v["vmid"]: v for v in volumes}
    on_ceph = sorted(g.vmid for g in WORLD.guests if g.disk_storage == "ceph-vm")
    assert sorted(by_vmid) == on_ceph  # VM 120 included
    assert by_vmid[101] == {"volid": "ceph-vm:vm-101-disk-0", "name": "vm-101-disk-0", "size": 32 * GIB,
                            "parent": None, "vmid": 101, "format": "raw", "content": "images"}
    assert (by_vmid[901]["volid"], by_vmid[901]["content"], by_vmid[901]["size"]) == (
        "ceph-vm:vm-901-disk-0", "rootdir", 8 * GIB)
    assert by_vmid[9000]["volid"] == "ceph-vm:base-9000-disk-0"
    # Shared storage: the same list on every node. Each volid is the one the guest's config uses.
    for node in ("pve2", "pve3"):
        assert pve.nodes(node).storage("ceph-vm").content.get() == volumes
    for g in WORLD.guests:
        cfg = pve.nodes(g.node)(g.type)(g.vmid).config.get() if g.vmid != 120 and g.vmid in by_vmid else None
        if cfg is not None:
            disk = cfg["scsi0"] if g.type == "qemu" else cfg["rootfs"]
            assert disk.split(",")[0] == by_vmid[g.vmid]["volid"]
    # ... while the token cannot see VM 120 itself.
    assert 120 not in {g["vmid"] for g in pve.cluster.resources.get(type="vm")}
    assert _raises(pve.nodes("pve1").qemu(120).config.get).status_code == 403
    assert [v["volid"] for v in pve.nodes("pve3").storage("ceph-vm").content.get(vmid=120)] == [
        "ceph-vm:vm-120-disk-0"]
    rootdirs = pve.nodes("pve1").storage("ceph-vm").content.get(content="rootdir")
    assert [v["vmid"] for v in rootdirs] == [901]
    assert pve.nodes("pve1").storage("ceph-vm").content.get(content="backup") == []


def test_storage_content_follows_vm_config_disk_per_guest(disk_lab: LabServer) -> None:
    volumes = _client(disk_lab, DISKS).nodes("pve2").storage("ceph-vm").content.get()
    assert sorted(v["vmid"] for v in volumes) == sorted(
        g.vmid for g in WORLD.guests if g.vmid != 120 and g.disk_storage == "ceph-vm")


# --- methods and paths -------------------------------------------------------------------------------


def test_unknown_path_is_501(pve: ProxmoxAPI) -> None:
    err = _raises(pve.cluster.ha.manager_status.get)
    assert (err.status_code, err.content) == (501, "Method 'GET /cluster/ha/manager_status' not implemented")


def test_writes_are_501(pve: ProxmoxAPI) -> None:
    err = _raises(pve.version.post)
    assert (err.status_code, err.content) == (501, "Method 'POST /version' not implemented")
    assert _raises(pve.nodes("pve1").qemu(101).config.put, memory=4096).status_code == 501


# --- fault injection ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    faults: dict[str, Any] = {"not_json_paths": {"/cluster/resources"}, "error_paths": {"/nodes": 595},
                              "slow_paths": {"/version": 1.5}}
    with LabServer(WORLD, tmp_path_factory.mktemp("faulty"), **faults) as server:
        yield server


def test_not_json_is_returned_as_data_by_proxmoxer(faulty: LabServer) -> None:
    data = _client(faulty, EVIDENCE).cluster.resources.get(type="vm")
    # proxmoxer does not raise (NOTES §8): the collector has to notice this is not a list.
    assert isinstance(data, dict) and set(data) == {"errors"}
    assert data["errors"].startswith(b"<!DOCTYPE html>")


def test_error_fault(faulty: LabServer) -> None:
    err = _raises(_client(faulty, EVIDENCE).nodes.get)
    assert (err.status_code, err.content) == (595, "No route to host")


def test_slow_fault_times_out(faulty: LabServer) -> None:
    with pytest.raises(requests.exceptions.ReadTimeout):
        _client(faulty, EVIDENCE, timeout=0.3).version.get()


def test_faults_do_not_bypass_authentication(faulty: LabServer) -> None:
    bad = _client(faulty, EVIDENCE, secret="wrong")
    assert _raises(bad.cluster.resources.get).status_code == 401


# --- PveApi directly: privilege rules in other worlds ---------------------------------------------------


def _api_with(acl: dict[str, tuple[str, ...]]) -> tuple[PveApi, dict[str, str]]:
    token = LabToken("probe@pve", "t", "s3cret", acl)
    world: LabWorld = dataclasses.replace(WORLD, tokens=(token,))
    return PveApi(world), {"Authorization": "PVEAPIToken=probe@pve!t=s3cret"}


def _get(api: PveApi, headers: dict[str, str], api_path: str, **query: str) -> Any:
    r = api.handle("GET", "/api2/json" + api_path, query, headers)
    assert r.status == 200, (r.status, r.reason)
    return json.loads(r.body)["data"]


def test_pool_acl_reaches_the_pools_guests() -> None:
    api, h = _api_with({"/pool/acme": ("VM.Audit", "Pool.Audit")})
    guests = _get(api, h, "/cluster/resources", type="vm")
    assert [(g["vmid"], g.get("pool")) for g in guests] == [(101, "acme"), (102, "acme")]


def test_vms_acl_covers_every_guest_but_no_pool() -> None:
    api, h = _api_with({"/vms": ("VM.Audit",)})
    guests = _get(api, h, "/cluster/resources", type="vm")
    assert len(guests) == len(WORLD.guests) and not any("pool" in g for g in guests)


def test_most_specific_acl_entry_wins() -> None:
    token = LabToken("probe@pve", "t", "s", {"/": AUDITOR_PRIVS, "/vms/120": ("VM.Audit",)})
    assert acl_privileges(token, "/vms/120") == {"VM.Audit"}
    assert acl_privileges(token, "/vms/120/") == {"VM.Audit"}
    assert acl_privileges(token, "/vms/1200") == set(AUDITOR_PRIVS)  # a sibling, not a sub-path
    api, h = _api_with(dict(token.acl))
    assert _get(api, h, "/access/permissions", path="/vms/120") == {"/vms/120": {"VM.Audit": 1}}


def test_pool_privileges_reach_members_unpropagated() -> None:
    # PVE shows what a guest gets only through its pool with the propagate flag 0.
    api, h = _api_with({"/pool/acme": ("VM.Audit", "Pool.Audit")})
    both = {"Pool.Audit": 1, "VM.Audit": 1}
    assert _get(api, h, "/access/permissions") == {
        "/pool/acme": both, "/vms/101": dict.fromkeys(both, 0), "/vms/102": dict.fromkeys(both, 0)}


def test_no_access_on_a_guest_is_not_trumped_by_its_pool() -> None:
    api, h = _api_with({"/": AUDITOR_PRIVS, "/vms/101": ()})
    assert 101 not in {g["vmid"] for g in _get(api, h, "/cluster/resources", type="vm")}
    perms = _get(api, h, "/access/permissions")
    assert "/vms/101" not in perms and perms["/vms/102"] == dict.fromkeys(AUDITOR_PRIVS, 1)
    r = api.handle("GET", "/api2/json/nodes/pve1/qemu/101/config", {}, h)
    assert (r.status, r.reason) == (403, "Permission check failed (/vms/101, VM.Audit)")
    # pve-manager's Pool.pm does not filter members by VM.Audit: the pool still names the guest.
    (acme,) = _get(api, h, "/pools", poolid="acme")
    assert [m["vmid"] for m in acme["members"]] == [101, 102]


def test_no_access_on_a_pool_hides_its_guests() -> None:
    api, h = _api_with({"/": AUDITOR_PRIVS, "/pool/acme": ()})
    assert {101, 102}.isdisjoint(g["vmid"] for g in _get(api, h, "/cluster/resources", type="vm"))
    assert "acme" not in {p["poolid"] for p in _get(api, h, "/pools")}
    perms = _get(api, h, "/access/permissions")
    assert {"/pool/acme", "/vms/101", "/vms/102"}.isdisjoint(perms) and "/vms/103" in perms
    assert perms["/pool"] == dict.fromkeys(AUDITOR_PRIVS, 1)


def test_answers_are_deterministic_and_digest_follows_content() -> None:
    h = {"Authorization": f"PVEAPIToken={EVIDENCE.full_id}={EVIDENCE.secret}"}
    one, two = PveApi(WORLD), PveApi(demo_world())
    for path in ("/cluster/resources", "/nodes/pve1/qemu/101/config"):
        assert one.handle("GET", "/api2/json" + path, {}, h).body == two.handle("GET", "/api2/json" + path, {}, h).body
    bigger = dataclasses.replace(WORLD.guest(101), memory_mb=4096)
    world = dataclasses.replace(WORLD, guests=tuple(bigger if g.vmid == 101 else g for g in WORLD.guests))
    before = _get(one, h, "/nodes/pve1/qemu/101/config")["digest"]
    assert _get(PveApi(world), h, "/nodes/pve1/qemu/101/config")["digest"] != before


def test_reason_is_one_safe_line() -> None:
    api, h = _api_with({"/": AUDITOR_PRIVS})
    r = api.handle("GET", "/api2/json/nodes/x\r\nX-Evil: 1/qemu/101/config", {}, h)
    assert r.status == 500 and re.fullmatch(r"[ -~]*", r.reason)


def test_paths_outside_the_api_are_404() -> None:
    api, h = _api_with({"/": AUDITOR_PRIVS})
    assert api.handle("GET", "/index.html", {}, h).status == 404
    assert api.handle("GET", "/api2/jsonx/version", {}, h).status == 404


def test_fault_paths_accept_the_api_prefix() -> None:
    api = PveApi(WORLD, error_paths={"/api2/json/cluster/resources/": 503})
    h = {"Authorization": f"PVEAPIToken={EVIDENCE.full_id}={EVIDENCE.secret}"}
    r = api.handle("GET", "/api2/json/cluster/resources", {}, h)
    assert (r.status, json.loads(r.body)) == (503, {"data": None, "message": "Service Unavailable\n"})

