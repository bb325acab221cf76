"""Section `firewall`: the cluster firewall (options, rules, security groups, IP sets, aliases),
each node's firewall options, and each guest's firewall.

Per guest: options, rules and refs (4 calls with the config read by `inventory`); then the
contents of the guest's own IP sets and its aliases only when refs names some, so a guest costs
about 4-6 calls. Values are recorded as PVE gives them; only booleans are normalised, with the
documented defaults (guest `enable` 0, node `enable` 1, `macfilter` 1). An absent `policy_in`
stays null: that it means DROP is for the checks to say.
"""

from __future__ import annotations

from typing import Any

from collectors.proxmox.client import Answer, ApiError, Call
from collectors.proxmox.context import Guest, PveContext
from collectors.proxmox.parse import as_bool, as_int, guest_nics

SECTION = "firewall"
GUEST = "/nodes/{node}/{type}/{vmid}/firewall"
_CLUSTER_PARTS = ("options", "rules", "groups", "ipset", "aliases")


def collect(ctx: PveContext) -> None:
    cluster_ipsets = _cluster(ctx)
    _nodes(ctx)
    _guests(ctx, cluster_ipsets)


# -- cluster ----------------------------------------------------------------------------------------


def _cluster(ctx: PveContext) -> set[str]:
    """Cluster firewall records; returns the cluster IP set names (to tell guest sets apart)."""
    got = ctx.fetch_all([Call(f"/cluster/firewall/{part}", key=part) for part in _CLUSTER_PARTS])
    bad = [r for r in got.values() if isinstance(r, ApiError)]
    for err in bad:
        ctx.out.failed(SECTION, str(err))
    if bad:
        return set()
    answers: dict[str, Answer] = {k: r for k, r in got.items() if isinstance(r, Answer)}
    options = answers["options"].data if isinstance(answers["options"].data, dict) else {}
    groups = [str(g.get("group")) for g in _items(answers["groups"])]
    ipsets = {str(s.get("name")): s for s in _items(answers["ipset"])}
    ctx.out.record("proxmox.firewall_cluster", f"{ctx.src}/firewall", {
        "options": {"enable": as_bool(options.get("enable"), False), "policy_in": options.get("policy_in"),
                    "policy_out": options.get("policy_out"), "raw": options},
        "rules": [rule(r) for r in _items(answers["rules"])],
        "aliases": _items(answers["aliases"]),
        "groups": sorted(groups),
        "ipsets": sorted(ipsets),
    }, artifacts=tuple(ctx.artifact(a) for a in answers.values()))

    calls = [Call("/cluster/firewall/groups/{group}", {"group": g}, key=("group", g)) for g in groups]
    calls += [Call("/cluster/firewall/ipset/{name}", {"name": n}, key=("ipset", n)) for n in ipsets]
    for call, result in ctx.fetch_many(calls):
        kind, name = call.key
        subject = f"{ctx.src}/firewall/{kind}/{name}"
        if isinstance(result, ApiError):
            ctx.out.failed(SECTION, str(result), subject)
        elif kind == "group":
            ctx.out.record("proxmox.firewall_group", subject, {"group": name, "rules": [rule(r) for r in
                                                                                       _items(result)]},
                           artifacts=(ctx.artifact(result),))
        else:
            ctx.out.record("proxmox.firewall_ipset", subject, {
                "name": name, "comment": ipsets[name].get("comment"), "entries": [entry(e) for e in _items(result)],
            }, artifacts=(ctx.artifact(answers["ipset"]), ctx.artifact(result)))
    return set(ipsets)


# -- nodes ------------------------------------------------------------------------------------------


def _nodes(ctx: PveContext) -> None:
    if not ctx.nodes:
        ctx.out.failed(SECTION, "node firewall options not read: the node list could not be read")
        return
    calls = [Call("/nodes/{node}/firewall/options", {"node": n}, key=n) for n in ctx.nodes]
    for call, result in ctx.fetch_many(calls):
        subject = f"{ctx.node_subject(call.key)}/firewall"
        if isinstance(result, ApiError) or not isinstance(result.data, dict):
            ctx.out.failed(SECTION, str(result) if isinstance(result, ApiError)
                           else f"GET {result.shown}: expected an object", ctx.node_subject(call.key))
            continue
        options = result.data
        ctx.out.record("proxmox.firewall_node", subject, {"node": call.key, "options": {
            "enable": as_bool(options.get("enable"), True), "nftables": as_bool(options.get("nftables"), False),
            "raw": options,
        }}, artifacts=(ctx.artifact(result),))


# -- guests -----------------------------------------------------------------------------------------


