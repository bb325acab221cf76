"""The firewall of one instance as tables: its own rules with the security groups they pull in,
and the IP sets it uses (for LIST-01 with the role each plays). Also where an IP set reference
("+name", "+guest/name", "+dc/name") resolves, which the firewall checks share."""

from __future__ import annotations

from typing import Any

from attest.controls.findings import Findings
from attest.controls.instances import Instance, SourceView

IpSetKey = tuple[str, str]  # (scope "guest" | "cluster", name)


def resolve_ipset(source: SourceView, fw: dict[str, Any], ref: Any) -> tuple[IpSetKey, list[dict[str, Any]]] | None:
    """The IP set a rule's source or destination names and its entries, guest level first (as
    pve-firewall resolves it); None when it names no IP set or one missing from the evidence."""
    ref = str(ref or "").strip()
    if not ref.startswith("+"):
        return None
    scope, _, name = ref[1:].rpartition("/")
    if scope in ("", "guest") and name in (fw.get("ipsets") or {}):
        return ("guest", name), list((fw["ipsets"][name] or {}).get("entries") or [])
    if scope in ("", "dc"):
        rec = next((r for r in source.snap.of_kind("proxmox.firewall_ipset") if r.payload.get("name") == name), None)
        return (("cluster", name), list(rec.payload.get("entries") or [])) if rec else None
    return None


def _groups(source: SourceView) -> dict[str, list[dict[str, Any]]]:
    return {str(r.payload.get("group")): list(r.payload.get("rules") or [])
            for r in source.snap.of_kind("proxmox.firewall_group")}


def _with_groups(source: SourceView, fw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every rule of the guest, each followed by the rules of the security group it pulls in,
    numbered "3" (own) or "pbx-base:0" (group rule)."""
    groups = _groups(source)
    out: list[tuple[str, dict[str, Any]]] = []
    for rule in fw.get("rules") or []:
        out.append((str(rule.get("pos")), rule))
        if rule.get("type") == "group":
            name = str(rule.get("action"))
            out += [(f"{name}:{r.get('pos')}", r) for r in groups.get(name, [])]
    return out


def rules_table(f: Findings, source: SourceView, instance: Instance, fw: dict[str, Any]) -> None:
    label = instance.label()
    t = f.table(f"Firewall rules of {label}, with the security groups they use",
                f"Regole firewall di {label}, con i gruppi di sicurezza che usano",
                ("#", "#"), ("Direction", "Direzione"), ("Action", "Azione"),
                ("Protocol or macro", "Protocollo o macro"), ("Port", "Porta"),
                ("Source (— = any)", "Origine (— = qualsiasi)"), ("Enabled", "Attiva"), ("Comment", "Commento"))
    for pos, rule in _with_groups(source, fw):
        t.add(pos, rule.get("type"), rule.get("action"), rule.get("macro") or rule.get("proto"), rule.get("dport"),
              rule.get("source"), bool(rule.get("enable")), rule.get("comment"))


def ipsets_table(f: Findings, source: SourceView, instance: Instance, fw: dict[str, Any],
                 roles: dict[IpSetKey, str] | None = None) -> None:
    """The guest's own IP sets and the cluster IP sets its rules (or *roles*) refer to: entry
    counts only, never the addresses of a provider-wide set."""
    own = (fw.get("ipsets") or {}).items()
    found: dict[IpSetKey, list[dict[str, Any]]] = {
        ("guest", str(name)): list((spec or {}).get("entries") or []) for name, spec in own}
    refs = [r.get(side) for _pos, r in _with_groups(source, fw) for side in ("source", "dest")]
    refs += [f"+dc/{name}" for scope, name in roles or {} if scope == "cluster"]
    for ref in refs:
        if (resolved := resolve_ipset(source, fw, ref)) is not None:
            found.setdefault(*resolved)
    columns = [("IP set", "IP set"), ("Scope", "Ambito"), ("Entries", "Voci"), ("Of which nomatch", "Di cui nomatch")]
    t = f.table(f"IP sets used by {instance.label()}", f"IP set usati da {instance.label()}",
                *columns, *([("Role", "Ruolo")] if roles is not None else []))
    for (scope, name), entries in sorted(found.items()):
        counts = (len(entries), sum(1 for e in entries if e.get("nomatch")))
        t.add(name, scope, *counts, *([(roles or {}).get((scope, name))] if roles is not None else []))
