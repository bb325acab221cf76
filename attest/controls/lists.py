"""Duty "lists": each instance admits SIP only from its own whitelist, has a blacklist, and
filters spoofed source addresses (LIST-01).

pve-firewall semantics (reference NOTES §4.3): `+name` resolves a guest-level IP set first
(`+guest/name` forces it); the cluster IP set "blacklist" is dropped implicitly for every
firewalled guest; `ipfilter: 1` or `ipfilter-net<N>` sets drop spoofed outgoing traffic.
"""

from __future__ import annotations

from typing import Any

from attest.config import TenantConfig
from attest.controls.findings import Findings, text
from attest.controls.firewall import applied_rules, guest_fw, overlap, rule_ports, view_for
from attest.controls.firewall_tables import IpSetKey, ipsets_table, resolve_ipset, rules_table
from attest.controls.instances import Instance, SourceView
from attest.controls.tables import INSTANCE, Table, flags, mark
from attest.engine import CheckContext, CheckOutcome

SIP = (5060, 5061)


def _guest_set(source: SourceView, fw: dict[str, Any], ref: Any) -> str | None:
    """The guest-level IP set a rule's source names, or None."""
    resolved = resolve_ipset(source, fw, ref)
    return resolved[0][1] if resolved and resolved[0][0] == "guest" else None


def whitelist_blacklist(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = view_for(ctx, tenant)
    if isinstance(view, CheckOutcome):
        return view
    f = Findings(used=list(view.used))
    ipfilter = f.table("Anti-spoofing (IP filter) of each instance", "Anti-spoofing (filtro IP) di ciascuna istanza",
                       INSTANCE, ("IP filter option", "Opzione filtro IP"),
                       ("ipfilter set per network interface", "Set ipfilter per interfaccia di rete"))
    for source, instance in view.instances:
        fw = guest_fw(f, source, instance)
        if fw is None:
            continue
        rules_table(f, source, instance, fw)
        roles: dict[IpSetKey, str] = {("guest", n): "ipfilter" for n in fw.get("ipsets") or {}
                                      if str(n).startswith("ipfilter-")}
        roles |= {("guest", n): "whitelist" for n in _whitelist(f, source, instance, fw)}
        roles |= {key: "blacklist" for key in _blacklist(f, source, instance, fw)}
        ipsets_table(f, source, instance, fw, roles)
        _ipfilter(f, ipfilter, instance, fw)
    return f.outcome(text(
        "Each of this customer's instances accepts SIP only from its own whitelist, has a blacklist in force and "
        "filters spoofed addresses.",
        "Ciascuna istanza di questo cliente accetta SIP solo dalla propria whitelist, ha una blacklist attiva e "
        "filtra gli indirizzi falsificati."))


def _sip_accepts(f: Findings, source: SourceView, fw: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for rule, _where in applied_rules(f, source, fw):
        if rule.get("type") != "in" or str(rule.get("action")).upper() != "ACCEPT":
            continue
        ports = rule_ports(rule) or []
        if any(proto in (None, "udp", "tcp") and overlap(r, SIP) for proto, r in ports):
            found.append(rule)
    return found


def _whitelist(f: Findings, source: SourceView, instance: Instance, fw: dict[str, Any]) -> list[str]:
    """Judges the SIP whitelist; returns the guest IP sets SIP is admitted from."""
    label = instance.label()
    accepts = _sip_accepts(f, source, fw)
    sets = sorted({name for r in accepts if (name := _guest_set(source, fw, r.get("source"))) is not None})
    if not accepts:
        f.problem(f"{label} has no rule admitting SIP from a whitelist.",
                  f"{label} non ha alcuna regola che ammetta SIP da una whitelist.")
        return sets
    loose = [r for r in accepts if _guest_set(source, fw, r.get("source")) is None]
    if loose:
        sources = ", ".join(sorted({str(r.get("source") or "any") for r in loose}))
        f.problem(f"{label} admits SIP from sources that are not its own whitelist IP set ({sources}).",
                  f"{label} ammette SIP da origini che non sono la sua whitelist ({sources}).")
        return sets
    sizes = ", ".join(f"{s} ({len((fw['ipsets'][s] or {}).get('entries') or [])} entries)" for s in sets)
    sizes_it = ", ".join(f"{s} ({len((fw['ipsets'][s] or {}).get('entries') or [])} voci)" for s in sets)
    f.fact(f"{label}: SIP admitted only from its whitelist {sizes}.",
           f"{label}: SIP ammesso solo dalla sua whitelist {sizes_it}.")
    return sets


def _blacklist(f: Findings, source: SourceView, instance: Instance, fw: dict[str, Any]) -> list[IpSetKey]:
    """Judges the blacklist; returns the IP sets that serve as the instance's blacklist."""
    label = instance.label()
    own = sorted({name for r in fw.get("rules") or [] if r.get("enable") and r.get("type") == "in"
                  and str(r.get("action")).upper() in ("DROP", "REJECT")
                  and (name := _guest_set(source, fw, r.get("source"))) is not None})
    if own:
        f.fact(f"{label}: its blacklist {', '.join(own)} is dropped.",
               f"{label}: la sua blacklist {', '.join(own)} viene scartata.")
        return [("guest", name) for name in own]
    cluster = source.snap.one("proxmox.firewall_cluster")
    ipset = next((r for r in source.snap.of_kind("proxmox.firewall_ipset") if r.payload.get("name") == "blacklist"),
                 None)
    f.cite(cluster, ipset)
    entries = [e for e in (ipset.payload.get("entries") or []) if not e.get("nomatch")] if ipset else []
    listed = cluster is not None and "blacklist" in (cluster.payload.get("ipsets") or [])
    if listed and entries:
        f.fact(f"{label}: the provider-wide blacklist ({len(entries)} entries) is dropped for it.",
               f"{label}: la blacklist del fornitore ({len(entries)} voci) viene scartata anche per essa.")
        return [("cluster", "blacklist")]
    f.problem(f"{label} has no blacklist: neither an IP set of its own dropped by a rule nor a non-empty "
              "provider-wide blacklist.",
              f"{label} non ha una blacklist: né un proprio IP set scartato da una regola né una blacklist del "
              "fornitore non vuota.")
    return []


def _ipfilter(f: Findings, t: Table, instance: Instance, fw: dict[str, Any]) -> None:
    label = instance.label()
    sets = set(fw.get("ipsets") or {})
    t.add(label, mark(bool((fw.get("options") or {}).get("ipfilter"))),
          flags({n: f"ipfilter-{n}" in sets for n in fw.get("nics") or {}}))
    if (fw.get("options") or {}).get("ipfilter"):
        f.fact(f"{label}: IP filter (anti-spoofing) on.", f"{label}: filtro IP (anti-spoofing) attivo.")
        return
    nics = sorted(fw.get("nics") or {})
    missing = [n for n in nics if f"ipfilter-{n}" not in sets]
    if nics and not missing:
        f.fact(f"{label}: IP filter sets for {', '.join(nics)}.", f"{label}: set di filtro IP per {', '.join(nics)}.")
        return
    f.problem(f"{label} does not filter spoofed source addresses (IP filter off, no ipfilter set for "
              f"{', '.join(missing) or 'its interfaces'}).",
              f"{label} non filtra gli indirizzi di origine falsificati (filtro IP spento, nessun set ipfilter per "
              f"{', '.join(missing) or 'le sue interfacce'}).")
