"""Duty "cluster_ha": the customer's PBX survives the loss of a node (HA-01).

Also home of `ha_nodes`, where HA may run a guest, which the datacenter duty reuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attest.attestation import LocalizedText
from attest.config import TenantConfig
from attest.controls.findings import Findings, text
from attest.controls.instances import (
    DATASTORE_AUDIT,
    SYS_AUDIT,
    Instance,
    SourceView,
    TenantView,
    insufficient,
    no_instance,
    tenant_view,
)
from attest.controls.tables import INSTANCE, NONE, Table, mark
from attest.engine import CheckContext, CheckOutcome, EvidenceGap, Snapshot

SECTIONS = ("cluster", "ha", "storage")
# HA does not move a resource in these requested states: it stays where it is.
_NOT_RELOCATED = {"disabled", "ignored"}


@dataclass
class HaNodes:
    """Where HA may run one guest: a set of nodes, or any node of the cluster."""

    nodes: set[str]
    anywhere: bool
    how: LocalizedText  # why, for the facts


def cluster_nodes(snap: Snapshot) -> list[dict[str, Any]]:
    cluster = snap.one("proxmox.cluster")
    return list((cluster.payload.get("nodes") or []) if cluster else [])


def ha_resource(snap: Snapshot, instance: Instance) -> dict[str, Any] | None:
    rec = snap.record("proxmox.ha_resource", instance.subject + "/ha")
    return rec.payload if rec else None


def ha_nodes(snap: Snapshot, instance: Instance) -> HaNodes:
    """The nodes HA may run *instance* on, besides the one it runs on: from its PVE 8 group
    (restricted = only those nodes) or its PVE 9 node-affinity rules (strict = only those nodes).
    Without a restriction HA may place it on any cluster node."""
    every = {str(n.get("name")) for n in cluster_nodes(snap)}
    res = ha_resource(snap, instance)
    if res is None:
        return HaNodes({instance.node}, False, text("not HA-managed: it stays on its node",
                                                    "non gestita in HA: resta sul suo nodo"))
    if str(res.get("state")) in _NOT_RELOCATED:
        return HaNodes({instance.node}, False, text(f"HA state {res.get('state')}: HA does not move it",
                                                    f"stato HA {res.get('state')}: l'HA non la sposta"))
    group = res.get("group_def")
    if group is not None:
        names = {str(n.get("node")) for n in group.get("nodes") or []}
        if group.get("restricted"):
            return HaNodes(names | {instance.node}, False,
                           text(f"restricted HA group {res.get('group')}", f"gruppo HA ristretto {res.get('group')}"))
        return HaNodes(every | {instance.node}, True,
                       text(f"unrestricted HA group {res.get('group')}: any node",
                            f"gruppo HA non ristretto {res.get('group')}: qualsiasi nodo"))
    rules = [r for r in res.get("rules") or [] if r.get("type") == "node-affinity" and not r.get("disable")]
    if rules and all(r.get("strict") for r in rules):
        names = set.intersection(*({str(n.get("node")) for n in r.get("nodes") or []} for r in rules))
        label = ", ".join(str(r.get("rule")) for r in rules)
        return HaNodes(names | {instance.node}, False, text(f"strict node-affinity rule {label}",
                                                            f"regola di affinità stretta {label}"))
    why = ("non-strict node-affinity rule: any node" if rules else "no HA group or node rule: any node",
           "regola di affinità non stretta: qualsiasi nodo" if rules else "nessun gruppo o regola HA: qualsiasi nodo")
    return HaNodes(every | {instance.node}, True, text(*why))


def ha_subjects(snap: Snapshot, instances: list[Instance]) -> set[str]:
    """Nodes HA may move the tenant's guests to: a failure on any of them matters to the tenant."""
    return {f"{snap.source_id}/node/{n}" for i in instances for n in ha_nodes(snap, i).nodes}


# --- HA-01 ---------------------------------------------------------------------------------------


