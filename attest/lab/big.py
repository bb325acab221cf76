"""A large, realistic world for benchmarks: `big_world(nodes=50, guests=5000)`.

Three datacenter sites, nodes spread over them, two guests per tenant (a pool and a tag each),
every guest HA-managed under a per-site node-affinity rule, two guest IP sets each, backed up
nightly by a few vzdump jobs to two PBS storages, with 45 days of task history. Deterministic for
a given (nodes, guests, now).
"""

from __future__ import annotations

import time

from attest.lab.world import (
    EVIDENCE_PRIVS,
    LabBackupJob,
    LabFirewall,
    LabFwRule,
    LabGuest,
    LabHaPlacement,
    LabHaResource,
    LabIpSet,
    LabIpSetEntry,
    LabNode,
    LabSite,
    LabStorage,
    LabTenant,
    LabToken,
    LabWorld,
    demo_world,
)

_SITES = (
    LabSite("mil1", "Milano DC1", "Milano", "IT", "Esempio Datacenter S.p.A.", "Via dell'Esempio 1, 20139 Milano"),
    LabSite("mil2", "Milano DC2", "Settimo Milanese", "IT", "Esempio Datacenter S.p.A.",
            "Via dell'Esempio 2, 20019 Settimo Milanese"),
    LabSite("fra1", "Frankfurt DC2", "Frankfurt am Main", "DE", "Beispiel Rechenzentrum GmbH",
            "Beispielstraße 2, 60314 Frankfurt am Main"),
)


def _guest_firewall(vmid: int) -> LabFirewall:
    office = f"93.{62 + vmid // 65536 % 100}.{vmid // 256 % 256}.{vmid % 256 // 16 * 16}/28"
    return LabFirewall(
        options={"enable": 1, "ipfilter": 1},
        rules=(LabFwRule("group", "pbx-base"),
               LabFwRule("in", "DROP", source="+guest/blacklist"),
               LabFwRule("in", "ACCEPT", source="+guest/whitelist", proto="udp", dport="5060"),
               LabFwRule("in", "ACCEPT", source="+guest/whitelist", proto="udp", dport="10000:20000")),
        ipsets=(LabIpSet("whitelist", (LabIpSetEntry("185.31.136.0/23", "carrier A"), LabIpSetEntry(office))),
                LabIpSet("blacklist", (LabIpSetEntry("45.143.200.0/22"),))),
    )


def big_world(nodes: int = 50, guests: int = 5000, *, now: int | float | None = None,
              history_days: int = 45) -> LabWorld:
    base = demo_world(now=now if now is not None else time.time())
    node_list = tuple(LabNode(f"pve{i + 1}", i + 1, f"10.20.{i // 200}.{i % 200 + 11}", _SITES[i % 3].id)
                      for i in range(nodes))
    tenant_count = max(1, guests // 2)
    tenants = tuple(LabTenant(f"t{i:05d}", f"Cliente {i:05d} S.r.l.", "it", f"t-{i:05d}", f"t{i:05d}", 99.9)
                    for i in range(tenant_count))
    guest_list = []
    for i in range(guests):
        vmid, tenant, node = 1000 + i, tenants[i // 2 % tenant_count], node_list[i % nodes]
        kind = "lxc" if i % 5 == 4 else "qemu"
        nic = (f"virtio=BC:24:11:{vmid // 256 % 256:02X}:{vmid % 256:02X}:01,bridge=vmbr0,firewall=1"
               if kind == "qemu" else
               f"name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:{vmid // 256 % 256:02X}:{vmid % 256:02X}:01,"
               "ip=dhcp,type=veth")
        guest_list.append(LabGuest(vmid, kind, f"pbx-{tenant.id}-{i % 2 + 1:02d}", node.name,
                                   tags=(str(tenant.tag), "pbx"), pool=tenant.pool, nics=(nic,),
                                   description="FreePBX 17"))
    placements = tuple(LabHaPlacement(f"site-{s.id}", tuple((n.name, None) for n in node_list if n.site == s.id))
                       for s in _SITES)
    site_of = {n.name: n.site for n in node_list}
    resources = tuple(LabHaResource(f"{'vm' if g.type == 'qemu' else 'ct'}:{g.vmid}", None,
                                    f"site-{site_of[g.node]}") for g in guest_list)
    storages = tuple(s for s in base.storages if s.id in ("local", "ceph-vm", "pbs-main", "pbs-weak"))
    storages = tuple(LabStorage(s.id, s.type, s.content, s.shared, None, s.options) for s in storages)
    third = guests // 3
    jobs = (
        LabBackupJob("backup-a", "pbs-main", "01:00", vmids=tuple(range(1000, 1000 + third)),
                     prune_backups={"keep-daily": 7, "keep-weekly": 2}),
        LabBackupJob("backup-b", "pbs-main", "02:00", vmids=tuple(range(1000 + third, 1000 + 2 * third)),
                     prune_backups={"keep-daily": 7, "keep-weekly": 2}),
        LabBackupJob("backup-c", "pbs-weak", "03:00", vmids=tuple(range(1000 + 2 * third, 1000 + guests)),
                     prune_backups="keep-daily=7,keep-weekly=2"),
    )
    return LabWorld(
        cluster_name="pbx-cluster-big", pve_version=base.pve_version, pve_release=base.pve_release,
        repoid=base.repoid, sites=_SITES, nodes=node_list, tenants=tenants, guests=tuple(guest_list),
        tokens=(LabToken("attest@pve", "evidence", "3f1c2a7e-5b9d-4e8a-9c61-0d2f7b4e8a15", {"/": EVIDENCE_PRIVS}),),
        now=base.now, storages=storages, ha_placements=placements, ha_resources=resources,
        backup_jobs=jobs, history_days=history_days,
        cluster_firewall=base.cluster_firewall, security_groups=base.security_groups,
        guest_firewalls={g.vmid: _guest_firewall(g.vmid) for g in guest_list},
        node_firewall_options=base.node_firewall_options, pbs=base.pbs,
    )
