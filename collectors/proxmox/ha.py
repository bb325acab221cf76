"""Section `ha`: the HA manager's view (`/cluster/ha/status/current`) and one record per HA
resource with its requested state, its placement (PVE 8 group or PVE 9 rules) and its service.

PVE 8 has groups and no rules API (`/cluster/ha/rules` answers 501: "no rules API", not a
failure); PVE 9 migrates groups to rules (`/cluster/ha/groups` may then be empty).
"""

from __future__ import annotations

from typing import Any

from collectors.proxmox.client import Answer, ApiError, Call
from collectors.proxmox.context import PveContext
from collectors.proxmox.parse import as_bool, as_int, lrm_mode, master_active, parse_node_priorities, split_list

SECTION = "ha"
_GUEST_TYPE = {"vm": "qemu", "ct": "lxc"}


def collect(ctx: PveContext) -> None:
    got = ctx.fetch_all([Call("/cluster/ha/resources", key="resources"), Call("/cluster/ha/groups", key="groups"),
                         Call("/cluster/ha/rules", key="rules"), Call("/cluster/ha/status/current", key="status")])
    lists: dict[str, list[dict[str, Any]] | None] = {}
    for key, result in got.items():
        if isinstance(result, ApiError):
            if key in ("rules", "groups") and result.not_implemented:
                lists[key] = None  # this PVE release has no such API
                continue
            ctx.out.failed(SECTION, str(result))
            return
        if not isinstance(result.data, list):
            ctx.out.failed(SECTION, f"GET {result.shown}: expected a list")
            return
        lists[key] = [e for e in result.data if isinstance(e, dict)]
    artifacts = tuple(ctx.artifact(r) for r in got.values() if isinstance(r, Answer))
    resources, status = lists["resources"] or [], lists["status"] or []
    groups = {str(g.get("group")): g for g in lists["groups"] or []}
    rules = lists["rules"]

    services = {str(e.get("sid")): e for e in status if e.get("type") == "service"}
    ctx.out.record("proxmox.ha_status", f"{ctx.src}/ha", {
        "shape": "rules" if rules is not None else "groups",
        **_manager(status),
        "resources": sorted(str(r.get("sid")) for r in resources),
    }, artifacts=artifacts)

    by_sid: dict[str, list[dict[str, Any]]] = {}  # each rule parsed once, indexed by the resources it names
    for rule in rules or []:
        parsed = _rule(rule)
        for named in dict.fromkeys(parsed["resources"]):
            by_sid.setdefault(named, []).append(parsed)
    for res in resources:
        sid = str(res.get("sid", ""))
        kind, _, vmid = sid.partition(":")
        if kind not in _GUEST_TYPE or not vmid.isdigit():
            continue
        subject = f"{ctx.src}/{_GUEST_TYPE[kind]}/{vmid}/ha"
        ctx.out.record("proxmox.ha_resource", subject, _resource(res, kind, int(vmid), groups, by_sid.get(sid, []),
                                                                  services.get(sid)), artifacts=artifacts)


def _manager(status: list[dict[str, Any]]) -> dict[str, Any]:
    quorum = next((e for e in status if e.get("type") == "quorum"), None)
    master = next((e for e in status if e.get("type") == "master"), None)
    fencing = next((e for e in status if e.get("type") == "fencing"), None)
    return {
        "quorum": None if quorum is None else {"quorate": as_bool(quorum.get("quorate")), "node": quorum.get("node"),
                                               "status": quorum.get("status")},
        "master": None if master is None else {"node": master.get("node"), "status": master.get("status"),
                                               "active": master_active(master.get("status"))},
        # Only the newest PVE 9.x reports fencing (the disarm feature); null means "not reported".
        "fencing": None if fencing is None else {"armed_state": fencing.get("armed-state"),
                                                 "resource_mode": fencing.get("resource_mode"),
                                                 "status": fencing.get("status")},
        "lrm": {str(e.get("node")): {"status": e.get("status"), "mode": lrm_mode(e.get("status"))}
                for e in status if e.get("type") == "lrm"},
    }


def _resource(res: dict[str, Any], kind: str, vmid: int, groups: dict[str, dict[str, Any]],
              rules: list[dict[str, Any]], service: dict[str, Any] | None) -> dict[str, Any]:
    """One HA resource; *rules* = the parsed rules that name it."""
    sid = str(res.get("sid"))
    state_raw = res.get("state")
    # resources.cfg leaves the default out: no state is "started"; "enabled" is its alias.
    state = "started" if state_raw in (None, "", "enabled") else state_raw
    group_name = res.get("group")
    group = groups.get(str(group_name)) if group_name else None
    return {
        "sid": sid,
        "type": kind,
        "vmid": vmid,
        "state_raw": state_raw,
        "state": state,
        "max_restart": as_int(res.get("max_restart")),
        "max_relocate": as_int(res.get("max_relocate")),
        "failback": as_bool(res.get("failback"), True),
        "group": group_name,
        "group_def": None if group is None else {
            "nodes": parse_node_priorities(group.get("nodes")),
            "restricted": as_bool(group.get("restricted"), False),
            "nofailback": as_bool(group.get("nofailback"), False),
        },
        "rules": rules,
        "service": None if service is None else {k: service.get(k) for k in
                                                 ("node", "crm_state", "state", "request_state", "status")},
        "raw": res,
    }


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "rule": rule.get("rule"),
        "type": rule.get("type"),
        "nodes": parse_node_priorities(rule.get("nodes")),
        "strict": as_bool(rule.get("strict"), False),
        "affinity": rule.get("affinity"),
        "resources": split_list(rule.get("resources")),
        "disable": as_bool(rule.get("disable"), False),
    }
