"""Duty "firewall": the customer's firewall is in force (FW-01) and its rules are its own and
expose no phone or management port to the whole Internet unless approved (FW-02).

Semantics follow pve-firewall (reference NOTES §4): rules apply only when the cluster firewall,
the guest firewall and the NIC's firewall flag are all on; inbound policy unset means DROP;
disabled rules are skipped; a `group` rule pulls in a cluster security group's rules.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from attest.attestation import LocalizedText
from attest.config import TenantConfig
from attest.controls.findings import Findings, text
from attest.controls.firewall_tables import ipsets_table, resolve_ipset, rules_table
from attest.controls.instances import (
    SYS_AUDIT,
    Instance,
    SourceView,
    TenantView,
    insufficient,
    no_instance,
    tenant_view,
)
from attest.controls.tables import INSTANCE, Table, flags, mark
from attest.engine import CheckContext, CheckOutcome, EvidenceGap

SECTIONS = ("firewall",)
OPEN_SOURCES = {"", "0.0.0.0/0", "::/0", "0/0"}
# PVE firewall macros whose ports matter here (there is no SIP or RTP macro); unknown macros are
# taken to open nothing we look for.
MACROS: dict[str, list[tuple[str | None, int, int]]] = {
    "SSH": [("tcp", 22, 22)], "HTTP": [("tcp", 80, 80)], "HTTPS": [("tcp", 443, 443)],
    "Web": [("tcp", 80, 80), ("tcp", 443, 443)], "Telnet": [("tcp", 23, 23)],
}
# Service names pve-firewall resolves from /etc/services; these are the ones a PBX rule uses.
SERVICES = {"sip": 5060, "sips": 5061, "ssh": 22, "http": 80, "https": 443, "telnet": 23}
PROTOCOLS = {"6": "tcp", "17": "udp"}

PortRange = tuple[int, int]


def view_for(ctx: CheckContext, tenant: TenantConfig) -> TenantView | CheckOutcome:
    # Guest firewall needs VM.Audit (checked with the inventory); the cluster firewall Sys.Audit on /.
    view = tenant_view(ctx, tenant, SECTIONS, SYS_AUDIT)
    if isinstance(view, EvidenceGap):
        return insufficient(view.reason)
    if not view.instances:
        return no_instance(view)
    return view


def guest_fw(f: Findings, source: SourceView, instance: Instance) -> dict[str, Any] | None:
    rec = source.guest_record("proxmox.guest_firewall", instance, "/firewall")
    f.cite(rec)
    if rec is None:
        f.gap(f"The firewall configuration of {instance.label()} is missing from the evidence.",
              f"La configurazione del firewall di {instance.label()} manca dalle evidenze.")
        return None
    return rec.payload


def cluster_fw(f: Findings, source: SourceView) -> dict[str, Any] | None:
    rec = source.snap.one("proxmox.firewall_cluster")
    f.cite(rec)
    if rec is None:
        f.gap(f"The cluster firewall configuration of {source.snap.source_id} is missing from the evidence.",
              f"La configurazione del firewall di cluster di {source.snap.source_id} manca dalle evidenze.")
        return None
    return rec.payload


def policy_in(fw: dict[str, Any]) -> str:
    return str((fw.get("options") or {}).get("policy_in") or "DROP").upper()


# --- FW-01 ----------------------------------------------------------------------------------------


def firewall_enabled(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = view_for(ctx, tenant)
    if isinstance(view, CheckOutcome):
        return view
    f = Findings(used=list(view.used))
    t = f.table("Firewall of each instance", "Firewall di ciascuna istanza", INSTANCE,
                ("Cluster firewall", "Firewall di cluster"), ("Instance firewall", "Firewall dell'istanza"),
                ("Inbound policy (effective)", "Politica in ingresso (effettiva)"),
                ("Firewall flag per network interface", "Flag firewall per interfaccia di rete"))
    cluster_on: dict[str, bool | None] = {}
    for source in view.sources:
        cluster = cluster_fw(f, source) if source.instances else None
        on = None if cluster is None else bool((cluster.get("options") or {}).get("enable"))
        cluster_on[source.snap.source_id] = on
        if on is False:
            f.problem(f"The cluster firewall of {source.snap.source_id} is disabled: no guest rule is applied.",
                      f"Il firewall di cluster di {source.snap.source_id} è disattivato: nessuna regola è applicata.")
    for source, instance in view.instances:
        _in_force(f, t, cluster_on.get(source.snap.source_id), source, instance)
    return f.outcome(text(
        "The firewall is on for the cluster, for each of this customer's instances and for each of their network "
        "interfaces, and inbound traffic not explicitly allowed is dropped.",
        "Il firewall è attivo per il cluster, per ciascuna istanza di questo cliente e per ciascuna delle loro "
        "interfacce di rete, e il traffico in ingresso non esplicitamente consentito viene scartato."))


def _in_force(f: Findings, t: Table, cluster_on: bool | None, source: SourceView, instance: Instance) -> None:
    fw = guest_fw(f, source, instance)
    if fw is None:
        return
    label = instance.label()
    t.add(label, mark(cluster_on), mark(bool((fw.get("options") or {}).get("enable"))), policy_in(fw),
          flags({n: bool((spec or {}).get("firewall")) for n, spec in (fw.get("nics") or {}).items()}))
    if not (fw.get("options") or {}).get("enable"):
        f.problem(f"The firewall of {label} is disabled.", f"Il firewall di {label} è disattivato.")
    nics = fw.get("nics") or {}
    open_nics = sorted(n for n, spec in nics.items() if not (spec or {}).get("firewall"))
    if open_nics:
        f.problem(f"Network interface(s) {', '.join(open_nics)} of {label} have the firewall flag off: their "
                  "traffic is not filtered.",
                  f"Le interfacce di rete {', '.join(open_nics)} di {label} hanno il firewall spento: il loro "
                  "traffico non è filtrato.")
    if not nics:
        f.gap(f"The network interfaces of {label} are not in the evidence.",
              f"Le interfacce di rete di {label} non sono nelle evidenze.")
    policy = policy_in(fw)
    if policy not in ("DROP", "REJECT"):
        f.problem(f"The inbound default policy of {label} is {policy}: traffic not matched by a rule is let in.",
                  f"La politica predefinita in ingresso di {label} è {policy}: il traffico non previsto entra.")
    f.fact(f"{label}: firewall {'on' if (fw.get('options') or {}).get('enable') else 'off'}, "
           f"interfaces {', '.join(sorted(nics)) or 'none'}, inbound policy {policy}.",
           f"{label}: firewall {'attivo' if (fw.get('options') or {}).get('enable') else 'spento'}, "
           f"interfacce {', '.join(sorted(nics)) or 'nessuna'}, politica in ingresso {policy}.")


# --- ports --------------------------------------------------------------------------------------------


def parse_ports(dport: Any) -> list[PortRange] | None:
    """PVE dport syntax: "5060", "5060:5061", "80,443", service names. None if a part cannot be read."""
    out: list[PortRange] = []
    for part in str(dport).replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition(":")
        first, last = _port(lo), _port(hi or lo)
        if first is None or last is None:
            return None
        out.append((first, last))
    return out


def _port(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    if token.lower() in SERVICES:
        return SERVICES[token.lower()]
    try:
        return socket.getservbyname(token)
    except OSError:
        return None


@dataclass(frozen=True)
class Exposure:
    """A sensitive service: protocol and port range."""

    name: str
    proto: str
    ports: PortRange


def sensitive(params: dict[str, Any]) -> list[Exposure]:
    rtp = parse_ports(params["rtp_range"]) or []
    found = [Exposure("SIP", proto, (5060, 5061)) for proto in ("udp", "tcp")]
    found += [Exposure("RTP", "udp", r) for r in rtp]
    found += [Exposure("management", "tcp", (int(p), int(p))) for p in params["management_ports"]]
    return found


def rule_ports(rule: dict[str, Any]) -> list[tuple[str | None, PortRange]] | None:
    """(protocol or None for any, port range) a rule matches; None when its ports cannot be read."""
    proto = rule.get("proto")
    proto = PROTOCOLS.get(str(proto), str(proto).lower()) if proto else None
    if rule.get("macro"):
        return [(p, (lo, hi)) for p, lo, hi in MACROS.get(str(rule["macro"]), [])]
    if not rule.get("dport"):
        return [(proto, (0, 65535))]  # no port and no macro: every port
    ports = parse_ports(rule["dport"])
    return None if ports is None else [(proto, r) for r in ports]


def overlap(a: PortRange, b: PortRange) -> PortRange | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


# --- which rules apply to an instance ------------------------------------------------------------


def applied_rules(f: Findings, source: SourceView, fw: dict[str, Any]) -> list[tuple[dict[str, Any], LocalizedText]]:
    """The guest's enabled rules, with each enabled security group expanded into its enabled
    rules, each with where it comes from ("guest rule 3", "security group pbx-base")."""
    groups = {r.payload.get("group"): r for r in source.snap.of_kind("proxmox.firewall_group")}
    out: list[tuple[dict[str, Any], LocalizedText]] = []
    for rule in fw.get("rules") or []:
        if not rule.get("enable"):
            continue
        if rule.get("type") == "group":
            group = groups.get(rule.get("action"))
            f.cite(group)
            if group is None:
                f.gap(f"Security group {rule.get('action')} is used but missing from the evidence.",
                      f"Il gruppo di sicurezza {rule.get('action')} è usato ma manca dalle evidenze.")
                continue
            where = text(f"security group {rule.get('action')}", f"gruppo di sicurezza {rule.get('action')}")
            out += [(r, where) for r in group.payload.get("rules") or [] if r.get("enable")]
        else:
            out.append((rule, text(f"its rule {rule.get('pos')}", f"la sua regola {rule.get('pos')}")))
    return out


def open_to_all(source: SourceView, fw: dict[str, Any], rule: dict[str, Any]) -> bool:
    src = str(rule.get("source") or "").strip()
    if src in OPEN_SOURCES:
        return True
    resolved = resolve_ipset(source, fw, src)
    entries = resolved[1] if resolved else []
    return any(str(e.get("cidr")) in OPEN_SOURCES and not e.get("nomatch") for e in entries)


# --- FW-02 ----------------------------------------------------------------------------------------


def firewall_rules(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = view_for(ctx, tenant)
    if isinstance(view, CheckOutcome):
        return view
    f = Findings(used=list(view.used))
    for source, instance in view.instances:
        fw = guest_fw(f, source, instance)
        if fw is not None:
            rules_table(f, source, instance, fw)
            ipsets_table(f, source, instance, fw)
            _own_rules(f, instance, fw)
            _exposed(f, source, instance, fw, params)
    return f.outcome(text(
        "Each of this customer's instances has firewall rules of its own, and no SIP, RTP or management port is "
        "open to the whole Internet unless approved.",
        "Ciascuna istanza di questo cliente ha regole firewall proprie e nessuna porta SIP, RTP o di gestione è "
        "aperta a tutta Internet senza approvazione."))


def _own_rules(f: Findings, instance: Instance, fw: dict[str, Any]) -> None:
    own = [r for r in fw.get("rules") or [] if r.get("enable") and r.get("type") in ("in", "out")]
    label = instance.label()
    if not own:
        f.problem(f"{label} has no enabled firewall rule of its own (only shared security groups, or none).",
                  f"{label} non ha regole firewall proprie attive (solo gruppi di sicurezza condivisi, o nessuna).")
    else:
        f.fact(f"{label}: {len(own)} enabled rule(s) of its own.", f"{label}: {len(own)} regole proprie attive.")


def _approved(params: dict[str, Any], proto: str, ports: PortRange) -> dict[str, Any] | None:
    for entry in params.get("approved_open") or []:
        if str(entry.get("proto") or proto).lower() != proto:
            continue
        for allowed in parse_ports(entry.get("dport")) or []:
            if allowed[0] <= ports[0] and ports[1] <= allowed[1]:
                return dict(entry)
    return None


def _exposed(f: Findings, source: SourceView, instance: Instance, fw: dict[str, Any], params: dict[str, Any]) -> None:
    label = instance.label()
    inbound = [(r, where) for r, where in applied_rules(f, source, fw)
               if r.get("type") == "in" and str(r.get("action")).upper() == "ACCEPT"]
    if policy_in(fw) == "ACCEPT":
        inbound.append(({"type": "in", "action": "ACCEPT"}, text("the inbound default policy",
                                                                 "la politica predefinita in ingresso")))
    for rule, where in inbound:
        if not open_to_all(source, fw, rule):
            continue
        matched = rule_ports(rule)
        if matched is None:
            f.gap(f"The ports of {where['en']} of {label} ({rule.get('dport')}) could not be read.",
                  f"Le porte di {where['it']} di {label} ({rule.get('dport')}) non sono leggibili.")
            continue
        _judge_rule(f, label, where, matched, params)


def _judge_rule(f: Findings, label: str, where: LocalizedText, matched: list[tuple[str | None, PortRange]],
                params: dict[str, Any]) -> None:
    for exposure in sensitive(params):
        for proto, ports in matched:
            if proto not in (None, exposure.proto) or (hit := overlap(ports, exposure.ports)) is None:
                continue
            shown = f"{hit[0]}" if hit[0] == hit[1] else f"{hit[0]}:{hit[1]}"
            approved = _approved(params, exposure.proto, hit)
            if approved is not None:
                f.fact(f"{label}: {exposure.name} port {shown}/{exposure.proto} is open to any source by "
                       f"{where['en']}, approved ({approved.get('reason')}).",
                       f"{label}: la porta {exposure.name} {shown}/{exposure.proto} è aperta a qualsiasi origine da "
                       f"{where['it']}, approvata ({approved.get('reason')}).")
                continue
            f.problem(f"{label}: {exposure.name} port {shown}/{exposure.proto} is open to any source on the Internet "
                      f"({where['en']}) without approval.",
                      f"{label}: la porta {exposure.name} {shown}/{exposure.proto} è aperta a qualsiasi origine su "
                      f"Internet ({where['it']}) senza approvazione.")
