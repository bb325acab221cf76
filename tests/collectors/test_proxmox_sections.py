"""The Proxmox VE collector's sections against the lab over real HTTPS: the records of
docs/evidence-records.md for the scenario tenants, PVE 8 and 9 HA shapes, both retention shapes
and the lab's omitted defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from attest.lab.server import LabServer
from attest.lab.world import demo_world
from tests.collectors.helpers import Collected, collected, workspace

SRC = "pve-main"


@pytest.fixture(scope="module")
def pve9(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("pve9")
    with LabServer(demo_world(), d / "lab") as lab, collected(workspace(d / "ws", lab.url, lab.ca_path)) as c:
        yield c


@pytest.fixture(scope="module")
def pve8(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("pve8")
    with LabServer(demo_world(pve_major=8), d / "lab") as lab, \
            collected(workspace(d / "ws", lab.url, lab.ca_path)) as c:
        yield c


def test_every_section_completes_with_no_failure(pve9: Collected) -> None:
    src = pve9.source()
    assert src.status == "ok", src.failures[:3]
    assert src.sections == ["cluster", "inventory", "ha", "storage", "backup", "tasks", "events",
                           "firewall"]
    [run] = pve9.log.records(kind="attest.run")
    [outcome] = run.payload["sources"]
    assert outcome["sections"] == src.sections and outcome["failures"] == []


def test_every_record_cites_stored_artifacts(pve9: Collected) -> None:
    for rec in pve9.log.records():
        if rec.source == SRC:
            assert rec.data["artifacts"], rec.kind
            for sha in rec.data["artifacts"]:
                assert pve9.log.get_artifact(sha)


def test_cluster_nodes_votes_and_sites(pve9: Collected) -> None:
    cluster = pve9.records("proxmox.cluster")[SRC]
    assert cluster["cluster"]["name"] == "pbx-cluster-1" and cluster["cluster"]["quorate"] is True
    nodes = {n["name"]: n for n in cluster["nodes"]}
    assert set(nodes) == {"pve1", "pve2", "pve3", "pve4"}
    assert nodes["pve4"]["site"] == "mil-office" and nodes["pve1"]["votes"] == 1
    assert nodes["pve1"]["online"] is True and nodes["pve1"]["status"] == "online"
    assert cluster["quorum_votes_total"] == sum(n["votes"] for n in cluster["nodes"])


def test_guest_records_keep_inventory_semantics_and_add_disks(pve9: Collected) -> None:
    guests = pve9.records("proxmox.guest")
    assert set(guests) == {f"{SRC}/{g.type}/{g.vmid}" for g in demo_world().guests}
    acme = guests[f"{SRC}/qemu/101"]
    assert acme["disks"]["scsi0"]["storage"] == "ceph-vm" and acme["disks"]["scsi0"]["backup"] is True
    assert acme["nics"]["net0"]["firewall"] == "1" and acme["site"] == "mil1"
    assert guests[f"{SRC}/lxc/106"]["disks"]["rootfs"]["storage"] == "local-zfs"


def test_ha_pve9_rules_omitted_state_and_fencing(pve9: Collected) -> None:
    status = pve9.records("proxmox.ha_status")[f"{SRC}/ha"]
    assert status["shape"] == "rules" and status["quorum"]["quorate"] is True
    assert status["master"]["active"] is True
    assert status["fencing"]["armed_state"] == "armed"
    assert {n: e["mode"] for n, e in status["lrm"].items()}["pve1"] == "active"
    assert "vm:101" in status["resources"] and "ct:106" in status["resources"]
    res = pve9.records("proxmox.ha_resource")
    acme = res[f"{SRC}/qemu/101/ha"]
    assert acme["state_raw"] is None and acme["state"] == "started"  # omitted in resources.cfg
    assert acme["group"] is None and acme["group_def"] is None
    rules = {r["rule"]: r for r in acme["rules"]}
    assert rules["acme-apart"]["type"] == "resource-affinity" and rules["acme-apart"]["affinity"] == "negative"
    assert rules["pbx-acme"]["strict"] is True
    assert {"node": "pve3", "priority": 1} in rules["pbx-acme"]["nodes"]
    assert acme["service"]["state"] == "started" and acme["service"]["node"] == "pve1"
    assert res[f"{SRC}/lxc/106/ha"]["type"] == "ct"


def test_ha_pve8_groups_and_no_rules_api(pve8: Collected) -> None:
    assert pve8.source().status == "ok", pve8.source().failures[:3]
    status = pve8.records("proxmox.ha_status")[f"{SRC}/ha"]
    assert status["shape"] == "groups" and status["fencing"] is None  # PVE 8 reports no fencing entry
    acme = pve8.records("proxmox.ha_resource")[f"{SRC}/qemu/101/ha"]
    assert acme["group"] == "pbx-acme" and acme["rules"] == []
    assert acme["group_def"]["restricted"] is True and acme["group_def"]["nofailback"] is False
    assert acme["group_def"]["nodes"][0] == {"node": "pve1", "priority": 2}


def test_storage_records_never_hold_a_key(pve9: Collected) -> None:
    storages = pve9.records("proxmox.storage")
    main = storages[f"{SRC}/storage/pbs-main"]
    assert main["type"] == "pbs" and main["shared"] is True and main["datastore"] == "store1"
    assert main["encryption_key_set"] is True and main["prune_backups"] == {"keep-all": True}
    assert main["prune_backups_raw"] == "keep-all=1"
    assert storages[f"{SRC}/storage/pbs-weak"]["encryption_key_set"] is False
    assert storages[f"{SRC}/storage/local"]["encryption_key_set"] is None  # not a PBS storage
    assert storages[f"{SRC}/storage/local-lvm"]["nodes"] == ["pve3"]
    repl = pve9.records("proxmox.replication")
    [(subject, job)] = repl.items()
    assert subject.startswith(f"{SRC}/lxc/106/replication/") and job["target"] == "pve1"
    assert job["last_sync"] and job["fail_count"] == 0


def test_backup_jobs_in_both_retention_shapes(pve9: Collected) -> None:
    jobs = pve9.records("proxmox.backup_job")
    daily = jobs[f"{SRC}/backup-job/backup-daily"]
    assert daily["enabled"] is True and daily["mode"] == "snapshot"
    assert daily["selection"]["mode"] == "all" and 103 in daily["selection"]["exclude"]
    assert daily["retention"] == {"keep-daily": 7, "keep-monthly": 3, "keep-weekly": 4}
    bellini = jobs[f"{SRC}/backup-job/backup-bellini"]
    assert bellini["retention"] == {"keep-daily": 3, "keep-weekly": 1}
    assert bellini["retention_raw"] == "keep-daily=3,keep-weekly=1"
    assert jobs[f"{SRC}/backup-job/backup-lombardi"]["enabled"] is False
    uncovered = pve9.records("proxmox.not_backed_up")[f"{SRC}/backup-info"]["guests"]
    assert "qemu/110" in uncovered and "qemu/111" not in uncovered  # a disabled job still "covers"


def test_backup_volumes_one_record_each_under_the_guest(pve9: Collected) -> None:
    volumes = pve9.records("proxmox.backup_volume")
    mine = [v for s, v in volumes.items() if s.startswith(f"{SRC}/qemu/101/backup/")]
    assert mine and all(v["vmid"] == 101 and v["storage"] == "pbs-main" for v in mine)
    assert all(v["encrypted"] for v in mine) and any(v["protected"] for v in mine)
    assert all(v["created_at"].endswith("Z") for v in mine)
    assert not any(s.startswith(f"{SRC}/qemu/110/backup/") for s in volumes)  # excluded from every job


def test_backup_history_per_guest_from_task_logs(pve9: Collected) -> None:
    history = pve9.records("proxmox.backup_history")
    assert set(history) == {f"{SRC}/{g.type}/{g.vmid}/backup-history" for g in demo_world().guests}
    greco = history[f"{SRC}/qemu/108/backup-history"]
    failed = [r for r in greco["runs"] if r["result"] == "failed"]
    assert len(failed) >= 3 and "got timeout" in failed[-1]["message"]
    assert greco["runs"][-1]["result"] == "failed" and greco["since"] < greco["until"]
    acme = history[f"{SRC}/qemu/101/backup-history"]["runs"]
    assert acme and all(r["result"] == "ok" for r in acme)
    assert history[f"{SRC}/qemu/110/backup-history"]["runs"] == []


def test_guest_firewall_values_as_given_with_defaults(pve9: Collected) -> None:
    fw = pve9.records("proxmox.guest_firewall")
    acme = fw[f"{SRC}/qemu/101/firewall"]
    assert acme["options"]["enable"] is True and acme["options"]["policy_in"] is None  # omitted: not guessed
    assert acme["options"]["macfilter"] is True and acme["options"]["ipfilter"] is True
    assert set(acme["ipsets"]) == {"whitelist", "blacklist"}
    assert {"cidr": "45.143.200.0/22", "nomatch": False, "comment": "SIP scanner"} in acme["ipsets"]["blacklist"][
        "entries"]
    assert [a["name"] for a in acme["aliases"]] == ["customer-office"]
    assert acme["nics"] == {"net0": {"firewall": True, "raw": acme["nics"]["net0"]["raw"]}}
    assert acme["rules"][0]["type"] == "group" and acme["rules"][0]["action"] == "pbx-base"
    assert fw[f"{SRC}/qemu/104/firewall"]["options"]["policy_in"] == "DROP"
    assert fw[f"{SRC}/qemu/105/firewall"]["options"]["enable"] is False
    assert fw[f"{SRC}/lxc/106/firewall"]["nics"]["net0"]["firewall"] is False
    # a guest with no .fw file: firewall off by default, nothing else
    tpl = fw[f"{SRC}/qemu/9000/firewall"]
    assert tpl["options"]["enable"] is False and tpl["rules"] == [] and tpl["ipsets"] == {}


def test_cluster_and_node_firewall(pve9: Collected) -> None:
    cluster = pve9.records("proxmox.firewall_cluster")[f"{SRC}/firewall"]
    assert cluster["options"]["enable"] is True and cluster["options"]["policy_in"] == "DROP"
    assert cluster["groups"] == ["pbx-base"] and "blacklist" in cluster["ipsets"]
    blacklist = pve9.records("proxmox.firewall_ipset")[f"{SRC}/firewall/ipset/blacklist"]
    assert any(e["nomatch"] for e in blacklist["entries"])
    group = pve9.records("proxmox.firewall_group")[f"{SRC}/firewall/group/pbx-base"]
    assert group["rules"] and group["rules"][0]["macro"] == "Ping"
    node = pve9.records("proxmox.firewall_node")[f"{SRC}/node/pve1/firewall"]
    assert node["options"]["enable"] is True and node["options"]["nftables"] is False


def test_token_secret_never_reaches_records_or_artifacts(pve9: Collected, tmp_path: Path) -> None:
    secret = pve9.ws.source_secret(pve9.ws.model.sources[0]).encode()
    assert all(secret not in r.body for r in pve9.log.records())
    for blob in (pve9.ws.evidence_dir / "blobs").rglob("*"):
        if blob.is_file():
            assert secret not in blob.read_bytes()
