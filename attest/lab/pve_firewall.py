"""PVE firewall endpoints: cluster (cluster.fw), node (host.fw options) and guest (<vmid>.fw).

Shapes as pve-firewall returns them: options only hold what the file sets (so `policy_in` may be
missing, meaning DROP for a guest); each rule has `pos` and the file's `digest`, `enable` as 0/1,
`ipversion` 4 when a literal IPv4 address is in source/dest; ipset entries carry `nomatch` only
when set; refs are scoped (`+dc/name`, `+guest/name`). A guest without a .fw file has empty
options and no rules. The NIC flag (`firewall=1`) is in the guest config's net<N>, not here.
"""

from __future__ import annotations

import re
from typing import Any

from attest.lab.pve_context import PveContext
from attest.lab.wire import ApiError, Param, Request, Route, file_digest
from attest.lab.world import LabAlias, LabFirewall, LabFwRule, LabIpSet

_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?$")
_RULE_KEYS = ("source", "dest", "proto", "dport", "sport", "macro", "iface", "comment", "log")


def rule_entries(rules: tuple[LabFwRule, ...], digest: str) -> list[dict[str, Any]]:
    out = []
    for pos, r in enumerate(rules):
        entry: dict[str, Any] = {"pos": pos, "type": r.type, "action": r.action, "enable": int(r.enable)}
        for key in _RULE_KEYS:
            value = getattr(r, key)
            if value is not None:
                entry[key] = value
        if any(_IPV4.match(str(getattr(r, k) or "")) for k in ("source", "dest")):
            entry["ipversion"] = 4
        out.append(entry | {"digest": digest})
    return out


def _ipset_list(ipsets: tuple[LabIpSet, ...], digest: str) -> list[dict[str, Any]]:
    return [{"name": s.name, "digest": digest} | ({"comment": s.comment} if s.comment else {}) for s in ipsets]


def _ipset_content(ipsets: tuple[LabIpSet, ...], name: str, digest: str) -> list[dict[str, Any]]:
    found = next((s for s in ipsets if s.name == name), None)
    if found is None:
        raise ApiError(500, f"no such IPSet '{name}'")
    out = []
    for e in found.entries:
        entry: dict[str, Any] = {"cidr": e.cidr, "digest": digest}
        if e.comment:
            entry["comment"] = e.comment
        if e.nomatch:
            entry["nomatch"] = 1
        out.append(entry)
    return out


def _aliases(aliases: tuple[LabAlias, ...], digest: str) -> list[dict[str, Any]]:
    return [{"name": a.name, "cidr": a.cidr, "ipversion": 4, "digest": digest}
            | ({"comment": a.comment} if a.comment else {}) for a in aliases]


