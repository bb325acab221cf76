"""Section `inventory`: what the token may see, every guest and its config, the pools.

`/access/permissions` is recorded because PVE silently filters lists by permission: a check
reads from it whether the lists below can be complete. One record per guest and per pool, plus
`proxmox.inventory` (guest ids and a pool count only: pool names are often customers' names and
that record is cited in every customer's documents).

A guest whose config cannot be read still gets its `proxmox.guest` record, built from what
`/cluster/resources` said (`config: null`, `config_read: false`, `nics`/`disks` null), and its
failure is listed under its subject: checks can tell whose guest it is (tags, pool) and only that
tenant is blocked by the gap.

Pool members come from the `pool` field `/cluster/resources` gives each guest (a guest is in at
most one pool; PVE shows the field to a token with `Pool.Audit` on that pool, the same right
`/pools?poolid=` needs), so no per-pool call is made. `/pools` gives the pools and comments.
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
                         if isinstance(r, dict) and r.get("type") in ("qemu", "lxc") and "vmid" in r),
                        key=lambda g: (g.type, g.vmid))
    a_res = ctx.artifact(res)

    pools = first["pools"]
    pool_ids: list[str] | None = None
    if isinstance(pools, ApiError) or not isinstance(pools.data, list):
        out.failed(SECTION, str(pools) if isinstance(pools, ApiError) else f"GET {pools.shown}: expected a list")
        a_pools = None
    else:
        a_pools = ctx.artifact(pools)
        entries = {str(p["poolid"]): p for p in pools.data if isinstance(p, dict) and "poolid" in p}
        pool_ids = sorted(entries)
        members: dict[str, list[str]] = {}
        for guest in ctx.guests:  # sorted: members come out sorted
            pool = guest.resource.get("pool")
            if pool is not None:
                members.setdefault(str(pool), []).append(guest.gid)
        for pool_id in pool_ids:
            out.record("proxmox.pool", f"{src}/pool/{pool_id}", {
                "poolid": pool_id, "comment": entries[pool_id].get("comment"), "members": members.get(pool_id, []),
            }, artifacts=(a_pools, a_res))
    del first, res, pools  # the raw lists are stored; only the guests' entries are needed from here

    configs = ctx.fetch_all((Call(CONFIG, {"node": g.node, "type": g.type, "vmid": g.vmid}, key=g)
                             for g in ctx.guests), store=True)
    for guest in ctx.guests:
        answer = configs.pop(guest)
        subject = ctx.guest_subject(guest)
        if isinstance(answer, Answer) and isinstance(answer.data, dict):
            ctx.configs[guest.gid] = answer.data
            out.record("proxmox.guest", subject, guest_payload(ctx, guest, answer.data),
                       artifacts=(a_res, ctx.artifact(answer)))
            continue
        # Unread: the record says what the guest list said (whose it is), and the gap is listed under it.
        out.failed(SECTION, str(answer) if isinstance(answer, ApiError) else f"GET {answer.shown}: expected an object",
                   subject)
        out.record("proxmox.guest", subject, guest_payload(ctx, guest, None), artifacts=(a_res,))

    out.record("proxmox.inventory", src, {
        "guests": sorted(g.gid for g in ctx.guests),
        "configs_read": sorted(ctx.configs),
        "pool_count": None if pool_ids is None else len(pool_ids),
    }, artifacts=tuple(a for a in (a_res, a_pools) if a))


def guest_payload(ctx: PveContext, guest: Guest, config: dict[str, Any] | None) -> dict[str, Any]:
    """The guest's record. *config* None = it could not be read: what /cluster/resources said
    stands alone, and what only the config tells (NICs, disks) is null, never guessed."""
    r = guest.resource
    conf = config or {}
    return {
        "vmid": guest.vmid,
        "type": guest.type,
        "name": r.get("name") or conf.get("name") or conf.get("hostname"),
        "node": r.get("node"),
        "site": ctx.node_sites.get(str(r.get("node"))),
        "status": r.get("status"),
        "template": bool(as_bool(r.get("template"), False)),
        "tags": split_tags(conf.get("tags", r.get("tags"))),
        "pool": r.get("pool"),
        "nics": None if config is None else guest_nics(config),
        "disks": None if config is None else {k: {**d, "shared": None}
                                               for k, d in guest_disks(config, guest.type).items()},
        "hastate": r.get("hastate"),
        "resource": r,
        "config_read": config is not None,
        "config": config,
    }
