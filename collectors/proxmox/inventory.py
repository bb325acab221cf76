"""Section `inventory`: what the token may see, every guest and its config, the pools.

`/access/permissions` is recorded because PVE silently filters lists by permission: a check
reads from it whether the lists below can be complete. One record per guest and per pool, plus
`proxmox.inventory` (guest ids and a pool count only: pool names are often customers' names and
that record is cited in every customer's documents).
"""

from __future__ import annotations

from typing import Any

from collectors.base import SourceFailed
from collectors.proxmox.client import Answer, ApiError, Call
from collectors.proxmox.context import Guest, PveContext
from collectors.proxmox.parse import as_bool, guest_disks, guest_nics, parse_property_string, split_tags

__all__ = ["SECTION", "collect", "collect_version", "parse_property_string", "split_tags"]

SECTION = "inventory"
CONFIG = "/nodes/{node}/{type}/{vmid}/config"


def collect_version(ctx: PveContext) -> None:
    """The first call: if it fails (wrong token, TLS, host down) nothing else can be read."""
    try:
        answer = ctx.fetch(Call("/version"))
    except ApiError as err:
        raise SourceFailed(str(err)) from err
    data = answer.data if isinstance(answer.data, dict) else {}
    ctx.out.record("proxmox.version", ctx.src, {"version": data.get("version"), "release": data.get("release"),
                                                "repoid": data.get("repoid")}, artifacts=(ctx.artifact(answer),))


def collect(ctx: PveContext, token: str) -> None:
    out, src = ctx.out, ctx.src
    first = ctx.fetch_all([Call("/access/permissions", key="perms"), Call("/cluster/resources", query={"type": "vm"},
                                                                          key="res"), Call("/pools", key="pools")])
    perms = first["perms"]
    if isinstance(perms, Answer):
        out.record("proxmox.permissions", f"{src}/token", {"token": token, "permissions": perms.data},
                   artifacts=(ctx.artifact(perms),))
    else:
        out.failed(SECTION, str(perms))

    res = first["res"]
    if isinstance(res, ApiError):
        # The guest list is what every per-guest record hangs on: without it nothing per tenant can
        # be complete, so the source is failed (what was read so far is kept).
        raise SourceFailed(str(res))
    if not isinstance(res.data, list):
        raise SourceFailed(f"GET {res.shown}: expected a list")
    ctx.guests = sorted((Guest(str(r["type"]), int(r["vmid"]), str(r.get("node")), r) for r in res.data
                         if r.get("type") in ("qemu", "lxc") and "vmid" in r), key=lambda g: (g.type, g.vmid))
    a_res = ctx.artifact(res)

    pools = first["pools"]
    pool_ids: list[str] | None = None
    a_pools: str | None = None
    if isinstance(pools, ApiError) or not isinstance(pools.data, list):
        out.failed(SECTION, str(pools) if isinstance(pools, ApiError) else f"GET {pools.shown}: expected a list")
    else:
        a_pools = ctx.artifact(pools)
        pool_ids = sorted(str(p["poolid"]) for p in pools.data if "poolid" in p)

    calls = [Call("/pools", query={"poolid": p}, key=("pool", p)) for p in pool_ids or []]
    calls += [Call(CONFIG, {"node": g.node, "type": g.type, "vmid": g.vmid}, key=("guest", g)) for g in ctx.guests]
    results = ctx.fetch_all(calls)

    for pool_id in pool_ids or []:
        detail = results[("pool", pool_id)]
        if isinstance(detail, ApiError):
            out.failed(SECTION, str(detail), f"{src}/pool/{pool_id}")
            continue
        entry = detail.data[0] if isinstance(detail.data, list) and detail.data else {}
        members = sorted(f"{m.get('type')}/{m.get('vmid')}" for m in entry.get("members", [])
                         if m.get("type") in ("qemu", "lxc"))
        out.record("proxmox.pool", f"{src}/pool/{pool_id}", {
            "poolid": pool_id, "comment": entry.get("comment"), "members": members,
        }, artifacts=tuple(a for a in (a_pools, ctx.artifact(detail)) if a))

    for guest in ctx.guests:
        answer = results[("guest", guest)]
        if isinstance(answer, ApiError):
            out.failed(SECTION, str(answer), ctx.guest_subject(guest))
            continue
        if not isinstance(answer.data, dict):
            out.failed(SECTION, f"GET {answer.shown}: expected an object", ctx.guest_subject(guest))
            continue
        ctx.configs[guest.gid] = answer.data
        out.record("proxmox.guest", ctx.guest_subject(guest), guest_payload(ctx, guest, answer.data),
                   artifacts=(a_res, ctx.artifact(answer)))

    out.record("proxmox.inventory", src, {
        "guests": sorted(g.gid for g in ctx.guests),
        "configs_read": sorted(ctx.configs),
        "pool_count": None if pool_ids is None else len(pool_ids),
    }, artifacts=tuple(a for a in (a_res, a_pools) if a))


def guest_payload(ctx: PveContext, guest: Guest, config: dict[str, Any]) -> dict[str, Any]:
    r = guest.resource
    disks = {k: {**d, "shared": None} for k, d in guest_disks(config, guest.type).items()}
    return {
        "vmid": guest.vmid,
        "type": guest.type,
        "name": r.get("name") or config.get("name") or config.get("hostname"),
        "node": r.get("node"),
        "site": ctx.node_sites.get(str(r.get("node"))),
        "status": r.get("status"),
        "template": bool(as_bool(r.get("template"), False)),
        "tags": split_tags(config.get("tags", r.get("tags"))),
        "pool": r.get("pool"),
        "nics": guest_nics(config),
        "disks": disks,
        "hastate": r.get("hastate"),
        "resource": r,
        "config": config,
    }
