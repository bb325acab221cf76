"""The Proxmox parsers on the shapes the APIs really use: the reference fixtures when the shared
reference folder is there, and the project's own inline examples always."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collectors.pbs import job_payload, snapshot_payload
from collectors.proxmox.backup import job_payload as backup_job_payload
from collectors.proxmox.firewall import rule
from collectors.proxmox.parse import (
    as_bool,
    guest_disks,
    lrm_mode,
    master_active,
    parse_node_priorities,
    parse_property_string,
    parse_retention,
    parse_vmid_list,
    split_tags,
    utc_iso,
    vzdump_results,
)

REFERENCE = Path("/work/shared/reference/proxmox/fixtures")


def fixture(name: str) -> Any:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference fixture {name} not available")
    data = json.loads(path.read_text())
    return data["data"] if isinstance(data, dict) and "data" in data else data


@pytest.mark.parametrize(("value", "expected"), [
    (1, True), ("1", True), (True, True), ("true", True), ("TRUE", True), ("on", True),
    (0, False), ("0", False), (False, False), ("false", False),
    (None, None), ("", None), ("maybe", None),
])
def test_booleans_are_read_leniently(value: object, expected: bool | None) -> None:
    assert as_bool(value) is expected


def test_absent_booleans_take_the_documented_default_only_when_given() -> None:
    assert as_bool(None, True) is True and as_bool(None, False) is False and as_bool(None) is None
    assert as_bool(0, True) is False  # a value present beats the default


def test_property_strings_and_lists() -> None:
    assert parse_property_string("virtio=BC:24:11:00:65:01,bridge=vmbr0,firewall=1") == {
        "virtio": "BC:24:11:00:65:01", "bridge": "vmbr0", "firewall": "1"}
    assert parse_property_string("local-lvm:vm-101-disk-0,size=32G") == {"": "local-lvm:vm-101-disk-0", "size": "32G"}
    assert split_tags("t-acme;pbx") == ["pbx", "t-acme"] and split_tags("a,b c") == ["a", "b", "c"]
    assert parse_vmid_list("100,101 102") == [100, 101, 102] and parse_vmid_list(None) == []
    assert parse_node_priorities("pve-001:1,pve-002") == [{"node": "pve-001", "priority": 1},
                                                          {"node": "pve-002", "priority": None}]
    assert utc_iso(1702528474) == "2023-12-14T04:34:34Z" and utc_iso(None) is None


@pytest.mark.parametrize("value", [
    {"keep-daily": 7, "keep-weekly": 4},
    {"keep-daily": "7", "keep-weekly": "4"},
    "keep-daily=7,keep-weekly=4",
])
def test_retention_in_every_shape_reads_the_same(value: object) -> None:
    assert parse_retention(value) == {"keep-daily": 7, "keep-weekly": 4}


def test_retention_keep_all_and_absent() -> None:
    assert parse_retention("keep-all=1") == {"keep-all": True}
    assert parse_retention(None) is None and parse_retention("") is None and parse_retention({}) is None


def test_backup_job_defaults_and_both_retention_shapes_from_reference() -> None:
    jobs = {j["id"]: backup_job_payload(j) for j in fixture("cluster_backup__go-proxmox-handwritten.json")}
    assert jobs["backup-1"]["selection"]["mode"] == "all" and jobs["backup-1"]["retention"] is None
    assert jobs["backup-2"]["enabled"] is False and jobs["backup-2"]["mode"] == "stop"
    assert jobs["backup-2"]["retention"] == {"keep-daily": 7, "keep-weekly": 4}
    assert jobs["backup-2"]["retention_raw"] == "keep-daily=7,keep-weekly=4"
    assert jobs["backup-2"]["selection"] == {"mode": "vmid", "vmids": [101, 102], "pool": None, "exclude": []}


def test_backup_job_omitted_enabled_and_mode_read_as_pve_defaults() -> None:
    job = backup_job_payload({"id": "j", "pool": "acme", "vmid": "101", "prune-backups": {"keep-last": "3"}})
    assert job["enabled"] is True and job["mode"] == "snapshot"
    assert job["selection"]["mode"] == "pool"  # vzdump: pool wins over vmid
    assert job["retention"] == {"keep-last": 3}


def test_lrm_mode_and_master_from_captured_ha_status() -> None:
    status = fixture("cluster_ha_status_current__captured-pve9.json")
    modes = {e["node"]: lrm_mode(e["status"]) for e in status if e["type"] == "lrm"}
    assert modes == {"pve-node-a1": "idle", "pve-node-a2": "active", "pve-node-b1": "idle", "pve-node-b2": "idle",
                     "pve-node-c1": "maintenance", "pve-node-c2": "maintenance"}
    master = next(e for e in status if e["type"] == "master")
    assert master_active(master["status"]) is True


@pytest.mark.parametrize(("text", "mode"), [
    ("pve1 (active, watchdog active, Thu Sep 10 19:48:47 2026)", "active"),
    ("pve1 (maintenance mode, watchdog standby, Thu Sep 10 19:48:45 2026)", "maintenance"),
    ("pve1 (old timestamp - dead?, Thu Sep 10 19:48:45 2026)", "dead"),
    ("unable to read lrm status", None),
    (None, None),
])
def test_lrm_mode_from_status_text(text: str | None, mode: str | None) -> None:
    assert lrm_mode(text) == mode


def test_master_status_text() -> None:
    assert master_active("pve2 (active, Thu Sep 10 19:48:41 2026)") is True
    assert master_active("pve2 (old timestamp - dead?, Thu Sep 10 19:48:41 2026)") is False
    assert master_active("no master") is None


def test_vzdump_log_from_reference() -> None:
    assert vzdump_results(fixture("nodes_node_tasks_upid_log__vzdump__community-proxmox.json")) == {
        100: {"result": "ok", "message": None}}


def test_vzdump_log_per_guest_results() -> None:
    log = [
        {"n": 1, "t": "INFO: starting new backup job: vzdump --all 1 --storage pbs --mode snapshot"},
        {"n": 2, "t": "INFO: Starting Backup of VM 101 (qemu)"},
        {"n": 3, "t": "INFO: Finished Backup of VM 101 (00:01:02)"},
        {"n": 4, "t": "INFO: Starting Backup of VM 105 (qemu)"},
        {"n": 5, "t": "ERROR: Backup of VM 105 failed - unable to connect to PBS: connection refused"},
        {"n": 6, "t": "INFO: Starting Backup of VM 106 (lxc)"},
        {"n": 7, "t": "TASK ERROR: job errors"},
    ]
    assert vzdump_results(log) == {
        101: {"result": "ok", "message": None},
        105: {"result": "failed", "message": "unable to connect to PBS: connection refused"},
        106: {"result": "unknown", "message": None},
    }


def test_guest_disks_skip_cdroms_and_read_backup_flags() -> None:
    disks = guest_disks({"scsi0": "ceph-vm:vm-101-disk-0,size=32G", "scsi1": "local-lvm:vm-101-disk-1,backup=0",
                         "ide2": "none,media=cdrom", "net0": "virtio=x"}, "qemu")
    assert set(disks) == {"scsi0", "scsi1"}
    assert disks["scsi0"]["storage"] == "ceph-vm" and disks["scsi0"]["backup"] is True
    assert disks["scsi1"]["backup"] is False
    ct = guest_disks({"rootfs": "ceph-vm:vm-106-disk-0,size=8G", "mp0": "local:106/data,mp=/data"}, "lxc")
    assert ct["rootfs"]["backup"] is True and ct["mp0"]["backup"] is False  # pct: mount points default off


def test_firewall_rules_keep_values_and_normalise_enable() -> None:
    rules = [rule(r) for r in fixture("nodes_node_qemu_vmid_firewall_rules__go-proxmox-handwritten.json")]
    assert [r["enable"] for r in rules] == [True, False]
    assert rules[0]["action"] == "ACCEPT" and rules[0]["pos"] == 0


def test_pbs_snapshot_from_captured_answer() -> None:
    [snap] = fixture("pbs_admin_datastore_store_snapshots__captured-single.json")
    p = snapshot_payload("erebor", "", snap)
    assert p["encrypted"] is True and p["verification"]["state"] == "ok"
    assert p["backup_id"] == "152" and p["protected"] is False and p["ns"] is None


def test_pbs_snapshot_encryption_from_crypt_mode_and_never_verified() -> None:
    p = snapshot_payload("s", "", {"backup-type": "vm", "backup-id": "103", "backup-time": 1742890730,
                                   "files": [{"filename": "a.fidx", "crypt-mode": "encrypt"},
                                             {"filename": "client.log.blob"}]})
    assert p["encrypted"] is True and p["crypt_modes"] == ["encrypt"] and p["verification"] is None
    plain = snapshot_payload("s", "", fixture("pbs_snapshot_list_cli__checkmk-example.json")[0])
    assert plain["encrypted"] is False and plain["crypt_modes"] == ["none"]


def test_pbs_sync_job_direction_and_remote_site() -> None:
    pull = job_payload("sync", {"id": "s1", "store": "a", "remote": "fra", "remote-store": "b"}, {"fra": "fra1"})
    assert pull["direction"] == "pull" and pull["remote_site"] == "fra1"
    push = job_payload("sync", {"id": "s2", "store": "a", "remote": "x", "sync-direction": "push"}, {})
    assert push["direction"] == "push" and push["remote_site"] is None
    verify = job_payload("verify", fixture("pbs_admin_verify__captured.json")[0], {})
    assert verify["last_run_state"] == "OK" and verify["direction"] is None
