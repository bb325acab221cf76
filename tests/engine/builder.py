"""Synthetic evidence for the control tests, written into a real EvidenceLog exactly as
docs/evidence-records.md describes it, one collection run at a time (records, then the signed
`attest.run` summary that attest/collect.py writes).

A `Scenario` is a small provider in which tenant acme's VM 101 passes every control and
bellini's VM 103 sits beside it; tests change one fact and collect again.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attest.attestation import Result
from attest.canonical import utc_iso
from attest.config import AttestConfig, LoadedConfig
from attest.engine import evaluate
from attest.period import Period, parse_period
from evidence.log import CheckpointSigner, EvidenceLog, NewRecord

PERIOD = "2030-11"
AS_OF = datetime(2030, 11, 30, 22, 0, tzinfo=UTC)
PVE, PBS = "pve-main", "pbs-mil"
PVE_SECTIONS = ("inventory", "cluster", "ha", "storage", "backup", "tasks", "firewall")
PBS_SECTIONS = ("datastores", "snapshots", "jobs")
# PVEAuditor plus what listing backup volumes needs (Datastore.AllocateSpace, VM.Backup).
PRIVS = {"Datastore.Audit": 1, "Datastore.AllocateSpace": 1, "Pool.Audit": 1, "Sys.Audit": 1, "VM.Audit": 1,
         "VM.Backup": 1}


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def config_doc() -> dict[str, Any]:
    return {
        "provider": {"name": "Test Provider", "vat_number": "IT000", "address": "Via Test 1", "contact": "a@b.c",
                     "verification_url": "https://verify.example", "trust_anchors": ["ca.pem"],
                     "signing": {"pkcs12_file": "k.p12", "password_env": "ATTEST_PW"}},
        "sites": [
            {"id": "mil1", "name": "Milano DC1", "country": "IT", "operator": "DC S.p.A.", "address": "Milano",
             "certifications": [{"standard": "ISO/IEC 27001:2022", "issuer": "Cert Body", "number": "IT-27001-1",
                                 "expires": "2031-06-30"}]},
            {"id": "fra1", "name": "Frankfurt DC2", "country": "DE", "operator": "RZ GmbH", "address": "Frankfurt"},
            {"id": "hq", "name": "Head office", "kind": "office", "country": "IT", "operator": "us", "address": "Roma"},
            {"id": "ny1", "name": "New York DC", "country": "US", "operator": "NY Inc", "address": "New York"},
        ],
        "sources": [
            {"id": PVE, "type": "proxmox_ve", "url": "https://pve.example:8006", "token_id": "attest@pve!evidence",
             "token_value_env": "PVE_TOKEN", "node_sites": {"pve1": "mil1", "pve2": "mil1", "pve3": "fra1"}},
            {"id": PBS, "type": "proxmox_bs", "url": "https://pbs.example:8007", "token_id": "attest@pbs!evidence",
             "token_value_env": "PBS_TOKEN", "site": "mil1", "remote_sites": {"offsite": "fra1"}},
        ],
        "tenants": [
            {"id": "acme", "legal_name": "ACME S.r.l.", "match": {"proxmox_tags": ["t-acme"]},
             "controls": {"FW-02": {"approved_open": [{"proto": "udp", "dport": "10000:20000",
                                                        "reason": "RTP media from remote phones"}]}}},
            {"id": "bellini", "legal_name": "Studio Bellini", "match": {"proxmox_tags": ["t-bellini"]}},
        ],
    }


def load(doc: dict[str, Any], base: Path) -> LoadedConfig:
    return LoadedConfig(AttestConfig.model_validate(doc), base / "attest.yaml", doc)


def _guest(vmid: int, name: str, node: str, tag: str) -> dict[str, Any]:
    return {"vmid": vmid, "type": "qemu", "name": name, "node": node, "site": "mil1", "status": "running",
            "template": False, "tags": [tag, "pbx"], "pool": None,
            "nics": {"net0": {"model": "virtio", "bridge": "vmbr0", "firewall": "1"}},
            "disks": {"scsi0": {"storage": "ceph", "volume": f"ceph:vm-{vmid}-disk-0", "backup": True, "shared": None}},
            "hastate": "started", "resource": {}, "config": {}}


def _guest_fw(vmid: int, node: str) -> dict[str, Any]:
    return {
        "vmid": vmid, "type": "qemu", "node": node,
        "options": {"enable": True, "policy_in": None, "policy_out": None, "ipfilter": True, "macfilter": True,
                    "raw": {}},
        "rules": [
            {"pos": 0, "type": "in", "action": "ACCEPT", "macro": None, "source": "+trunks", "dest": None,
             "proto": "udp", "dport": "5060:5061", "sport": None, "iface": None, "enable": True, "comment": "SIP"},
            {"pos": 1, "type": "in", "action": "ACCEPT", "macro": None, "source": None, "dest": None,
             "proto": "udp", "dport": "10000:20000", "sport": None, "iface": None, "enable": True, "comment": "RTP"},
            {"pos": 2, "type": "in", "action": "DROP", "macro": None, "source": "+banned", "dest": None,
             "proto": None, "dport": None, "sport": None, "iface": None, "enable": True, "comment": None},
            {"pos": 3, "type": "group", "action": "pbx-base", "macro": None, "source": None, "dest": None,
             "proto": None, "dport": None, "sport": None, "iface": None, "enable": True, "comment": None},
        ],
        "ipsets": {"trunks": {"comment": "SIP trunks", "entries": [{"cidr": "203.0.113.10", "nomatch": False,
                                                                    "comment": None}]},
                   "banned": {"comment": None, "entries": [{"cidr": "198.51.100.0/24", "nomatch": False,
                                                            "comment": None}]}},
        "aliases": [], "refs": [],
        "nics": {"net0": {"firewall": True, "raw": "virtio=AA,bridge=vmbr0,firewall=1"}},
    }


def _ha(vmid: int, shape: str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sid": f"vm:{vmid}", "type": "vm", "vmid": vmid, "state_raw": None, "state": "started", "max_restart": 1,
        "max_relocate": 1, "failback": True, "group": None, "group_def": None, "rules": [],
        "service": {"node": "pve1", "crm_state": "started", "state": "started", "request_state": "started",
                    "status": "started"}}
    if shape == "groups":
        base["group"] = "milan"
        base["group_def"] = {"nodes": [{"node": "pve1", "priority": 2}, {"node": "pve2", "priority": 1}],
                             "restricted": True, "nofailback": False}
    else:
        base["rules"] = [{"rule": "milan-only", "type": "node-affinity", "strict": True, "affinity": None,
                          "nodes": [{"node": "pve1", "priority": 2}, {"node": "pve2", "priority": 1}],
                          "resources": [f"vm:{vmid}"], "disable": False}]
    return base


@dataclass
class Scenario:
    """The provider's state; `collect` turns it into one collection run in the log."""

    shape: str = "rules"  # HA model: "groups" (PVE 8) or "rules" (PVE 9)
    guests: dict[int, dict[str, Any]] = field(default_factory=dict)
    ha: dict[int, dict[str, Any]] = field(default_factory=dict)
    guest_fw: dict[int, dict[str, Any]] = field(default_factory=dict)
    permissions: dict[str, dict[str, int]] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)
    ha_status: dict[str, Any] = field(default_factory=dict)
    storages: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_backed_up: list[str] = field(default_factory=list)
    firewall_cluster: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ipsets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pbs_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pools: dict[str, list[str]] = field(default_factory=dict)  # pool id -> members ("qemu/101")
    # Backups: daily at 01:00 UTC from backups_from, except the days listed; kept for keep_days.
    backups_from: datetime = datetime(2030, 10, 1, 1, 0, tzinfo=UTC)
    missing_days: set[datetime] = field(default_factory=set)
    failed_runs: set[datetime] = field(default_factory=set)  # vzdump runs that failed (no backup made)
    keep_days: int = 40
    history_days: int = 40
    verification: dict[str, Any] | None = field(default_factory=lambda: {"state": "ok", "upid": None})
    encrypted: str | None = "1"

    def __post_init__(self) -> None:
        self.guests = {101: _guest(101, "pbx-acme-01", "pve1", "t-acme"),
                       103: _guest(103, "pbx-bellini-01", "pve2", "t-bellini")}
        self.ha = {v: _ha(v, self.shape) for v in self.guests}
        self.ha[103]["service"]["node"] = "pve2"
        self.guest_fw = {v: _guest_fw(v, g["node"]) for v, g in self.guests.items()}
        self.permissions = {p: dict(PRIVS) for p in ("/", "/vms", "/pool", "/storage", "/nodes")}
        self.cluster = {"cluster": {"name": "pbx-cluster", "quorate": True, "nodes": 3, "version": 3},
                        "nodes": [{"name": n, "nodeid": i + 1, "online": True, "status": "online",
                                   "site": s, "votes": 1, "ip": f"10.0.0.{i + 1}", "hastate": "online"}
                                  for i, (n, s) in enumerate((("pve1", "mil1"), ("pve2", "mil1"), ("pve3", "fra1")))],
                        "quorum_votes_total": 3}
        self.ha_status = {"shape": self.shape, "quorum": {"quorate": True, "node": "pve1", "status": "OK"},
                          "master": {"node": "pve1", "status": "active", "active": True},
                          "fencing": {"armed_state": "armed", "resource_mode": "watchdog"} if self.shape == "rules"
                          else None,
                          "lrm": {n: {"status": "active", "mode": "active"} for n in ("pve1", "pve2", "pve3")},
                          "resources": [f"vm:{v}" for v in self.guests]}
        self.storages = {
            "ceph": {"storage": "ceph", "type": "rbd", "shared": True, "content": ["images"], "nodes": None,
                     "prune_backups": None, "prune_backups_raw": None, "server": None, "datastore": None,
                     "namespace": None, "encryption_key_set": None, "fingerprint": None},
            "local": {"storage": "local", "type": "dir", "shared": False, "content": ["images", "backup"],
                      "nodes": None, "prune_backups": None, "prune_backups_raw": None, "server": None,
                      "datastore": None, "namespace": None, "encryption_key_set": None, "fingerprint": None},
            "pbs": {"storage": "pbs", "type": "pbs", "shared": True, "content": ["backup"], "nodes": None,
                    "prune_backups": {"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 3},
                    "prune_backups_raw": "keep-daily=7,keep-weekly=4,keep-monthly=3", "server": "pbs.example",
                    "datastore": "store1", "namespace": None, "encryption_key_set": True, "fingerprint": "aa:bb"},
        }
        self.jobs = {"daily": {"id": "daily", "enabled": True, "schedule": "01:00", "next_run": None, "node": None,
                               "storage": "pbs", "mode": "snapshot",
                               "selection": {"mode": "vmid", "vmids": [101, 103], "pool": None, "exclude": []},
                               "retention": None, "retention_raw": None, "comment": None, "job": {}}}
        self.firewall_cluster = {"options": {"enable": True, "policy_in": "DROP", "policy_out": "ACCEPT", "raw": {}},
                                 "rules": [], "aliases": [], "groups": ["pbx-base"], "ipsets": ["blacklist"]}
        self.groups = {"pbx-base": [{"pos": 0, "type": "in", "action": "ACCEPT", "macro": "SSH",
                                     "source": "10.99.0.0/24", "dest": None, "proto": "tcp", "dport": None,
                                     "sport": None, "iface": None, "enable": True, "comment": "admin VPN"}]}
        self.ipsets = {"blacklist": [{"cidr": "192.0.2.66", "nomatch": False, "comment": None}]}
        self.pbs_jobs = {"offsite": {"job_type": "sync", "id": "offsite", "store": "store1", "schedule": "hourly",
                                     "last_run_state": "OK", "last_run_endtime": None, "next_run": None,
                                     "remote": "offsite", "remote_store": "copy1", "direction": "push",
                                     "remote_site": "fra1", "raw": {}}}

    # --- records -------------------------------------------------------------------------------

    def backup_times(self, until: datetime) -> list[datetime]:
        out, t = [], self.backups_from
        while t <= until:
            if t.replace(hour=0, minute=0) not in {d.replace(hour=0, minute=0) for d in self.missing_days}:
                out.append(t)
            t += timedelta(days=1)
        return out

    def pve_records(self, at: datetime) -> list[NewRecord]:
        def rec(kind: str, subject: str, payload: dict[str, Any]) -> NewRecord:
            return NewRecord(source=PVE, kind=kind, subject=f"{PVE}{subject}", payload=copy.deepcopy(payload),
                             collected_at=at)

        out = [rec("proxmox.version", "", {"version": "9.0.4", "release": "9.0", "repoid": "x"}),
               rec("proxmox.permissions", "/token", {"token": "attest@pve!evidence", "permissions": self.permissions}),
               rec("proxmox.inventory", "", {"guests": [f"qemu/{v}" for v in self.guests],
                                             "configs_read": len(self.guests), "pool_count": len(self.pools)}),
               rec("proxmox.cluster", "", self.cluster),
               rec("proxmox.ha_status", "/ha", self.ha_status),
               rec("proxmox.not_backed_up", "/backup-info", {"guests": self.not_backed_up}),
               rec("proxmox.firewall_cluster", "/firewall", self.firewall_cluster)]
        out += [rec("proxmox.storage", f"/storage/{k}", v) for k, v in self.storages.items()]
        out += [rec("proxmox.pool", f"/pool/{k}", {"poolid": k, "comment": None, "members": v})
                for k, v in self.pools.items()]
        out += [rec("proxmox.backup_job", f"/backup-job/{k}", v) for k, v in self.jobs.items()]
        out += [rec("proxmox.firewall_group", f"/firewall/group/{k}", {"group": k, "rules": v})
                for k, v in self.groups.items()]
        out += [rec("proxmox.firewall_ipset", f"/firewall/ipset/{k}", {"name": k, "comment": None, "entries": v})
                for k, v in self.ipsets.items()]
        for vmid, guest in self.guests.items():
            out += self._guest_records(rec, vmid, guest, at)
        return out

    def _guest_records(self, rec: Any, vmid: int, guest: dict[str, Any], at: datetime) -> list[NewRecord]:
        base = f"/qemu/{vmid}"
        out = [rec("proxmox.guest", base, guest)]
        if vmid in self.ha:
            out.append(rec("proxmox.ha_resource", f"{base}/ha", self.ha[vmid]))
        if vmid in self.guest_fw:
            out.append(rec("proxmox.guest_firewall", f"{base}/firewall", self.guest_fw[vmid]))
        times = self.backup_times(at)
        kept = [t for t in times if at - t <= timedelta(days=self.keep_days)]
        for t in kept:
            volid = f"pbs:backup/vm/{vmid}/{utc_iso(t)}"
            out.append(rec("proxmox.backup_volume", f"{base}/backup/{volid}", {
                "volid": volid, "storage": "pbs", "node": guest["node"], "vmid": vmid, "subtype": "qemu",
                "format": "pbs-vm", "ctime": epoch(t), "created_at": utc_iso(t), "size": 1000,
                "verification": self.verification, "encrypted": self.encrypted, "protected": False, "notes": None}))
        since = at - timedelta(days=self.history_days)
        runs = [{"upid": f"UPID:{guest['node']}:1:1:{epoch(t):08X}:vzdump::root@pam:", "node": guest["node"],
                 "starttime": epoch(t), "endtime": epoch(t) + 300, "task_status": "OK", "result": "ok",
                 "message": None} for t in times if t >= since]
        runs += [{"upid": f"UPID:{guest['node']}:1:1:{epoch(t):08X}:vzdump::root@pam:", "node": guest["node"],
                  "starttime": epoch(t), "endtime": epoch(t) + 60, "task_status": "ERROR", "result": "failed",
                  "message": f"Backup of VM {vmid} failed"} for t in sorted(self.failed_runs) if since <= t <= at]
        out.append(rec("proxmox.backup_history", f"{base}/backup-history",
                       {"vmid": vmid, "since": epoch(since), "until": epoch(at), "runs": runs}))
        return out

    def pbs_records(self, at: datetime) -> list[NewRecord]:
        def rec(kind: str, subject: str, payload: dict[str, Any]) -> NewRecord:
            return NewRecord(source=PBS, kind=kind, subject=f"{PBS}/{subject}", payload=copy.deepcopy(payload),
                             collected_at=at)

        out = [rec("pbs.datastore", "store1", {"store": "store1", "site": "mil1", "comment": None,
                                               "verify_new": True})]
        for name, job in self.pbs_jobs.items():
            payload = dict(job, last_run_endtime=job["last_run_endtime"] or epoch(at - timedelta(hours=1)))
            out.append(rec("pbs.job", f"job/{job['job_type']}/{name}", payload))
        for vmid in self.guests:
            for t in self.backup_times(at)[-7:]:
                out.append(rec("pbs.snapshot", f"store1/vm/{vmid}/{epoch(t)}", {
                    "store": "store1", "ns": None, "backup_type": "vm", "backup_id": str(vmid),
                    "backup_time": epoch(t), "created_at": utc_iso(t), "verification": self.verification,
                    "encrypted": bool(self.encrypted), "crypt_modes": ["encrypt"], "fingerprint": "aa:bb",
                    "size": 1000, "protected": False, "owner": "root@pam", "comment": None}))
        return out


def collect(log: EvidenceLog, signer: CheckpointSigner, scenario: Scenario, at: datetime, *, source: str = PVE,
            sections: tuple[str, ...] | None = None, failures: list[dict[str, Any]] | None = None,
            status: str | None = None, drop: set[str] | None = None) -> int:
    """One collection of *source* finishing at *at*, summarised like attest/collect.py does.
    *drop* leaves out records of the given subjects (what a failure made unknown)."""
    pbs = source == PBS
    records = scenario.pbs_records(at) if pbs else scenario.pve_records(at)
    records = [r for r in records if not drop or r.subject not in drop]
    failures = failures or []
    sections = sections if sections is not None else (PBS_SECTIONS if pbs else PVE_SECTIONS)
    status = status or ("partial" if failures else "ok")
    run_id = log.begin_run("collect", signer)
    stored = log.append(run_id, records)
    log.finish_run(run_id, "ok" if status == "ok" else "partial", signer, {"sources": [{
        "source": source, "type": "proxmox_bs" if pbs else "proxmox_ve", "status": status,
        "error": None if status == "ok" else "some parts unreadable", "started_at": utc_iso(at - timedelta(minutes=2)),
        "finished_at": utc_iso(at), "records": len(stored), "sections": list(sections), "failures": failures}]})
    return run_id


def add_manual(log: EvidenceLog, signer: CheckpointSigner, kind: str, subject: str, **payload: Any) -> None:
    """Manual evidence as `attest evidence add` writes it (its own run, closed ok)."""
    now = datetime.now(UTC).replace(microsecond=0)
    body = {"document": {"filename": "doc.pdf", "sha256": "0" * 64, "size": 10, "media_type": "application/pdf"},
            "performed_at": None, "reference": None, "title": None, "note": None, "added_by": "test",
            "added_at": utc_iso(now), **payload}
    run_id = log.begin_run("evidence-add", signer)
    log.append(run_id, [NewRecord(source="manual", kind=kind, subject=subject, payload=body, collected_at=now)])
    log.finish_run(run_id, "ok", signer, {"sources": [{
        "source": "manual", "type": "manual", "status": "ok", "error": None, "started_at": utc_iso(now),
        "finished_at": utc_iso(now), "records": 1, "sections": ["manual"], "failures": []}]})


def standard_manual(log: EvidenceLog, signer: CheckpointSigner) -> None:
    add_manual(log, signer, "manual.site_certificate", "site/mil1", reference="IT-27001-1")
    add_manual(log, signer, "manual.restore_test", f"{PVE}/qemu/101", performed_at="2030-10-15T10:00:00Z")


def period() -> Period:
    return parse_period(PERIOD, "Europe/Rome")


def judge(config: LoadedConfig, log: EvidenceLog, signer: CheckpointSigner, control: str,
          as_of: datetime = AS_OF, now: datetime | None = None) -> dict[str, Result]:
    ev = evaluate(config, log, signer, period(), as_of, now=now)
    return {t: next(r for r in results if r.control_id == control) for t, results in ev.results.items()}
