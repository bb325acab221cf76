"""The simulated provider that `attest demo` and the tests run against.

A fictional Italian cloud-PBX provider with two datacenter sites and an office, one 4-node
Proxmox VE cluster, one Proxmox Backup Server and twelve tenants, each with something right or
wrong about it (the table is in README.md beside this file). Everything here is plain data;
`attest.lab.pve_api` and `attest.lab.pbs_api` serve it in the shape of the real APIs, and
`attest.workspace` writes the matching `attest.yaml`.

Time: backup runs, tasks and snapshots are derived from the world's `now` (epoch seconds) by
`attest.lab.history`, so a world built twice with the same `now` answers with the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

# --- sites, nodes, tenants, guests ---------------------------------------------------------------


@dataclass(frozen=True)
class LabSite:
    id: str
    name: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    operator: str
    address: str
    kind: str = "datacenter"  # "datacenter" | "office"


@dataclass(frozen=True)
class LabNode:
    name: str
    nodeid: int
    ip: str
    site: str
    quorum_votes: int = 1


@dataclass(frozen=True)
class LabTenant:
    id: str
    legal_name: str
    language: str  # "it" | "en"
    tag: str | None  # Proxmox tag that marks its instances, if the provider uses tags for it
    pool: str | None  # Proxmox pool holding its instances, if any
    sla_target: float


@dataclass(frozen=True)
class LabGuest:
    vmid: int
    type: str  # "qemu" | "lxc"
    name: str
    node: str
    tags: tuple[str, ...] = ()
    pool: str | None = None
    status: str = "running"
    template: bool = False
    memory_mb: int = 2048
    cores: int = 2
    nics: tuple[str, ...] = ("virtio=BC:24:11:00:00:00,bridge=vmbr0,firewall=1",)
    description: str = ""
    disk_storage: str = "ceph-vm"  # where its one disk (scsi0 / rootfs) lives


@dataclass(frozen=True)
class LabToken:
    """An API token and the ACL it holds: path -> privileges (propagated to sub-paths).

    The most specific entry on a path replaces what its parents grant. An empty tuple is an
    explicit "no access" (PVE's NoAccess role): it takes away on that path and below whatever a
    parent grants, and privileges on a pool do not bring it back.
    """

    userid: str  # e.g. "attest@pve"
    tokenid: str  # e.g. "evidence"
    secret: str
    acl: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def full_id(self) -> str:
        return f"{self.userid}!{self.tokenid}"


AUDITOR_PRIVS = ("Datastore.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit")
# PVEAuditor cannot list backup volumes: pve-storage's check_volume_access wants
# Datastore.AllocateSpace on the storage and VM.Backup on the guest. An evidence token needs both.
EVIDENCE_PRIVS = (*AUDITOR_PRIVS, "Datastore.AllocateSpace", "VM.Backup")

# --- storage, HA, backup jobs ----------------------------------------------------------------------


@dataclass(frozen=True)
class LabStorage:
    """One storage.cfg entry. `options` are the type's own keys as storage.cfg holds them
    (pool, server, datastore, fingerprint, username, encryption-key = the key's fingerprint, ...)."""

    id: str
    type: str  # dir | rbd | zfspool | lvmthin | pbs
    content: tuple[str, ...]
    shared: bool
    nodes: tuple[str, ...] | None = None  # None: every node
    options: Mapping[str, object] = field(default_factory=dict)

    @property
    def pbs_datastore(self) -> str | None:
        return str(self.options["datastore"]) if self.type == "pbs" else None

    @property
    def encrypted(self) -> bool:
        return "encryption-key" in self.options


@dataclass(frozen=True)
class LabReplication:
    guest: int
    target: str
    jobnum: int = 0
    schedule: str = "*/15"
    comment: str | None = None


@dataclass(frozen=True)
class LabHaPlacement:
    """Where HA may run a set of resources: a node-affinity rule (PVE 9) or a group (PVE 8).
    Both shapes are served from this one definition, so verdicts do not depend on the version."""

    name: str
    nodes: tuple[tuple[str, int | None], ...]  # (node, priority)
    strict: bool = True  # rule `strict` / group `restricted`
    comment: str | None = None


@dataclass(frozen=True)
class LabHaResource:
    sid: str  # "vm:101" | "ct:106"
    state: str | None = None  # None: omitted in resources.cfg, which means "started"
    placement: str | None = None
    max_restart: int | None = None
    max_relocate: int | None = None
    comment: str | None = None

    @property
    def vmid(self) -> int:
        return int(self.sid.split(":")[1])


@dataclass(frozen=True)
class LabAffinityRule:
    """A PVE 9 resource-affinity rule (PVE 8 has no equivalent and does not show it)."""

    name: str
    resources: tuple[str, ...]
    affinity: str  # "positive" | "negative"
    strict: bool = False
    comment: str | None = None


@dataclass(frozen=True)
class LabBackupJob:
    id: str
    storage: str
    schedule: str = "01:30"  # "HH:MM" daily or "sat,sun HH:MM"; nodes run in UTC
    enabled: bool = True
    all: bool = False
    vmids: tuple[int, ...] = ()
    pool: str | None = None
    exclude: tuple[int, ...] = ()
    node: str | None = None
    # An object (how the API returns it) or the property-string form some clusters return.
    prune_backups: Mapping[str, int] | str | None = None
    mode: str = "snapshot"
    comment: str | None = None
    notes_template: str = "{{guestname}}"


@dataclass(frozen=True)
class LabBackupFailure:
    """The guest's backups failed in the newest `runs` runs of every job that selects it."""

    runs: int
    reason: str


# --- firewall ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabFwRule:
    type: str  # in | out | group
    action: str  # ACCEPT | DROP | REJECT, or the security group's name for type "group"
    source: str | None = None
    dest: str | None = None
    proto: str | None = None
    dport: str | None = None
    sport: str | None = None
    macro: str | None = None
    iface: str | None = None
    enable: bool = True
    comment: str | None = None
    log: str | None = None


@dataclass(frozen=True)
class LabIpSetEntry:
    cidr: str
    comment: str | None = None
    nomatch: bool = False


@dataclass(frozen=True)
class LabIpSet:
    name: str
    entries: tuple[LabIpSetEntry, ...]
    comment: str | None = None


@dataclass(frozen=True)
class LabAlias:
    name: str
    cidr: str
    comment: str | None = None


@dataclass(frozen=True)
class LabSecurityGroup:
    name: str
    rules: tuple[LabFwRule, ...]
    comment: str | None = None


@dataclass(frozen=True)
class LabFirewall:
    """One .fw file (cluster.fw or <vmid>.fw): options as written in it, then its sections."""

    options: Mapping[str, object] = field(default_factory=dict)
    rules: tuple[LabFwRule, ...] = ()
    ipsets: tuple[LabIpSet, ...] = ()
    aliases: tuple[LabAlias, ...] = ()


# --- Proxmox Backup Server ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabPbsDatastore:
    name: str
    path: str
    comment: str | None = None
    verify_new: bool = False
    # Snapshots created less than this many seconds before `now` fail verification (bit rot).
    failing_for_s: int | None = None
    gc_schedule: str = "daily"
    total_bytes: int = 20 * 1024**4


@dataclass(frozen=True)
class LabPbsJob:
    kind: str  # verify | sync | prune
    id: str
    store: str
    schedule: str  # "HH:MM" daily, or "sun HH:MM"
    options: Mapping[str, object] = field(default_factory=dict)  # as the job config holds them
    last_run_state: str = "OK"


@dataclass(frozen=True)
class LabPbsRemote:
    name: str
    host: str
    auth_id: str
    fingerprint: str
    site: str  # where it is (for the config the lab's workspace writes; PBS itself does not know)
    port: int | None = None
    comment: str | None = None


@dataclass(frozen=True)
class LabPbs:
    name: str  # host name, used in UPIDs
    site: str
    version: str
    release: str
    repoid: str
    datastores: tuple[LabPbsDatastore, ...]
    jobs: tuple[LabPbsJob, ...]
    remotes: tuple[LabPbsRemote, ...]
    tokens: tuple[LabToken, ...]


PBS_AUDIT_PRIVS = ("Datastore.Audit", "Remote.Audit", "Sys.Audit")

# --- the world ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabWorld:
    cluster_name: str
    pve_version: str
    pve_release: str
    repoid: str
    sites: tuple[LabSite, ...]
    nodes: tuple[LabNode, ...]
    tenants: tuple[LabTenant, ...]
    guests: tuple[LabGuest, ...]
    tokens: tuple[LabToken, ...]
    now: int = 0  # epoch seconds the backup and task history is relative to
    storages: tuple[LabStorage, ...] = ()
    replications: tuple[LabReplication, ...] = ()
    ha_placements: tuple[LabHaPlacement, ...] = ()
    ha_resources: tuple[LabHaResource, ...] = ()
    ha_affinity: tuple[LabAffinityRule, ...] = ()
    backup_jobs: tuple[LabBackupJob, ...] = ()
    backup_failures: Mapping[int, LabBackupFailure] = field(default_factory=dict)
    history_days: int = 100  # how far back backup runs (and their tasks) go
    cluster_firewall: LabFirewall = LabFirewall()
    security_groups: tuple[LabSecurityGroup, ...] = ()
    guest_firewalls: Mapping[int, LabFirewall] = field(default_factory=dict)  # no entry: no <vmid>.fw
    node_firewall_options: Mapping[str, object] = field(default_factory=lambda: {"enable": 1})
    offline_nodes: tuple[str, ...] = ()  # fault: these answer 595 and show offline
    pbs: LabPbs | None = None
    protected_snapshots: tuple[int, ...] = ()  # guests whose oldest kept snapshot is protected

    @property
    def pve_major(self) -> int:
        return int(self.pve_release.split(".")[0])

    def guest(self, vmid: int) -> LabGuest:
        for g in self.guests:
            if g.vmid == vmid:
                return g
        raise KeyError(vmid)

    def storage(self, storage_id: str) -> LabStorage:
        for s in self.storages:
            if s.id == storage_id:
                return s
        raise KeyError(storage_id)

    @property
    def pools(self) -> list[str]:
        return sorted({g.pool for g in self.guests if g.pool} | {t.pool for t in self.tenants if t.pool})


# --- the demo world -----------------------------------------------------------------------------------


def _mac(vmid: int) -> str:
    return f"BC:24:11:{vmid // 256 % 256:02X}:{vmid % 256:02X}:01"


def _pbx(vmid: int, name: str, node: str, tenant: LabTenant | None, *, type_: str = "qemu",
         extra_tags: tuple[str, ...] = (), pool: str | None = None, use_pool: bool = True,
         disk_storage: str = "ceph-vm", nic_firewall: int = 1) -> LabGuest:
    tags = tuple(t for t in ((tenant.tag if tenant else None), "pbx", *extra_tags) if t)
    nic = (f"virtio={_mac(vmid)},bridge=vmbr0,firewall={nic_firewall}" if type_ == "qemu"
           else f"name=eth0,bridge=vmbr0,firewall={nic_firewall},hwaddr={_mac(vmid)},ip=dhcp,type=veth")
    return LabGuest(vmid=vmid, type=type_, name=name, node=node, tags=tags,
                    pool=pool if pool is not None else (tenant.pool if tenant and use_pool else None),
                    nics=(nic,), description="FreePBX 17" if type_ == "qemu" else "Asterisk 20 (LXC)",
                    disk_storage=disk_storage)


DEMO_NOW_DEFAULT = None  # demo_world(now=None) uses the current time


def _sites() -> tuple[LabSite, ...]:
    return (
        LabSite("mil1", "Milano DC1", "Milano", "IT", "Esempio Datacenter S.p.A.", "Via dell'Esempio 1, 20139 Milano"),
        LabSite("fra1", "Frankfurt DC2", "Frankfurt am Main", "DE", "Beispiel Rechenzentrum GmbH",
                "Beispielstraße 2, 60314 Frankfurt am Main"),
        # The provider's own office: a node there is in the cluster, but it is no datacenter.
        LabSite("mil-office", "Ufficio tecnico Milano", "Milano", "IT", "Esempio Cloud PBX S.r.l.",
                "Via dell'Esempio 10, 20121 Milano", kind="office"),
    )


def _tenants() -> dict[str, LabTenant]:
    return {
        "acme": LabTenant("acme", "ACME Impianti S.r.l.", "it", "t-acme", "acme", 99.95),
        "bellini": LabTenant("bellini", "Studio Legale Bellini", "it", "t-bellini", "bellini", 99.9),
        "conti": LabTenant("conti", "Conti Logistica S.p.A.", "it", "t-conti", "conti", 99.95),
        "delta": LabTenant("delta", "Delta Engineering GmbH", "en", "t-delta", "delta", 99.9),
        "esposito": LabTenant("esposito", "Farmacia Esposito", "it", None, "esposito", 99.5),
        "fontana": LabTenant("fontana", "Fontana & Figli S.n.c.", "it", "t-fontana", None, 99.9),
        "greco": LabTenant("greco", "Greco Assicurazioni S.r.l.", "it", "t-greco", "greco", 99.95),
        "horizon": LabTenant("horizon", "Horizon Travel Ltd", "en", "t-horizon", "horizon", 99.9),
        "ingrosso": LabTenant("ingrosso", "Ingrosso Alimentari Sud S.r.l.", "it", "t-ingrosso", "ingrosso", 99.5),
        "lombardi": LabTenant("lombardi", "Poliambulatorio Lombardi", "it", "t-lombardi", "lombardi", 99.95),
        # These two share one PBX VM: the motivating failure.
        "moretti": LabTenant("moretti", "Moretti Arredamenti S.r.l.", "it", "t-moretti", "moretti", 99.9),
        "nautilus": LabTenant("nautilus", "Nautilus Yachting S.r.l.", "en", "t-nautilus", "nautilus", 99.9),
    }


def _guests(t: Mapping[str, LabTenant]) -> tuple[LabGuest, ...]:
    return (
        _pbx(101, "pbx-acme-01", "pve1", t["acme"]),
        _pbx(102, "pbx-acme-02", "pve3", t["acme"], extra_tags=("standby",)),
        _pbx(103, "pbx-bellini-01", "pve2", t["bellini"]),
        _pbx(104, "pbx-conti-01", "pve1", t["conti"]),
        _pbx(105, "pbx-delta-01", "pve3", t["delta"]),
        _pbx(106, "pbx-esposito-01", "pve2", t["esposito"], type_="lxc", disk_storage="local-zfs", nic_firewall=0),
        _pbx(107, "pbx-fontana-01", "pve1", t["fontana"]),
        _pbx(108, "pbx-greco-01", "pve2", t["greco"]),
        _pbx(109, "pbx-horizon-01", "pve3", t["horizon"], type_="lxc", disk_storage="local-lvm"),
        _pbx(110, "pbx-ingrosso-01", "pve1", t["ingrosso"]),
        _pbx(111, "pbx-lombardi-01", "pve2", t["lombardi"]),
        # One FreePBX for two companies, tagged for both and in neither's pool.
        LabGuest(vmid=120, type="qemu", name="pbx-shared-01", node="pve1",
                 tags=("t-moretti", "t-nautilus", "pbx"), pool=None,
                 nics=(f"virtio={_mac(120)},bridge=vmbr0,firewall=1",),
                 description="FreePBX 16 multi-tenant (legacy)"),
        # Provider infrastructure: belongs to no tenant.
        LabGuest(vmid=900, type="qemu", name="mon-01", node="pve2", tags=("infra",), memory_mb=4096,
                 nics=(f"virtio={_mac(900)},bridge=vmbr0,firewall=1",)),
        LabGuest(vmid=901, type="lxc", name="sbc-edge-01", node="pve3", tags=("infra", "sbc"),
                 nics=(f"name=eth0,bridge=vmbr0,firewall=1,hwaddr={_mac(901)},ip=dhcp,type=veth",)),
        LabGuest(vmid=9000, type="qemu", name="tpl-freepbx17", node="pve1", status="stopped", template=True,
                 tags=("template",)),
    )


def _tokens() -> tuple[LabToken, ...]:
    return (
        LabToken("attest@pve", "evidence", "3f1c2a7e-5b9d-4e8a-9c61-0d2f7b4e8a15", {"/": EVIDENCE_PRIVS}),
        # A token someone scoped too narrowly: it sees two guests and nothing cluster-wide.
        LabToken("attest@pve", "narrow", "9a4e7c21-d3b8-4f06-8e5a-61c7f0b2d493",
                 {"/vms/101": ("VM.Audit",), "/vms/120": ("VM.Audit",)}),
        # Looks complete (PVEAuditor on /) but someone set NoAccess on the shared PBX: VM 120 is
        # silently missing from every list, and /access/permissions at / and /vms looks the same.
        LabToken("attest@pve", "blinkered", "7e22cafa-aec1-446e-bce8-9ac4e04a60f7",
                 {"/": AUDITOR_PRIVS, "/vms/120": ()}),
    )


PBS_KEY_FINGERPRINT = (
    "4f:2a:91:0c:7d:e3:58:b6:a1:09:fe:33:6c:d2:84:17:"
    "5b:e0:c9:72:1a:3d:88:f4:06:bb:e5:20:9c:41:d7:6e"
)
PBS_CERT_FINGERPRINT = (
    "a3:5c:0e:91:2b:7f:d4:68:e1:0a:b9:43:c6:27:5d:f0:"
    "18:8e:3b:a2:74:c9:06:df:51:e8:2c:97:b4:3f:60:0d"
)
PBS_FRA_CERT_FINGERPRINT = (
    "6e:14:b2:d9:80:3c:f5:a7:19:42:0b:ce:65:d8:71:2f:"
    "e4:93:08:5a:b1:c6:7d:20:9f:e3:44:8b:0a:5d:c7:12"
)


def _storages() -> tuple[LabStorage, ...]:
    pbs_common = {"server": "10.20.0.50", "fingerprint": PBS_CERT_FINGERPRINT, "username": "pve@pbs!pbx-cluster-1"}
    return (
        LabStorage("local", "dir", ("backup", "iso", "vztmpl"), False, options={"path": "/var/lib/vz"}),
        LabStorage("ceph-vm", "rbd", ("images", "rootdir"), True, options={"pool": "vm", "krbd": 0}),
        LabStorage("local-zfs", "zfspool", ("images", "rootdir"), False, ("pve1", "pve2", "pve3"),
                   {"pool": "rpool/data", "sparse": 1}),
        LabStorage("local-lvm", "lvmthin", ("images", "rootdir"), False, ("pve3",),
                   {"thinpool": "data", "vgname": "pve"}),
        # PVE keeps the key itself in /etc/pve/priv; storage.cfg (and the API) show its fingerprint.
        LabStorage("pbs-main", "pbs", ("backup",), True,
                   options={**pbs_common, "datastore": "store1", "encryption-key": PBS_KEY_FINGERPRINT,
                            "prune-backups": "keep-all=1"}),
        LabStorage("pbs-weak", "pbs", ("backup",), True, options={**pbs_common, "datastore": "store2"}),
    )


def _ha(pve_major: int) -> tuple[tuple[LabHaPlacement, ...], tuple[LabHaResource, ...], tuple[LabAffinityRule, ...]]:
    placements = (
        LabHaPlacement("pbx-acme", (("pve1", 2), ("pve2", 2), ("pve3", 1)), comment="ACME: Milano first"),
        LabHaPlacement("pbx-default", (("pve1", None), ("pve2", None), ("pve3", None))),
        # esposito's disk is on local ZFS replicated pve2 -> pve1: it may only run where a replica is.
        LabHaPlacement("pbx-esposito", (("pve2", 2), ("pve1", 1))),
        # Someone let fontana fail over to the office node (pve4, site mil-office).
        LabHaPlacement("pbx-fontana", (("pve1", 2), ("pve4", 1))),
        LabHaPlacement("infra", (("pve1", None), ("pve2", None)), strict=False),
    )
    resources = (
        LabHaResource("vm:101", None, "pbx-acme"),
        LabHaResource("vm:102", "started", "pbx-acme", max_restart=2, max_relocate=2),
        LabHaResource("vm:103", "started", "pbx-default"),
        LabHaResource("vm:104", None, "pbx-default"),
        LabHaResource("ct:106", "started", "pbx-esposito"),
        LabHaResource("vm:107", "started", "pbx-fontana"),
        LabHaResource("vm:108", "started", "pbx-default"),
        LabHaResource("ct:109", "started", "pbx-default"),
        LabHaResource("vm:110", "started", "pbx-default"),
        LabHaResource("vm:111", "started", "pbx-default"),
        LabHaResource("vm:120", "started", "pbx-default", comment="legacy multi-tenant"),
        LabHaResource("vm:900", "started", "infra"),
    )
    affinity = (LabAffinityRule("acme-apart", ("vm:101", "vm:102"), "negative", comment="keep ACME's pair apart"),)
    return placements, resources, affinity if pve_major >= 9 else ()


def _backup_jobs() -> tuple[LabBackupJob, ...]:
    return (
        LabBackupJob("backup-daily", "pbs-main", "01:30", all=True, exclude=(103, 110, 111, 9000),
                     prune_backups={"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 3},
                     comment="nightly, all PBX and infra"),
        LabBackupJob("backup-bellini", "pbs-weak", "02:30", vmids=(103,),
                     prune_backups="keep-daily=3,keep-weekly=1", comment="Studio Bellini (separate store)"),
        LabBackupJob("backup-lombardi", "pbs-main", "03:00", enabled=False, vmids=(111,),
                     prune_backups={"keep-daily": 7}, comment="paused during migration"),
    )


_SIP_RTP = (("udp", "5060", "SIP"), ("tcp", "5061", "SIP-TLS"), ("udp", "10000:20000", "RTP"))


def _whitelisted(source: str) -> tuple[LabFwRule, ...]:
    return tuple(LabFwRule("in", "ACCEPT", source=source, proto=p, dport=d, comment=c) for p, d, c in _SIP_RTP)


def _whitelist(*office: str) -> LabIpSet:
    return LabIpSet("whitelist", (
        LabIpSetEntry("185.31.136.0/23", "carrier A SBCs"),
        LabIpSetEntry("62.94.18.0/24", "carrier B SBCs"),
        *(LabIpSetEntry(cidr, "customer office") for cidr in office),
    ), comment="SIP peers allowed in")


def _blacklist() -> LabIpSet:
    return LabIpSet("blacklist", (LabIpSetEntry("45.143.200.0/22", "SIP scanner"),
                                  LabIpSetEntry("193.46.255.0/24", "toll fraud attempts")))


def _standard_pbx_firewall(office: str, *, policy_in: str | None = None) -> LabFirewall:
    """acme's posture: whitelist in, own blacklist dropped, security group, anti-spoofing."""
    options: dict[str, object] = {"enable": 1, "ipfilter": 1}
    if policy_in:
        options["policy_in"] = policy_in
    return LabFirewall(
        options=options,
        rules=(LabFwRule("group", "pbx-base", comment="provider baseline"),
               LabFwRule("in", "DROP", source="+guest/blacklist", comment="tenant blacklist"),
               *_whitelisted("+guest/whitelist"),
               LabFwRule("in", "ACCEPT", source="customer-office", proto="tcp", dport="443",
                         comment="phone provisioning")),
        ipsets=(_whitelist(office), _blacklist()),
        aliases=(LabAlias("customer-office", office, "customer HQ"),),
    )


def _guest_firewalls() -> dict[int, LabFirewall]:
    fw = {vmid: _standard_pbx_firewall(f"93.62.{vmid - 100}.0/28")
          for vmid in (101, 102, 103, 105, 106, 107, 108, 109)}
    # conti: no blacklist of its own (the cluster's applies to every firewalled guest anyway).
    fw[104] = LabFirewall(options={"enable": 1, "ipfilter": 1, "policy_in": "DROP"},
                          rules=(LabFwRule("group", "pbx-base"), *_whitelisted("+whitelist")),
                          ipsets=(_whitelist("93.62.4.0/28"),))
    # delta: a full rule set, but the guest firewall is switched off.
    fw[105] = LabFirewall(options={**fw[105].options, "enable": 0}, rules=fw[105].rules, ipsets=fw[105].ipsets,
                          aliases=fw[105].aliases)
    # horizon: SIP-TLS open to anyone (the provider approved it in its config).
    h = fw[109]
    fw[109] = LabFirewall(options=h.options, ipsets=h.ipsets, aliases=h.aliases, rules=tuple(
        LabFwRule("in", "ACCEPT", proto="tcp", dport="5061", comment="SIP-TLS for mobile apps")
        if r.dport == "5061" else r for r in h.rules))
    # ingrosso: only the provider's security group, nothing of its own.
    fw[110] = LabFirewall(options={"enable": 1, "ipfilter": 1}, rules=(LabFwRule("group", "pbx-base"),))
    # lombardi: SIP from a literal CIDR, no blacklist, no anti-spoofing.
    fw[111] = LabFirewall(options={"enable": 1, "ipfilter": 0}, rules=(
        LabFwRule("in", "ACCEPT", source="212.45.100.0/24", proto="udp", dport="5060", comment="SIP trunk"),
        LabFwRule("in", "ACCEPT", source="212.45.100.0/24", proto="udp", dport="10000:20000", comment="RTP")))
    # The shared legacy PBX: SIP open to the world.
    fw[120] = LabFirewall(options={"enable": 1, "ipfilter": 1}, rules=(
        LabFwRule("group", "pbx-base"),
        LabFwRule("in", "ACCEPT", proto="udp", dport="5060", comment="SIP (legacy, open)"),
        LabFwRule("in", "ACCEPT", source="+whitelist", proto="udp", dport="10000:20000", comment="RTP")),
        ipsets=(_whitelist("93.62.20.0/28"),))
    fw[900] = LabFirewall(options={"enable": 1, "policy_in": "DROP"}, rules=(
        LabFwRule("in", "ACCEPT", source="noc", proto="tcp", dport="443", comment="monitoring UI"),
        LabFwRule("in", "ACCEPT", source="+dc/management", macro="SSH")))
    fw[901] = LabFirewall(options={"enable": 1, "ipfilter": 1}, rules=(
        LabFwRule("in", "ACCEPT", source="+dc/sip-trunks", proto="udp", dport="5060"),
        LabFwRule("in", "ACCEPT", source="+dc/sip-trunks", proto="udp", dport="10000:20000")))
    return fw


def _cluster_firewall() -> tuple[LabFirewall, tuple[LabSecurityGroup, ...]]:
    cluster = LabFirewall(
        options={"enable": 1, "policy_in": "DROP", "policy_out": "ACCEPT",
                 "log_ratelimit": "enable=1,burst=5,rate=1/second"},
        rules=(LabFwRule("in", "ACCEPT", source="+dc/management", proto="tcp", dport="8006", comment="PVE GUI"),
               LabFwRule("in", "ACCEPT", source="+dc/management", macro="SSH")),
        ipsets=(
            LabIpSet("blacklist", (LabIpSetEntry("45.143.200.0/22", "SIP scanner"),
                                   LabIpSetEntry("193.46.255.0/24", "toll fraud"),
                                   LabIpSetEntry("89.248.160.0/21", "mass scanner"),
                                   LabIpSetEntry("89.248.165.0/24", "research scanner we allow", nomatch=True)),
                     comment="dropped by every firewalled host and guest"),
            LabIpSet("management", (LabIpSetEntry("10.20.0.0/24", "admin LAN"),)),
            LabIpSet("sip-trunks", (LabIpSetEntry("185.31.136.0/23", "carrier A"),
                                    LabIpSetEntry("62.94.18.0/24", "carrier B"))),
        ),
        aliases=(LabAlias("noc", "10.20.9.0/24", "NOC"), LabAlias("carrier-a", "185.31.136.0/23")),
    )
    groups = (LabSecurityGroup("pbx-base", (
        LabFwRule("in", "ACCEPT", macro="Ping", comment="ICMP echo"),
        LabFwRule("in", "ACCEPT", source="+dc/management", macro="SSH", comment="admin"),
        LabFwRule("in", "ACCEPT", source="noc", proto="tcp", dport="443", comment="NOC web access"),
    ), comment="baseline for every PBX"),)
    return cluster, groups


def _pbs() -> LabPbs:
    return LabPbs(
        name="pbs-mil1", site="mil1", version="4.0", release="18", repoid="f1e3c0a87d5b2946",
        datastores=(
            LabPbsDatastore("store1", "/mnt/datastore/store1", "PBX backups (encrypted)", verify_new=True),
            LabPbsDatastore("store2", "/mnt/datastore/store2", "legacy store", failing_for_s=3 * 86400),
        ),
        jobs=(
            LabPbsJob("verify", "verify-store1", "store1", "sun 04:00",
                      {"ignore-verified": True, "outdated-after": 30}),
            LabPbsJob("verify", "verify-store2", "store2", "04:00", {"ignore-verified": True},
                      last_run_state="verification failed - please check the log for details"),
            LabPbsJob("prune", "prune-store1", "store1", "05:00",
                      {"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 3}),
            # Push: this PBS sends store1 to the Frankfurt PBS (see README: how push jobs show).
            LabPbsJob("sync", "push-store1-fra", "store1", "06:00",
                      {"remote": "pbs-fra", "remote-store": "store1-replica", "sync-direction": "push",
                       "remove-vanished": True, "owner": "root@pam"}),
        ),
        remotes=(LabPbsRemote("pbs-fra", "10.30.0.50", "sync-push@pbs!pbs-mil1", PBS_FRA_CERT_FINGERPRINT,
                              site="fra1", port=8007, comment="Frankfurt offsite copy"),),
        tokens=(
            LabToken("attest@pbs", "evidence", "b7d04c2e-91f3-4a6d-8e25-3c0f9a1b6d47", {"/": PBS_AUDIT_PRIVS}),
            LabToken("attest@pbs", "store1-only", "e5a9f1c3-0b7d-4e28-a6c4-9d3f2b8e1a05",
                     {"/datastore/store1": ("Datastore.Audit",)}),
        ),
    )


def demo_world(*, pve_major: int = 9, now: int | float | None = None,
               offline_nodes: tuple[str, ...] = ()) -> LabWorld:
    """The demo provider. `pve_major` 9 (HA rules, fencing) or 8 (HA groups); `now` defaults to
    the current time; `offline_nodes` answer 595 and show offline."""
    if pve_major not in (8, 9):
        raise ValueError(f"pve_major must be 8 or 9, not {pve_major}")
    t = _tenants()
    placements, resources, affinity = _ha(pve_major)
    cluster_fw, groups = _cluster_firewall()
    version, release = ("9.1.2", "9.1") if pve_major == 9 else ("8.4.1", "8.4")
    return LabWorld(
        cluster_name="pbx-cluster-1", pve_version=version, pve_release=release, repoid="39d8a4de7dfb2c40",
        sites=_sites(),
        nodes=(LabNode("pve1", 1, "10.20.0.11", "mil1"), LabNode("pve2", 2, "10.20.0.12", "mil1"),
               LabNode("pve3", 3, "10.20.0.13", "fra1"), LabNode("pve4", 4, "10.20.0.14", "mil-office")),
        tenants=tuple(t.values()), guests=_guests(t), tokens=_tokens(),
        now=int(time.time() if now is None else now),
        storages=_storages(),
        replications=(LabReplication(106, "pve1", comment="esposito: local ZFS, HA partner pve1"),),
        ha_placements=placements, ha_resources=resources, ha_affinity=affinity,
        backup_jobs=_backup_jobs(),
        backup_failures={108: LabBackupFailure(3, "VM 108 qmp command 'backup' failed - got timeout")},
        cluster_firewall=cluster_fw, security_groups=groups, guest_firewalls=_guest_firewalls(),
        node_firewall_options={"enable": 1, "log_level_in": "nolog", "log_level_out": "nolog",
                               "nf_conntrack_helpers": "sip"},
        offline_nodes=tuple(offline_nodes),
        pbs=_pbs(),
        protected_snapshots=(101,),
    )


def big_world(nodes: int = 50, guests: int = 5000, *, now: int | float | None = None,
              history_days: int = 45) -> LabWorld:
    """The benchmark world (see `attest.lab.big`); here too so both worlds import from one place."""
    from attest.lab.big import big_world as build  # big builds on this module

    return build(nodes, guests, now=now, history_days=history_days)
