"""Section `cluster`: quorum, nodes and their votes (`/cluster/status`, `/nodes`,
`/cluster/config/nodes`), as one provider-wide `proxmox.cluster` record."""

from __future__ import annotations

from typing import Any

from collectors.proxmox.client import Answer, ApiError, Call
from collectors.proxmox.context import PveContext
from collectors.proxmox.parse import as_bool, as_int

SECTION = "cluster"


def collect(ctx: PveContext) -> None:
    got = ctx.fetch_all([Call("/cluster/status", key="status"), Call("/nodes", key="nodes"),
                         Call("/cluster/config/nodes", key="votes")])
    for result in got.values():
        if isinstance(result, ApiError):
            ctx.out.failed(SECTION, str(result))
        elif not isinstance(result.data, list):
            ctx.out.failed(SECTION, f"GET {result.shown}: expected a list")

    def listed(key: str) -> list[dict[str, Any]] | None:
        r = got[key]
        return [e for e in r.data if isinstance(e, dict)] if isinstance(r, Answer) and isinstance(r.data, list) \
            else None

    status, nodes, votes = listed("status"), listed("nodes"), listed("votes")
    by_name: dict[str, dict[str, Any]] = {}
    for e in status or []:
        if e.get("type") == "node" and e.get("name"):
            by_name.setdefault(str(e["name"]), {})["status"] = e
    for e in nodes or []:
        if e.get("node"):
            by_name.setdefault(str(e["node"]), {})["nodes"] = e
    for e in votes or []:
        if e.get("name") or e.get("node"):
            by_name.setdefault(str(e.get("name") or e.get("node")), {})["votes"] = e
    ctx.nodes = sorted(by_name)
    if status is None:
        return  # quorum unknown: no record that could be read as "no cluster"

    cluster = next((e for e in status if e.get("type") == "cluster"), None)
    payload = {
        "cluster": None if cluster is None else {
            "name": cluster.get("name"), "quorate": as_bool(cluster.get("quorate")),
            "nodes": as_int(cluster.get("nodes")), "version": as_int(cluster.get("version")),
        },
        "nodes": [_node(ctx, name, parts) for name, parts in sorted(by_name.items())],
        "quorum_votes_total": None if votes is None else sum(_votes(e) or 0 for e in votes),
    }
    artifacts = tuple(ctx.artifact(r) for r in got.values() if isinstance(r, Answer))
    ctx.out.record("proxmox.cluster", ctx.src, payload, artifacts=artifacts)


def _node(ctx: PveContext, name: str, parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    st, nd, vt = parts.get("status", {}), parts.get("nodes", {}), parts.get("votes")
    votes = None if vt is None else _votes(vt)
    return {
        "name": name,
        "nodeid": as_int(st.get("nodeid", vt.get("nodeid") if vt else None)),
        "online": as_bool(st.get("online")),
        "status": nd.get("status"),
        "site": ctx.node_sites.get(name),
        "votes": votes,
        "ip": st.get("ip"),
        "hastate": nd.get("hastate"),
    }


def _votes(entry: dict[str, Any]) -> int | None:
    # corosync's quorum_votes defaults to 1 when the node entry leaves it out.
    return 1 if entry.get("quorum_votes") is None else as_int(entry.get("quorum_votes"))