def _guests(ctx: PveContext, cluster_ipsets: set[str]) -> None:
    parts = ("options", "rules", "refs")
    calls = [Call(f"{GUEST}/{part}", _where(g), key=(g, part)) for g in ctx.guests for part in parts]
    first: dict[Guest, dict[str, Answer]] = {}
    failed: dict[Guest, str] = {}
    for call, result in ctx.fetch_many(calls, store=True):
        guest, part = call.key
        if isinstance(result, ApiError):
            failed.setdefault(guest, str(result))
        else:
            first.setdefault(guest, {})[part] = result

    # Second round: the guest's own IP sets' contents and its aliases, only where refs names some.
    more: list[Call] = []
    for guest, got in first.items():
        if guest in failed:
            continue
        for ref in _items(got["refs"]):
            if ref.get("type") == "ipset" and _guest_scoped(ref, cluster_ipsets):
                more.append(Call(f"{GUEST}/ipset/{{name}}", {**_where(guest), "name": ref.get("name")},
                                 key=(guest, "ipset", str(ref.get("name")))))
        if any(r.get("type") == "alias" and r.get("scope") == "guest" for r in _items(got["refs"])):
            more.append(Call(f"{GUEST}/aliases", _where(guest), key=(guest, "aliases", "")))
    second: dict[Guest, dict[tuple[str, str], Answer]] = {}
    for call, result in ctx.fetch_many(more, store=True):
        guest, kind, name = call.key
        if isinstance(result, ApiError):
            failed.setdefault(guest, str(result))
        else:
            second.setdefault(guest, {})[(kind, name)] = result

    for guest in ctx.guests:
        if guest in failed:
            ctx.out.failed(SECTION, failed[guest], ctx.guest_subject(guest))
            continue
        got = first[guest]
        extra = second.get(guest, {})
        refs = _items(got["refs"])
        ipsets = {name: {"comment": next((r.get("comment") for r in refs if r.get("type") == "ipset"
                                          and r.get("name") == name), None),
                         "entries": [entry(e) for e in _items(a)]}
                  for (kind, name), a in sorted(extra.items()) if kind == "ipset"}
        aliases = _items(extra[("aliases", "")]) if ("aliases", "") in extra else []
        options = got["options"].data if isinstance(got["options"].data, dict) else {}
        config = ctx.configs.get(guest.gid)
        artifacts = [ctx.artifact(a) for a in (*got.values(), *extra.values())]
        ctx.out.record("proxmox.guest_firewall", ctx.guest_subject(guest, "firewall"), {
            "vmid": guest.vmid, "type": guest.type, "node": guest.node,
            "options": {"enable": as_bool(options.get("enable"), False), "policy_in": options.get("policy_in"),
                        "policy_out": options.get("policy_out"), "ipfilter": as_bool(options.get("ipfilter"), False),
                        "macfilter": as_bool(options.get("macfilter"), True), "raw": options},
            "rules": [rule(r) for r in _items(got["rules"])],
            "ipsets": ipsets,
            "aliases": aliases,
            "refs": refs,
            # NIC flags come from the config `inventory` read; null when it could not be read.
            "nics": None if config is None else _nic_flags(config),
        }, artifacts=tuple(dict.fromkeys(artifacts)))


def _where(guest: Guest) -> dict[str, Any]:
    return {"node": guest.node, "type": guest.type, "vmid": guest.vmid}


def _guest_scoped(ref: dict[str, Any], cluster_ipsets: set[str]) -> bool:
    """A guest's own IP set. PVE 8+ says so in `scope`; older releases give no scope, and a name
    that is not a cluster set's is then the guest's."""
    scope = ref.get("scope")
    if scope is not None:
        return bool(scope == "guest")
    return str(ref.get("name")) not in cluster_ipsets


def _nic_flags(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {nic: {"firewall": as_bool(props.get("firewall"), False), "raw": config[nic]}
            for nic, props in guest_nics(config).items()}


def rule(r: dict[str, Any]) -> dict[str, Any]:
    """A firewall rule with `enable` normalised. pve-firewall always returns it (a `|`-prefixed
    rule is 0) and skips a rule without it, so an absent flag stays null for the checks."""
    keys = ("type", "action", "macro", "source", "dest", "proto", "dport", "sport", "iface", "comment")
    return {"pos": as_int(r.get("pos")), **{k: r.get(k) for k in keys}, "enable": as_bool(r.get("enable")),
            "log": r.get("log"), "icmp_type": r.get("icmp-type")}


def entry(e: dict[str, Any]) -> dict[str, Any]:
    return {"cidr": e.get("cidr"), "nomatch": as_bool(e.get("nomatch"), False), "comment": e.get("comment")}


def _items(answer: Answer) -> list[dict[str, Any]]:
    return [e for e in answer.data if isinstance(e, dict)] if isinstance(answer.data, list) else []
