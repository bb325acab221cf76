"""PVE endpoints about the cluster itself: corosync nodes, HA, storage configuration, replication.

HA has two shapes, chosen by the world's PVE major version, from one placement definition:
* PVE 9: /cluster/ha/rules lists node-affinity (and resource-affinity) rules, /cluster/ha/groups
  answers [] (groups were migrated to rules), resources carry no `group`, and
  /cluster/ha/status/current has a `fencing` entry with `armed-state`;
* PVE 8: /cluster/ha/groups lists groups (`nodes` "pve1:2,pve2:1", `restricted`), resources
  carry `group`, /cluster/ha/rules does not exist (501), and there is no fencing entry.
"""

from __future__ import annotations

import time
from typing import Any

from attest.lab.pve_context import PveContext
from attest.lab.wire import ApiError, Param, Request, Route, file_digest
from attest.lab.world import LabHaPlacement, LabHaResource, LabStorage


def _nodes_string(p: LabHaPlacement) -> str:
    return ",".join(n if prio is None else f"{n}:{prio}" for n, prio in p.nodes)


def _ha_time(t: int) -> str:
    # pve-ha-manager prints localtime(); the lab's nodes run in UTC.
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(t))


class ClusterEndpoints:
    def __init__(self, ctx: PveContext) -> None:
        self.ctx = ctx
        w = ctx.world
        self._placements = {p.name: p for p in w.ha_placements}
        self._ha_digest = file_digest((w.ha_resources, w.ha_placements, w.ha_affinity))
        self._storage_digest = file_digest(tuple(ctx.storages.values()))

    def routes(self) -> list[Route]:
        rules_params = {"type": Param(enum=("node-affinity", "resource-affinity")), "resource": Param()}
        routes = [
            Route("/cluster/config/nodes", self._config_nodes),
            Route("/cluster/ha/resources", self._ha_resources, {"type": Param(enum=("ct", "vm"))}),
            Route("/cluster/ha/resources/{sid}", self._ha_resource),
            Route("/cluster/ha/groups", self._ha_groups),
            Route("/cluster/ha/groups/{group}", self._ha_group),
            Route("/cluster/ha/status/current", self._ha_status),
            Route("/storage", self._storage_index, {"type": Param()}),
            Route("/storage/{storage}", self._storage_config),
            Route("/cluster/replication", self._replication),
            Route("/nodes/{node}/replication", self._node_replication, {"guest": Param()}),
        ]
        if self.ctx.world.pve_major >= 9:  # PVE 8 has no rules: the path is unknown there (501)
            routes += [Route("/cluster/ha/rules", self._ha_rules, rules_params),
                       Route("/cluster/ha/rules/{rule}", self._ha_rule)]
        return routes

    # -- corosync --

    def _config_nodes(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        # Parsed from corosync.conf, so every value is a string, numbers included.
        return [{"name": n.name, "node": n.name, "nodeid": str(n.nodeid), "quorum_votes": str(n.quorum_votes),
                 "ring0_addr": n.ip} for n in sorted(self.ctx.world.nodes, key=lambda n: n.name)]

    # -- HA --

    def _ha_entry(self, r: LabHaResource) -> dict[str, Any]:
        entry: dict[str, Any] = {"sid": r.sid, "type": r.sid.split(":")[0], "digest": self._ha_digest}
        if r.state is not None:
            entry["state"] = r.state
        if r.placement and self.ctx.world.pve_major < 9:
            entry["group"] = r.placement
        for key, value in (("max_restart", r.max_restart), ("max_relocate", r.max_relocate),
                           ("comment", r.comment)):
            if value is not None:
                entry[key] = value
        return entry

    def _ha_resources(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        kind = req.query.get("type")
        return [self._ha_entry(r) for r in self.ctx.world.ha_resources if kind in (None, r.sid.split(":")[0])]

    def _ha_resource(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        sid = req.path_params["sid"]
        if sid.isdigit():  # PVE accepts a bare VMID for vm:/ct:
            guest = self.ctx.guests.get(int(sid))
            sid = self.ctx.ha_sid(guest) if guest else f"vm:{sid}"
        found = next((r for r in self.ctx.world.ha_resources if r.sid == sid), None)
        if found is None:
            raise ApiError(500, f"no such resource '{sid}'")
        return self._ha_entry(found)

    def _group_entry(self, p: LabHaPlacement) -> dict[str, Any]:
        entry: dict[str, Any] = {"group": p.name, "type": "group", "nodes": _nodes_string(p), "digest": self._ha_digest}
        if p.strict:
            entry["restricted"] = 1
        if p.comment:
            entry["comment"] = p.comment
        return entry

    def _ha_groups(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        if self.ctx.world.pve_major >= 9:
            return []  # migrated to rules on upgrade
        return [self._group_entry(p) for p in self.ctx.world.ha_placements]

    def _ha_group(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        p = self._placements.get(req.path_params["group"])
        if p is None or self.ctx.world.pve_major >= 9:
            raise ApiError(500, f"no such ha group '{req.path_params['group']}'")
        return self._group_entry(p)

    def _rules(self) -> list[dict[str, Any]]:
        w = self.ctx.world
        out: list[dict[str, Any]] = []
        for p in w.ha_placements:
            sids = [r.sid for r in w.ha_resources if r.placement == p.name]
            entry: dict[str, Any] = {"rule": p.name, "type": "node-affinity", "resources": ",".join(sids),
                                     "nodes": _nodes_string(p)}
            if p.strict:
                entry["strict"] = 1
            if p.comment:
                entry["comment"] = p.comment
            out.append(entry)
        for a in w.ha_affinity:
            entry = {"rule": a.name, "type": "resource-affinity", "resources": ",".join(a.resources),
                     "affinity": a.affinity}
            if a.comment:
                entry["comment"] = a.comment
            out.append(entry)
        return [e | {"order": i + 1, "digest": self._ha_digest} for i, e in enumerate(out)]

    def _ha_rules(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        kind, resource = req.query.get("type"), req.query.get("resource")
        return [r for r in self._rules() if kind in (None, r["type"])
                and (resource is None or resource in str(r["resources"]).split(","))]

    def _ha_rule(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        found = next((r for r in self._rules() if r["rule"] == req.path_params["rule"]), None)
        if found is None:
            raise ApiError(500, f"HA rule '{req.path_params['rule']}' does not exist")
        return found

    def _ha_status(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        w, now = self.ctx.world, self.ctx.world.now
        online = [n.name for n in w.nodes if self.ctx.online(n.name)]
        master = online[1] if len(online) > 1 else online[0]
        entries: list[dict[str, Any]] = [
            {"id": "quorum", "type": "quorum", "node": online[0], "status": "OK", "quorate": 1},
            {"id": "master", "type": "master", "node": master, "timestamp": now - 4,
             "status": f"{master} ({'active'}, {_ha_time(now - 4)})"},
        ]
        if w.pve_major >= 9:
            entries.append({"id": "fencing", "type": "fencing", "node": master, "armed-state": "armed",
                            "status": "armed (CRM watchdog active)"})
        entries += [self._lrm_entry(n.name) for n in w.nodes]
        entries += [self._service_entry(r) for r in sorted(w.ha_resources, key=lambda r: r.sid)]
        return entries

    def _lrm_entry(self, node: str) -> dict[str, Any]:
        now = self.ctx.world.now
        if not self.ctx.online(node):
            stamp = now - 3 * 3600
            text = f"{node} (old timestamp - dead?, {_ha_time(stamp)})"
        else:
            stamp = now - 2
            active = any(self.ctx.guests[r.vmid].node == node for r in self.ctx.world.ha_resources
                         if r.vmid in self.ctx.guests)
            mode = ("active, watchdog active" if active else "idle, watchdog standby") \
                if self.ctx.world.pve_major >= 9 else ("active" if active else "idle")
            text = f"{node} ({mode}, {_ha_time(stamp)})"
        return {"id": f"lrm:{node}", "type": "lrm", "node": node, "timestamp": stamp, "status": text}

    def _service_entry(self, r: LabHaResource) -> dict[str, Any]:
        guest = self.ctx.guests.get(r.vmid)
        node = guest.node if guest else ""
        requested = "started" if r.state in (None, "enabled") else r.state
        crm = {"started": "started", "stopped": "stopped", "disabled": "stopped", "ignored": "ignored"}[requested]
        entry: dict[str, Any] = {"id": f"service:{r.sid}", "type": "service", "sid": r.sid, "node": node,
                                 "crm_state": crm, "state": crm, "request_state": requested,
                                 "status": f"{r.sid} ({node}, {crm})",
                                 "max_restart": r.max_restart if r.max_restart is not None else 1,
                                 "max_relocate": r.max_relocate if r.max_relocate is not None else 1}
        if self.ctx.world.pve_major >= 9:
            entry["failback"] = 1
        elif r.placement:
            entry["group"] = r.placement
        if r.comment:
            entry["comment"] = r.comment
        return entry

    # -- storage --

    def storage_entry(self, s: LabStorage) -> dict[str, Any]:
        entry: dict[str, Any] = {"storage": s.id, "type": s.type, "content": ",".join(s.content),
                                 "digest": self._storage_digest, **s.options}
        if s.shared and s.type in ("rbd", "pbs", "nfs", "cifs", "cephfs"):
            entry["shared"] = 1  # PVE marks storage types that are always shared
        if s.nodes is not None:
            entry["nodes"] = ",".join(s.nodes)
        return dict(sorted(entry.items()))

    def _storage_index(self, req: Request) -> object:
        kind = req.query.get("type")
        return [self.storage_entry(s) for s in self.ctx.storages.values() if kind in (None, s.type)
                and self.ctx.perms.privileges(req.token, f"/storage/{s.id}")
                & {"Datastore.Audit", "Datastore.AllocateSpace"}]

    def _storage_config(self, req: Request) -> object:
        storeid = req.path_params["storage"]
        # Reading one storage's config takes Datastore.Allocate: an auditor gets 403 here, and must
        # use the /storage index instead.
        self.ctx.perms.require(req.token, f"/storage/{storeid}", "Datastore.Allocate")
        s = self.ctx.storages.get(storeid)
        if s is None:
            raise ApiError(500, f"storage '{storeid}' does not exist")
        return self.storage_entry(s)

    # -- replication --

    def _replication_entries(self, req: Request) -> list[dict[str, Any]]:
        out = []
        for r in self.ctx.world.replications:
            guest = self.ctx.guests.get(r.guest)
            if guest is None or not self.ctx.perms.has(req.token, f"/vms/{r.guest}", "VM.Audit"):
                continue
            entry: dict[str, Any] = {"id": f"{r.guest}-{r.jobnum}", "type": "local", "guest": r.guest,
                                     "jobnum": r.jobnum, "target": r.target, "schedule": r.schedule,
                                     "source": guest.node, "digest": file_digest(self.ctx.world.replications)}
            if r.comment:
                entry["comment"] = r.comment
            out.append(entry)
        return out

    def _replication(self, req: Request) -> object:
        return self._replication_entries(req)

    def _node_replication(self, req: Request) -> object:
        node = req.path_params["node"]
        self.ctx.require_node(node)
        now = self.ctx.world.now
        last = now - now % 900  # "*/15": the last quarter hour
        out = []
        for e in self._replication_entries(req):
            if e["source"] != node:
                continue
            guest = self.ctx.guests[int(e["guest"])]
            out.append({k: v for k, v in e.items() if k != "digest"} | {
                "vmtype": guest.type, "last_sync": last, "last_try": last, "next_sync": last + 900,
                "duration": 2.41, "fail_count": 0})
        return out