def _refs(fw: LabFirewall, scope: str, kind: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if kind in (None, "alias"):
        out += [{"type": "alias", "name": a.name, "ref": f"{scope}/{a.name}", "scope": scope}
                | ({"comment": a.comment} if a.comment else {}) for a in fw.aliases]
    if kind in (None, "ipset"):
        out += [{"type": "ipset", "name": s.name, "ref": f"+{scope}/{s.name}", "scope": scope}
                | ({"comment": s.comment} if s.comment else {}) for s in fw.ipsets]
    return out


class FirewallEndpoints:
    def __init__(self, ctx: PveContext) -> None:
        self.ctx = ctx
        w = ctx.world
        self._cluster = w.cluster_firewall
        self._cluster_digest = file_digest((w.cluster_firewall, w.security_groups))
        self._groups = {g.name: g for g in w.security_groups}
        self._guest_digests = {vmid: file_digest(fw) for vmid, fw in w.guest_firewalls.items()}

    def routes(self) -> list[Route]:
        refs = {"type": Param(enum=("alias", "ipset"))}
        routes = [
            Route("/cluster/firewall/options", self._cluster_options),
            Route("/cluster/firewall/rules", self._cluster_rules),
            Route("/cluster/firewall/groups", self._groups_list),
            Route("/cluster/firewall/groups/{group}", self._group_rules),
            Route("/cluster/firewall/ipset", self._cluster_ipsets),
            Route("/cluster/firewall/ipset/{name}", self._cluster_ipset),
            Route("/cluster/firewall/aliases", self._cluster_aliases),
            Route("/cluster/firewall/refs", self._cluster_refs, refs),
            Route("/nodes/{node}/firewall/options", self._node_options),
        ]
        for kind in ("qemu", "lxc"):
            base = f"/nodes/{{node}}/{kind}/{{vmid}}/firewall"
            routes += [
                Route(f"{base}/options", self._guest_handler(kind, self._guest_options)),
                Route(f"{base}/rules", self._guest_handler(kind, self._guest_rules)),
                Route(f"{base}/ipset", self._guest_handler(kind, self._guest_ipsets)),
                Route(f"{base}/ipset/{{name}}", self._guest_handler(kind, self._guest_ipset)),
                Route(f"{base}/aliases", self._guest_handler(kind, self._guest_aliases)),
                Route(f"{base}/refs", self._guest_handler(kind, self._guest_refs), refs),
            ]
        return routes

    # -- cluster --

    def _audit_root(self, req: Request) -> None:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")

    def _cluster_options(self, req: Request) -> object:
        self._audit_root(req)
        return dict(self._cluster.options)

    def _cluster_rules(self, req: Request) -> object:
        self._audit_root(req)
        return rule_entries(self._cluster.rules, self._cluster_digest)

    def _groups_list(self, req: Request) -> object:
        # Anyone may list the security groups' names (permission "user: all").
        return [{"group": g.name, "digest": self._cluster_digest} | ({"comment": g.comment} if g.comment else {})
                for g in self.ctx.world.security_groups]

    def _group_rules(self, req: Request) -> object:
        self._audit_root(req)
        group = self._groups.get(req.path_params["group"])
        if group is None:
            raise ApiError(500, f"no such security group '{req.path_params['group']}'")
        return rule_entries(group.rules, self._cluster_digest)

    def _cluster_ipsets(self, req: Request) -> object:
        self._audit_root(req)
        return _ipset_list(self._cluster.ipsets, self._cluster_digest)

    def _cluster_ipset(self, req: Request) -> object:
        self._audit_root(req)
        return _ipset_content(self._cluster.ipsets, req.path_params["name"], self._cluster_digest)

    def _cluster_aliases(self, req: Request) -> object:
        self._audit_root(req)
        return _aliases(self._cluster.aliases, self._cluster_digest)

    def _cluster_refs(self, req: Request) -> object:
        self._audit_root(req)
        return _refs(self._cluster, "dc", req.query.get("type"))

    def _node_options(self, req: Request) -> object:
        node = req.path_params["node"]
        self.ctx.perms.require(req.token, f"/nodes/{node}", "Sys.Audit")
        self.ctx.require_node(node)
        return dict(self.ctx.world.node_firewall_options)

    # -- guests --

    def _guest_handler(self, kind: str, fn: Any) -> Any:
        def handler(req: Request) -> object:
            guest = self.ctx.guest_at(req, kind)
            fw = self.ctx.world.guest_firewalls.get(guest.vmid, LabFirewall())
            return fn(req, fw, self._guest_digests.get(guest.vmid) or file_digest(None))
        return handler

    def _guest_options(self, req: Request, fw: LabFirewall, digest: str) -> object:
        return dict(fw.options)

    def _guest_rules(self, req: Request, fw: LabFirewall, digest: str) -> object:
        return rule_entries(fw.rules, digest)

    def _guest_ipsets(self, req: Request, fw: LabFirewall, digest: str) -> object:
        return _ipset_list(fw.ipsets, digest)

    def _guest_ipset(self, req: Request, fw: LabFirewall, digest: str) -> object:
        return _ipset_content(fw.ipsets, req.path_params["name"], digest)

    def _guest_aliases(self, req: Request, fw: LabFirewall, digest: str) -> object:
        return _aliases(fw.aliases, digest)

    def _guest_refs(self, req: Request, fw: LabFirewall, digest: str) -> object:
        # What a guest rule may reference: its own sets and aliases, then the datacenter's.
        kind = req.query.get("type")
        return _refs(fw, "guest", kind) + _refs(self._cluster, "dc", kind)