def ha_protected(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = tenant_view(ctx, tenant, SECTIONS, (*SYS_AUDIT, *DATASTORE_AUDIT), ha_subjects)
    if isinstance(view, EvidenceGap):
        return insufficient(view.reason)
    if not view.instances:
        return no_instance(view)
    f = Findings(used=list(view.used))
    tables = HaTables(f)
    for source in view.sources:
        if source.instances:
            _cluster(f, tables, source, params)
    for source, instance in view.instances:
        _instance(f, tables, source, instance, params)
    return _outcome(f, view)


class HaTables:
    """HA-01's tables: the cluster, each instance's HA state and nodes, each disk's storage."""

    def __init__(self, f: Findings) -> None:
        self.cluster = f.table("Cluster and HA manager", "Cluster e gestore HA", ("Cluster", "Cluster"),
                               ("Quorum", "Quorum"), ("Quorum votes", "Voti di quorum"), ("HA master", "Master HA"),
                               ("Fencing", "Fencing"))
        self.instances = f.table("High availability of each instance", "Alta affidabilità di ciascuna istanza",
                                 INSTANCE, ("HA state (effective)", "Stato HA (effettivo)"),
                                 ("Service state", "Stato del servizio"), ("Runs on", "Gira su"),
                                 ("Nodes it may run on", "Nodi su cui può girare"), ("Rule", "Regola"))
        self.disks = f.table("Disks and their storage", "Dischi e relativo storage", INSTANCE,
                             ("Disk", "Disco"), ("Storage", "Storage"), ("Shared storage", "Storage condiviso"),
                             ("Replicated to", "Replicato su"))


def _outcome(f: Findings, view: TenantView) -> CheckOutcome:
    n = len(view.instances)
    return f.outcome(text(
        f"The cluster is quorate with its HA manager active, and each of this customer's {n} instance(s) is "
        "HA-managed, running, with more than one node to fail over to and its disks on shared or replicated storage.",
        f"Il cluster ha il quorum e il gestore HA è attivo; ciascuna delle {n} istanze di questo cliente è gestita "
        "in HA, in esecuzione, con più di un nodo su cui ripartire e dischi su storage condiviso o replicato."))


def _votes(cluster: dict[str, Any]) -> int | None:
    if cluster.get("quorum_votes_total") is not None:
        return int(cluster["quorum_votes_total"])
    votes = [n.get("votes") for n in cluster.get("nodes") or []]
    return sum(int(v) for v in votes) if votes and all(v is not None for v in votes) else None


def _cluster(f: Findings, tables: HaTables, source: SourceView, params: dict[str, Any]) -> None:
    """The cluster-wide part: quorum, votes, HA manager, fencing."""
    snap = source.snap
    cluster_rec, status_rec = snap.one("proxmox.cluster"), snap.one("proxmox.ha_status")
    f.cite(cluster_rec, status_rec)
    if cluster_rec is None or status_rec is None:
        f.gap(f"The collection from {snap.source_id} lacks the cluster or HA status record.",
              f"La raccolta da {snap.source_id} non contiene lo stato del cluster o dell'HA.")
        return
    cluster, status = cluster_rec.payload, status_rec.payload
    if cluster.get("cluster") is None:
        f.problem(f"{snap.source_id} is a single server, not a cluster: nothing can take over if it fails.",
                  f"{snap.source_id} è un server singolo, non un cluster: nessuno può subentrare se si guasta.")
        return
    name = cluster["cluster"].get("name")
    quorate = bool(cluster["cluster"].get("quorate")) and bool((status.get("quorum") or {}).get("quorate"))
    master = status.get("master") or {}
    tables.cluster.add(name, mark(quorate), _votes(cluster),
                       f"{master.get('node')} ({master.get('status')})" if master else None,
                       (status.get("fencing") or {}).get("armed_state"))
    if not quorate:
        f.problem(f"Cluster {name} had no quorum when collected.", f"Il cluster {name} non aveva il quorum.")
    votes, need = _votes(cluster), int(params["min_votes"])
    if votes is None:
        f.gap(f"The number of quorum votes of cluster {name} was not reported.",
              f"Il numero di voti di quorum del cluster {name} non è stato riportato.")
    elif votes < need:
        f.problem(f"Cluster {name} has {votes} quorum vote(s); at least {need} are required to survive a node loss.",
                  f"Il cluster {name} ha {votes} voti di quorum; ne servono almeno {need} per reggere la perdita "
                  "di un nodo.")
    else:
        f.fact(f"Cluster {name}: quorate, {votes} quorum votes.", f"Cluster {name}: quorum presente, {votes} voti.")
    _manager(f, name, status)


def _manager(f: Findings, name: str, status: dict[str, Any]) -> None:
    master = status.get("master")
    if not master or not master.get("active"):
        f.problem(f"The HA manager of cluster {name} has no active master: no failover would happen.",
                  f"Il gestore HA del cluster {name} non ha un master attivo: nessun failover avverrebbe.")
    fencing = status.get("fencing")  # null: this PVE version does not report it, which is no failure
    if fencing is not None and fencing.get("armed_state") not in (None, "armed"):
        f.problem(f"HA fencing on cluster {name} is {fencing.get('armed_state')}: no automatic recovery takes place.",
                  f"Il fencing HA del cluster {name} è {fencing.get('armed_state')}: nessun ripristino automatico.")


def _instance(f: Findings, tables: HaTables, source: SourceView, instance: Instance, params: dict[str, Any]) -> None:
    snap, label = source.snap, instance.label()
    res_rec = source.guest_record("proxmox.ha_resource", instance, "/ha")
    f.cite(res_rec)
    _disks(f, tables.disks, source, instance)
    if res_rec is None:
        tables.instances.add(label, None, None, instance.node, _node_states(snap, {instance.node}), None)
        f.problem(f"{label} is not managed by HA: if its node fails it is not restarted elsewhere.",
                  f"{label} non è gestita dall'HA: se il suo nodo si guasta non viene riavviata altrove.")
        return
    res = res_rec.payload
    state = str(res.get("state") or "started")
    service = res.get("service") or {}
    placement = ha_nodes(snap, instance)
    rule = res.get("group") or ", ".join(str(r.get("rule")) for r in res.get("rules") or []) or None
    tables.instances.add(label, state, service.get("state"), service.get("node") or instance.node,
                         _node_states(snap, placement.nodes), rule)
    if state != "started":
        f.problem(f"{label} is HA-managed with requested state '{state}', not 'started'.",
                  f"{label} è gestita in HA con stato richiesto '{state}', non 'started'.")
    elif service.get("state") != "started":
        f.problem(f"The HA manager reports {label} as '{service.get('state') or 'unknown'}', not started.",
                  f"Il gestore HA riporta {label} come '{service.get('state') or 'sconosciuto'}', non avviata.")
    _failover_nodes(f, snap, instance, int(params["min_nodes"]))


def _lrm(snap: Snapshot) -> dict[str, Any]:
    status_rec = snap.one("proxmox.ha_status")
    return dict((status_rec.payload.get("lrm") or {}) if status_rec else {})


def _node_states(snap: Snapshot, nodes: set[str]) -> str:
    """"pve1 (online), pve2 (maintenance)": each node and whether HA could use it."""
    online = {str(n.get("name")) for n in cluster_nodes(snap) if n.get("online")}
    lrm = _lrm(snap)

    def state(node: str) -> str:
        if node not in online:
            return "offline"
        return "maintenance" if (lrm.get(node) or {}).get("mode") == "maintenance" else "online"

    return ", ".join(f"{n} ({state(n)})" for n in sorted(nodes)) or NONE


def _failover_nodes(f: Findings, snap: Snapshot, instance: Instance, need: int) -> None:
    lrm = _lrm(snap)
    placement = ha_nodes(snap, instance)
    online = {str(n.get("name")) for n in cluster_nodes(snap) if n.get("online")}
    usable = sorted(n for n in placement.nodes
                    if n in online and (lrm.get(n) or {}).get("mode") != "maintenance")
    label = instance.label()
    where = ", ".join(usable) or "none"
    if len(usable) < need:
        f.problem(f"{label} can run on {len(usable)} online node(s) ({where}; {placement.how['en']}); at least "
                  f"{need} are required.",
                  f"{label} può girare su {len(usable)} nodi online ({where}; {placement.how['it']}); ne servono "
                  f"almeno {need}.")
    else:
        f.fact(f"{label} runs on {instance.node} and may fail over among {where} ({placement.how['en']}).",
               f"{label} gira su {instance.node} e può ripartire su {where} ({placement.how['it']}).")


def _disks(f: Findings, t: Table, source: SourceView, instance: Instance) -> None:
    storages = {str(r.payload.get("storage")): r for r in source.provider("proxmox.storage")}
    replicated = [r for r in source.snap.under("proxmox.replication", instance.subject + "/replication/")
                  if not r.payload.get("disable")]
    f.cite(*replicated)
    label = instance.label()
    for disk, spec in sorted((instance.guest.get("disks") or {}).items()):
        storage = str((spec or {}).get("storage") or "")
        rec = storages.get(storage)
        f.cite(rec)
        targets = ", ".join(sorted({str(r.payload.get("target")) for r in replicated})) or None
        t.add(instance.label(), disk, storage, mark(rec.payload.get("shared")) if rec else None, targets)
        if rec is None:
            f.gap(f"Storage {storage} of {label} ({disk}) has no record in the evidence.",
                  f"Lo storage {storage} di {label} ({disk}) non ha un record nelle evidenze.")
        elif not rec.payload.get("shared") and not replicated:
            f.problem(f"Disk {disk} of {label} is on local storage {storage} and not replicated: another node "
                      "could not start it.",
                      f"Il disco {disk} di {label} è sullo storage locale {storage} e non è replicato: un altro nodo "
                      "non potrebbe avviarla.")
