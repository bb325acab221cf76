"""Duty "dedicated": each customer's PBX runs on instances of its own."""

from __future__ import annotations

from typing import Any

from attest.attestation import LocalizedText, Verdict
from attest.config import TenantConfig
from attest.controls.instances import Found, Instance, claimer, find_instances
from attest.controls.pbx_evidence import finding_fact, pbx_evidence
from attest.engine import CheckContext, CheckOutcome, EvidenceGap, Snapshot
from evidence.log import StoredRecord

# ISO-01 must see the whole inventory: a guest that could not be read may carry this tenant's tag,
# so any inventory failure -- whoever's guest it is -- leaves the question open.
SECTIONS = ("inventory",)


def _gap(reason: LocalizedText, evidence: list[StoredRecord]) -> CheckOutcome:
    return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, reason, evidence=evidence)


def _read(ctx: CheckContext, tenant: TenantConfig, snap: Snapshot) -> Found | EvidenceGap:
    gap = snap.gap(SECTIONS, None)
    if gap is not None:
        return gap
    found = find_instances(ctx, tenant, snap)
    if found.gap is not None:
        return EvidenceGap(found.gap)
    return _with_later_sharing(ctx, tenant, snap, found)


def _with_later_sharing(ctx: CheckContext, tenant: TenantConfig, snap: Snapshot, found: Found) -> Found:
    """A later collection that was not usable can never prove an instance dedicated, but an
    instance it shows shared is shared: such records can only turn the verdict into a fail."""
    claim = claimer(ctx, tenant, snap)
    by_subject = {i.subject: i for i in found.instances}
    for record in snap.later_partial:
        later = claim(record)
        if later is not None and later.shared:
            by_subject[record.subject] = later
            found.used.append(record)
    found.instances = list(by_subject.values())
    return found


def dedicated_instance(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    """Dedicated on the virtualisation platform (tags/pools) and, where the tenant's PBX
    configuration is collected, in the PBX itself (INST-01: its phones belong to one tenant)."""
    platform = _on_platform(ctx, tenant)
    if platform.verdict == Verdict.FAIL:
        return platform
    found = pbx_evidence(ctx, tenant)
    if isinstance(found, EvidenceGap):
        if platform.verdict != Verdict.PASS:
            return platform  # the platform's own gap is the first thing to fix
        return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, found.reason, platform.facts, platform.evidence)
    if not found:
        note: LocalizedText = {
            "en": "No PBX configuration is collected for this customer: judged from the virtualisation platform only.",
            "it": "Per questo cliente non viene raccolta la configurazione del centralino: giudicato solo dalla "
                  "piattaforma di virtualizzazione.",
        }
        return CheckOutcome(platform.verdict, platform.reason, [*platform.facts, note], platform.evidence)
    facts, evidence = list(platform.facts), list(platform.evidence)
    shared, open_ = [], []
    for pbx in found:
        evidence += [pbx.record, pbx.snapshot.run_record]
        result = pbx.analysis.check("INST-01")
        if result.status == "fail" and result.involving(tenant.id):
            shared.append(pbx.source.id)
            facts += [finding_fact(result, f, tenant.id) for f in result.involving(tenant.id)[:1]]
        elif result.status == "not_evaluated":
            open_.append(pbx.source.id)
        else:
            own = next((t for t in pbx.analysis.tenants if t["id"] == tenant.id), None)
            count = own["endpoints"] if own else 0
            facts.append({"en": f"PBX {pbx.source.id}: all {count} phone endpoint(s) belong to this customer.",
                          "it": f"Centralino {pbx.source.id}: tutti i {count} telefoni appartengono a questo cliente."})
    if shared:
        names = ", ".join(shared)
        return CheckOutcome(Verdict.FAIL, {
            "en": f"The configuration of PBX {names} also holds phones of another customer: the phone system is "
                  "shared, not dedicated.",
            "it": f"La configurazione del centralino {names} contiene anche telefoni di un altro cliente: il "
                  "centralino è condiviso, non dedicato.",
        }, facts, evidence)
    if open_ or platform.verdict != Verdict.PASS:
        reason = platform.reason if platform.verdict != Verdict.PASS else {
            "en": f"Whether PBX {', '.join(open_)} serves only this customer could not be evaluated from its "
                  "configuration.",
            "it": f"Non è stato possibile verificare dalla configurazione se il centralino {', '.join(open_)} serve "
                  "solo questo cliente."}
        return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, reason, facts, evidence)
    return CheckOutcome(Verdict.PASS, {
        "en": f"{platform.reason['en']} The PBX configuration confirms it: its phones belong to this customer only.",
        "it": f"{platform.reason['it']} La configurazione del centralino lo conferma: i suoi telefoni appartengono "
              "solo a questo cliente.",
    }, facts, evidence, platform.tables)


