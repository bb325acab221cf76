"""Section `events`: when guests were started, stopped, rebooted or moved, and when nodes booted or
shut down, from each node's task list over the last `task_history_days`: one
`proxmox.guest_events` record per guest and one `proxmox.node_events` record per node.

What it rests on (PVE's own task log):
* a guest task's id is the vmid; it may be on any node (a guest migrates, HA starts it elsewhere
  after a node failure), so every node's list is read and each guest gets its tasks from all;
* a user's start, shutdown or migration of an HA-managed guest is logged as `hastart` / `hastop` /
  `hamigrate` under the user, the work itself as `qmstart` / `qmshutdown` / `qmigrate` under
  root@pam (the HA stack); a node's boot and shutdown are `startall` / `stopall` (id "");
* only finished tasks are listed (PVE's default `source=archive`): a task still running is not;
* a token sees other users' tasks only with Sys.Audit on the node: without it the list is
  silently empty (the `proxmox.permissions` record shows whether the token had it).

One unfiltered list per node (paged like `tasks`), not one call per task type: PVE's `typefilter`
takes one exact type, and the ~25 types below would cost ~25 calls per node.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors.proxmox.context import PveContext
from collectors.proxmox.parse import as_int
from collectors.proxmox.task_lists import task_lists

SECTION = "events"

# Tasks that change whether a guest runs (or where); the id is the vmid.
GUEST_TYPES = frozenset({
    "qmstart", "qmstop", "qmshutdown", "qmreboot", "qmreset", "qmsuspend", "qmresume", "qmigrate",
    "qmrestore", "qmrollback",
    "vzstart", "vzstop", "vzshutdown", "vzreboot", "vzsuspend", "vzresume", "vzmigrate", "vzrestore",
    "vzrollback",
    "hastart", "hastop", "hamigrate", "harelocate",
})
# Node-wide: guests started at boot, stopped at shutdown, all migrated away (id "").
NODE_TYPES = frozenset({"startall", "stopall", "migrateall"})


def collect(ctx: PveContext) -> None:
    if not ctx.nodes:
        # No node list: empty histories would read as "nothing happened".
        ctx.out.failed(SECTION, "task lists not read: the node list could not be read")
        return
    since = int((ctx.now - timedelta(days=ctx.task_history_days)).timestamp())
    until = int(ctx.now.timestamp())
    guest_events: dict[int, list[dict[str, Any]]] = {}
    node_events: dict[str, list[dict[str, Any]]] = {}
    cited: dict[int, set[str]] = {}  # vmid -> artifacts its events came in
    listings: dict[str, set[str]] = {}  # node -> artifacts of its task list
    failed: dict[str, str] = {}
    for node, listed in task_lists(ctx, since):
        if isinstance(listed, str):
            failed[node] = listed
            continue
        listings[node] = listed[1]
        node_events[node] = []
        for task, artifact in listed[0]:
            kind = task.get("type")
            if kind in NODE_TYPES:
                node_events[node].append(_event(node, task))
            elif kind in GUEST_TYPES and (vmid := as_int(task.get("id"))) is not None:
                guest_events.setdefault(vmid, []).append(_event(node, task))
                cited.setdefault(vmid, set()).add(artifact)

    read = sorted(listings)
    for node, error in sorted(failed.items()):
        ctx.out.failed(SECTION, error, ctx.node_subject(node))
        for guest in ctx.guests_on(node):
            ctx.out.failed(SECTION, error, ctx.guest_subject(guest))
    for node in read:
        ctx.out.record("proxmox.node_events", f"{ctx.node_subject(node)}/events", {
            "node": node, "since": since, "until": until, "events": _sorted(node_events[node]),
        }, artifacts=tuple(sorted(listings[node])))
    for guest in ctx.guests:
        if guest.node in failed:
            continue  # what its own node did to it is unknown: the failure above says so
        ctx.out.record("proxmox.guest_events", ctx.guest_subject(guest, "events"), {
            "vmid": guest.vmid, "since": since, "until": until, "nodes_read": read,
            "events": _sorted(guest_events.get(guest.vmid, [])),
        }, artifacts=tuple(sorted(cited.get(guest.vmid, set()) | listings.get(guest.node, set()))))


def _event(node: str, task: dict[str, Any]) -> dict[str, Any]:
    return {"upid": task.get("upid"), "node": node, "type": task.get("type"), "user": task.get("user"),
            "starttime": as_int(task.get("starttime")), "endtime": as_int(task.get("endtime")),
            "status": task.get("status")}


def _sorted(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda e: (e["starttime"] or 0, str(e["upid"])))
