"""Section `tasks`: what vzdump actually did, from each node's task list and each task's log,
as one `proxmox.backup_history` record per guest (runs over the last `task_history_days`).

A scheduled job runs one vzdump task per node covering many guests; per-guest outcomes are
only in the task log ("Finished Backup of VM N" / "ERROR: Backup of VM N failed - ...").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors.proxmox.client import ApiError, Call
from collectors.proxmox.context import PveContext
from collectors.proxmox.parse import as_int, vzdump_results
from collectors.proxmox.task_lists import task_lists

SECTION = "tasks"
LOG = "/nodes/{node}/tasks/{upid}/log"
LOG_LIMIT = 100000


def collect(ctx: PveContext) -> None:
    if not ctx.nodes:
        # No node list: an empty history would read as "never backed up".
        ctx.out.failed(SECTION, "task lists not read: the node list could not be read")
        return
    since = int((ctx.now - timedelta(days=ctx.task_history_days)).timestamp())
    until = int(ctx.now.timestamp())
    tasks: list[tuple[str, dict[str, Any], str]] = []  # (node, task, artifact)
    failed_nodes: dict[str, str] = {}
    listings: dict[str, set[str]] = {}  # node -> artifacts of its task list (what "no run" rests on)
    for node, listed in task_lists(ctx, since, "vzdump", _is_vzdump):
        if isinstance(listed, str):
            failed_nodes[node] = listed
        else:
            tasks += [(node, t, a) for t, a in listed[0]]
            listings[node] = listed[1]

    calls = [Call(LOG, {"node": node, "upid": t["upid"]}, {"limit": LOG_LIMIT}, key=i)
             for i, (node, t, _) in enumerate(tasks) if t.get("upid")]
    runs: dict[int, list[dict[str, Any]]] = {}
    cited: dict[int, set[str]] = {}
    for call, result in ctx.fetch_many(calls):
        node, task, a_list = tasks[call.key]
        if isinstance(result, ApiError) or not isinstance(result.data, list):
            # Which guests the task covered is in the log: all of this node's guests are in doubt.
            failed_nodes.setdefault(node, str(result) if isinstance(result, ApiError)
                                    else f"GET {result.shown}: expected a list")
            continue
        a_log = ctx.artifact(result)
        outcomes = vzdump_results(result.data)
        single = as_int(task.get("id"))  # a one-guest vzdump names the guest as task id
        if single is not None:
            outcomes.setdefault(single, {"result": "unknown", "message": None})
        common = {"upid": task.get("upid"), "node": node, "starttime": as_int(task.get("starttime")),
                  "endtime": as_int(task.get("endtime")), "task_status": task.get("status")}
        both = (a_list, a_log)
        for vmid, outcome in outcomes.items():
            runs.setdefault(vmid, []).append({**common, "result": outcome["result"], "message": outcome["message"]})
            cited.setdefault(vmid, set()).update(both)

    for node, error in sorted(failed_nodes.items()):
        ctx.out.failed(SECTION, error, ctx.node_subject(node))
        for guest in ctx.guests_on(node):
            ctx.out.failed(SECTION, error, ctx.guest_subject(guest))
    for guest in ctx.guests:
        history = sorted(runs.get(guest.vmid, []), key=lambda r: (r["starttime"] or 0, str(r["upid"])))
        ctx.out.record("proxmox.backup_history", ctx.guest_subject(guest, "backup-history"), {
            "vmid": guest.vmid, "since": since, "until": until, "runs": history,
        }, artifacts=tuple(sorted(cited.get(guest.vmid, set()) | listings.get(guest.node, set()))))


def _is_vzdump(task: dict[str, Any]) -> bool:
    return task.get("type") in (None, "vzdump")