def _on_platform(ctx: CheckContext, tenant: TenantConfig) -> CheckOutcome:
    sources = ctx.source_ids("proxmox_ve")
    if not sources:
        return _gap({"en": "No virtualisation platform is configured as an evidence source.",
                     "it": "Nessuna piattaforma di virtualizzazione è configurata come fonte di evidenze."}, [])
    instances: list[Instance] = []
    used: list[StoredRecord] = []
    for source_id in sources:
        picked = ctx.pick(source_id, ctx.max_age, SECTIONS, lambda snap: _read(ctx, tenant, snap))
        if isinstance(picked, EvidenceGap):
            return _gap(picked.reason, used)
        found = picked[1]
        used += found.used
        instances += found.instances
    if not instances:
        return CheckOutcome(Verdict.FAIL, {
            "en": "No PBX instance assigned to this customer was found on the provider's platform.",
            "it": "Sulla piattaforma del fornitore non è stata trovata alcuna istanza PBX assegnata a questo cliente.",
        }, evidence=used)
    facts = [_fact(i, ctx) for i in instances]
    shared = [i for i in instances if i.shared]
    if shared:
        names = ", ".join(i.label() for i in shared)
        return CheckOutcome(Verdict.FAIL, {
            "en": f"{names} {'is' if len(shared) == 1 else 'are'} also assigned to another customer, so this "
                  "customer's phone system is not on a dedicated instance.",
            "it": f"{names} {'è assegnata' if len(shared) == 1 else 'sono assegnate'} anche a un altro cliente: il "
                  "centralino di questo cliente non è su un'istanza dedicata.",
        }, facts, used)
    n = len(instances)
    return CheckOutcome(Verdict.PASS, {
        "en": f"{n} PBX instance{'s' if n > 1 else ''} found for this customer, none assigned to any other customer.",
        "it": f"{n} istanz{'e' if n > 1 else 'a'} PBX trovat{'e' if n > 1 else 'a'} per questo cliente, nessuna "
              "assegnata ad altri clienti.",
    }, facts, used)


def _fact(instance: Instance, ctx: CheckContext) -> LocalizedText:
    g = instance.guest
    site = next((s for s in ctx.config.model.sites if s.id == g.get("site")), None)
    where_en = f"node {g.get('node')}" + (f" ({site.name}, {site.country})" if site else "")
    where_it = f"nodo {g.get('node')}" + (f" ({site.name}, {site.country})" if site else "")
    how = ", ".join(instance.own)
    if instance.shared:
        return {"en": f"{instance.label()} on {where_en}: assigned to this customer ({how}) and also to another "
                      "customer.",
                "it": f"{instance.label()} su {where_it}: assegnata a questo cliente ({how}) e anche a un altro "
                      "cliente."}
    return {"en": f"{instance.label()} on {where_en}: assigned to this customer only ({how}).",
            "it": f"{instance.label()} su {where_it}: assegnata solo a questo cliente ({how})."}
