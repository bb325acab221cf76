"""Duty "datacenter": the customer's PBX runs, and may be moved by HA, only in certified
datacenters in allowed countries (PLACE-01)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from attest.config import SiteConfig, TenantConfig
from attest.controls.cluster_ha import ha_nodes, ha_subjects
from attest.controls.findings import Findings, text
from attest.controls.instances import SYS_AUDIT, Instance, SourceView, insufficient, no_instance, tenant_view
from attest.controls.tables import INSTANCE, NODE, NONE, YES, mark
from attest.engine import CheckContext, CheckOutcome, EvidenceGap

SECTIONS = ("cluster", "ha")


def _node_sites(ctx: CheckContext, source_id: str) -> dict[str, str]:
    """node -> site id, as the evaluated configuration declares it (recorded in attest.config)."""
    src = next((s for s in ctx.config.model.sources if s.id == source_id), None)
    return dict(getattr(src, "node_sites", {}) or {})


def _period_last_day(ctx: CheckContext) -> date:
    local_end = ctx.period.end.astimezone(ZoneInfo(ctx.period.time_zone)) - timedelta(seconds=1)
    return local_end.date()


def place(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = tenant_view(ctx, tenant, SECTIONS, SYS_AUDIT, ha_subjects)
    if isinstance(view, EvidenceGap):
        return insufficient(view.reason)
    if not view.instances:
        return no_instance(view)
    f = Findings(used=list(view.used))
    sites: dict[str, list[str]] = {}  # site id -> nodes in use, judged once per site
    placed: list[tuple[Instance, str, str | None]] = []  # (instance, node, site id) for the table
    for source, instance in view.instances:
        placed += _placement(ctx, f, source, instance, sites)
    allowed = {str(c).upper() for c in params["allowed_countries"]}
    certs = {site_id: _site(ctx, f, site_id, allowed) for site_id in sorted(sites)}
    _table(ctx, f, placed, certs)
    names = ", ".join(sorted(sites))
    return f.outcome(text(
        f"Every node this customer's instances run on or may be moved to is in a registered datacenter ({names}) in "
        "an allowed country, with its declared certifications valid and documented.",
        f"Ogni nodo su cui le istanze di questo cliente girano o possono essere spostate si trova in un datacenter "
        f"registrato ({names}) in un paese ammesso, con certificazioni dichiarate valide e documentate."))


def _placement(ctx: CheckContext, f: Findings, source: SourceView, instance: Instance,
               sites: dict[str, list[str]]) -> list[tuple[Instance, str, str | None]]:
    snap = source.snap
    f.cite(snap.one("proxmox.cluster"), source.guest_record("proxmox.ha_resource", instance, "/ha"))
    placement = ha_nodes(snap, instance)
    mapping = _node_sites(ctx, snap.source_id)
    label = instance.label()
    unmapped = sorted(n for n in placement.nodes if n not in mapping)
    if unmapped:
        # The provider's own register does not place these nodes: where the data may be is then
        # not declared at all, which is a failure of the control, not a gap in the collection.
        f.problem(f"{label} may run on node(s) {', '.join(unmapped)} ({placement.how['en']}), which the provider "
                  "has not assigned to any registered site.",
                  f"{label} può girare sui nodi {', '.join(unmapped)} ({placement.how['it']}), che il fornitore non "
                  "ha assegnato ad alcun sito registrato.")
    mapped = sorted(n for n in placement.nodes if n in mapping)
    for node in mapped:
        sites.setdefault(mapping[node], []).append(node)
    where = ", ".join(f"{n} ({mapping[n]})" for n in mapped) or "none"
    f.fact(f"{label} runs on node {instance.node}; HA may run it on: {where} ({placement.how['en']}).",
           f"{label} gira sul nodo {instance.node}; l'HA può eseguirla su: {where} ({placement.how['it']}).")
    return [(instance, node, mapping.get(node)) for node in sorted(placement.nodes)]


# A certification as the table shows it: standard, number, expiry, document on record.
CertCells = tuple[str, str, str, str]


def _table(ctx: CheckContext, f: Findings, placed: list[tuple[Instance, str, str | None]],
           certs: dict[str, list[CertCells]]) -> None:
    t = f.table("Where the instances run or may be moved, and the sites' certifications",
                "Dove le istanze girano o possono essere spostate, e le certificazioni dei siti",
                INSTANCE, NODE, ("Runs there now", "Gira lì ora"), ("Site", "Sito"), ("Site kind", "Tipo di sito"),
                ("Country", "Paese"), ("Certification", "Certificazione"), ("Number", "Numero"),
                ("Expires", "Scadenza"), ("Document on record", "Documento agli atti"))
    for instance, node, site_id in placed:
        site = next((s for s in ctx.config.model.sites if s.id == site_id), None)
        where = (site.name, site.kind, site.country) if site else (site_id, None, None)
        now = YES if node == instance.node else NONE
        for cert in certs.get(str(site_id)) or [(NONE, NONE, NONE, NONE)]:
            t.add(instance.label(), node, now, *where, *cert)


def _site(ctx: CheckContext, f: Findings, site_id: str, allowed: set[str]) -> list[CertCells]:
    site = next((s for s in ctx.config.model.sites if s.id == site_id), None)
    if site is None:  # the config loader refuses this; kept so a hand-made config cannot pass
        f.problem(f"Site {site_id} is not registered.", f"Il sito {site_id} non è registrato.")
        return []
    if site.kind != "datacenter":
        f.problem(f"Site {site.name} is registered as '{site.kind}', not as a datacenter.",
                  f"Il sito {site.name} è registrato come '{site.kind}', non come datacenter.")
    if site.country.upper() not in allowed:
        f.problem(f"Site {site.name} is in {site.country}, outside the allowed countries.",
                  f"Il sito {site.name} si trova in {site.country}, fuori dai paesi ammessi.")
    f.fact(f"Site {site.name} ({site.country}), {site.kind}, operated by {site.operator}.",
           f"Sito {site.name} ({site.country}), {site.kind}, gestito da {site.operator}.")
    return _certifications(ctx, f, site)


def _certifications(ctx: CheckContext, f: Findings, site: SiteConfig) -> list[CertCells]:
    last_day = _period_last_day(ctx)
    documents = ctx.manual("manual.site_certificate", f"site/{site.id}")
    cells: list[CertCells] = []
    for cert in site.certifications:
        doc = next((d for d in reversed(documents) if d.payload.get("reference") == cert.number), None)
        cells.append((cert.standard, cert.number, cert.expires, mark(doc is not None)))
        what = f"{cert.standard} certificate {cert.number} of {site.name}"
        what_it = f"Il certificato {cert.standard} n. {cert.number} di {site.name}"
        if date.fromisoformat(cert.expires) < last_day:
            f.problem(f"The {what} expired on {cert.expires}, before the end of the period.",
                      f"{what_it} è scaduto il {cert.expires}, prima della fine del periodo.")
        elif doc is None:
            f.gap(f"The {what} is declared, but no copy of it has been added to the evidence.",
                  f"{what_it} è dichiarato, ma nessuna copia è stata aggiunta alle evidenze.")
        else:
            f.cite(doc)
            f.fact(f"The {what} (issued by {cert.issuer}) is valid until {cert.expires}; its document is on record.",
                   f"{what_it} (emesso da {cert.issuer}) è valido fino al {cert.expires}; il documento è agli atti.")
    return cells
