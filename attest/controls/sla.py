"""Duty "sla": the availability the customer was given this month, measured from outside.

Availability = up / (up + down) and coverage = (up + down) / (period − excluded), per instance,
by `attest.sla.engine`; the tenant's figure is its worst instance's. Coverage under the minimum
on any instance makes the verdict `insufficient_evidence`, whatever the availability says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal

from attest.attestation import FactTable, LocalizedText, Measure, Verdict
from attest.config import TenantConfig
from attest.controls.sla_causes import outage_causes
from attest.controls.sla_evidence import Window, describe_window, gather, maintenance, notice_records
from attest.engine import CheckContext, CheckOutcome, EvidenceGap
from attest.sla import SlaResult, evaluate, merge_worst
from attest.sla.timeline import month_timeline
from evidence.log import StoredRecord


def _pct(value: float | None, lang: str = "en") -> str:
    """``99.953 %`` / ``99,953 %``: three decimals, the decimal mark of the document's language."""
    if value is None:
        return "—"
    return format_decimal(value * 100, format="0.000", locale="it_IT" if lang == "it" else "en_GB") + " %"


def _dur(seconds: float) -> str:
    s = round(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    parts = [f"{d} d" if d else "", f"{h} h" if h else "", f"{m} min" if m else "", f"{s} s" if s and not d else ""]
    return " ".join(p for p in parts if p) or "0 s"


def _local(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _gap(en: str, it: str, facts: list[LocalizedText] | None = None,
         evidence: list[StoredRecord] | None = None) -> CheckOutcome:
    return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, {"en": en, "it": it}, facts or [], evidence or [])


ZABBIX_KIND = "sla.zabbix.sli"


def _zabbix_cross_check(ctx: CheckContext, results: list[SlaResult], tolerance_pp: float
                        ) -> tuple[list[LocalizedText], list[StoredRecord]]:
    """Zabbix's SLI for the same instances and month against the probes' availability: a
    disagreement beyond the tolerance is stated in the document (the probes still decide)."""
    from collectors.sla.zabbix import compare

    facts: list[LocalizedText] = []
    used: list[StoredRecord] = []
    by_instance = {r.instance: r for r in results}
    for src in ctx.config.zabbix_sources():
        snap = ctx.snapshot(src.id, ctx.max_age, ("sli",))
        if isinstance(snap, EvidenceGap):
            facts.append({"en": f"Zabbix cross-check not available: {snap.reason['en']}",
                          "it": f"Verifica incrociata con Zabbix non disponibile: {snap.reason['it']}"})
            continue
        for rec in snap.of_kind(ZABBIX_KIND):
            r = by_instance.get(str(rec.payload.get("instance")))
            if r is None or not rec.subject.endswith("/" + ctx.period.label) or r.availability is None:
                continue
            used.append(rec)
            sli = float(rec.payload["sli"])
            differs = compare(r.availability, sli, tolerance_pp)
            if differs:
                facts.append({"en": f"{r.instance}: {differs}",
                              "it": f"{r.instance}: Zabbix riporta {sli:.3f} %, le sonde {_pct(r.availability, 'it')}: "
                                    f"differiscono di più di {tolerance_pp:g} punti percentuali."})
            else:
                facts.append({"en": f"{r.instance}: Zabbix reports {sli:.3f} % for {ctx.period.label}, within "
                                    f"{tolerance_pp:g} points of the probes.",
                              "it": f"{r.instance}: Zabbix riporta {sli:.3f} % per {ctx.period.label}, entro "
                                    f"{tolerance_pp:g} punti dalle sonde."})
        used.append(snap.run_record)
    return facts, used


def availability(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    instances = list(tenant.sla_instances)
    if not instances:
        return _gap("No SLA instance is configured for this customer (tenants[].sla_instances), so its "
                    "availability is not measured.",
                    "Per questo cliente non è configurata alcuna istanza SLA (tenants[].sla_instances): la "
                    "disponibilità non è misurata.")
    if not ctx.config.sla_sources():
        return _gap("No probe or monitoring source is configured.", "Nessuna fonte di sonde o monitoraggio è "
                    "configurata.")
    tz = ZoneInfo(ctx.period.time_zone)
    start, end = ctx.period.start, min(ctx.period.end, ctx.as_of)
    if end <= start:
        return _gap("The period has not started.", "Il periodo non è iniziato.")
    target = tenant.sla_target / 100
    min_coverage = float(params["min_coverage"]) / 100
    notice = float(params["notice_hours"])
    settle = timedelta(hours=float(params["settle_hours"]))
    gathered = gather(ctx, instances, start, end, settle)
    results: list[SlaResult] = []
    facts: list[LocalizedText] = []
    all_windows: list[Window] = []
    for instance in instances:
        inst = gathered.instances[instance]
        windows = maintenance(ctx, instance, start, end, notice)
        all_windows += windows
        facts += [describe_window(w, notice) for w in windows]
        results.append(evaluate(
            {v: s for v, s in inst.series.items()}, interval=inst.interval_s or 60.0, start=start.timestamp(),
            end=end.timestamp(), confirm_after=int(params["confirm_after"]),
            exclusions=[(w.start.timestamp(), w.end.timestamp()) for w in windows if w.excluded],
            conservative=bool(params["conservative"]), target=target, instance=instance))
    evidence = ([r for i in instances for r in gathered.instances[i].records] + gathered.runs
                + notice_records(all_windows))
    span = f"{_local(start.timestamp(), tz)} – {_local(end.timestamp(), tz)} ({ctx.period.time_zone})"
    facts.insert(0, {
        "en": f"Period {ctx.period.label}: {span}, {_dur(end.timestamp() - start.timestamp())} "
              f"({end.timestamp() - start.timestamp():.0f} s) — the denominator before exclusions.",
        "it": f"Periodo {ctx.period.label}: {span}, {_dur(end.timestamp() - start.timestamp())} "
              f"({end.timestamp() - start.timestamp():.0f} s) — il denominatore prima delle esclusioni."})
    facts.insert(1, {
        "en": "Availability = time up ÷ (time up + time down); coverage = (time up + time down) ÷ (period − "
              f"maintenance announced ≥ {notice:g} h ahead); a failure counts after {params['confirm_after']} "
              "consecutive failed probes from a place, and only when most places with data agree"
              + ("; time with no data counts as down (conservative mode)." if params["conservative"] else "."),
        "it": "Disponibilità = tempo su ÷ (tempo su + tempo giù); copertura = (tempo su + tempo giù) ÷ (periodo − "
              f"manutenzioni annunciate con ≥ {notice:g} h di anticipo); un guasto conta dopo "
              f"{params['confirm_after']} interrogazioni fallite consecutive da un punto, e solo se la maggior "
              "parte dei punti con dati concorda"
              + ("; il tempo senza dati conta come giù (modalità prudente)." if params["conservative"] else ".")})
    if gathered.searched_until > ctx.as_of:
        facts.insert(2, {
            "en": f"The month is over: samples of it collected up to {_local(gathered.searched_until.timestamp(), tz)} "
                  f"({params['settle_hours']:g} h after its end at most) were used; later collections are not.",
            "it": f"Il mese è chiuso: sono stati usati i suoi campioni raccolti fino al "
                  f"{_local(gathered.searched_until.timestamp(), tz)} (al massimo {params['settle_hours']:g} h dopo "
                  "la fine); le raccolte successive no."})
    for r in results:
        facts.append({
            "en": f"{r.instance}: availability {_pct(r.availability)}, coverage {_pct(r.coverage)}; up "
                  f"{_dur(r.up_s)}, down {_dur(r.down_s)}, no data {_dur(r.unknown_s)}, excluded {_dur(r.excluded_s)}; "
                  f"{r.outage_count} outage(s)"
                  + (f", MTTR {_dur(r.mttr_s)}, longest {_dur(r.longest_s)}" if r.mttr_s is not None else "")
                  + (f"; error budget used {r.error_budget_used * 100:.0f} %" if r.error_budget_used is not None
                     else "") + f"; from {', '.join(sorted(gathered.instances[r.instance].sources)) or 'no source'}.",
            "it": f"{r.instance}: disponibilità {_pct(r.availability, 'it')}, copertura {_pct(r.coverage, 'it')}; su "
                  f"{_dur(r.up_s)}, giù {_dur(r.down_s)}, senza dati {_dur(r.unknown_s)}, esclusi "
                  f"{_dur(r.excluded_s)}; {r.outage_count} interruzioni"
                  + (f", MTTR {_dur(r.mttr_s)}, più lunga {_dur(r.longest_s)}" if r.mttr_s is not None else "")
                  + (f"; budget di errore usato {r.error_budget_used * 100:.0f} %" if r.error_budget_used is not None
                     else "") + "."})
    cross, cross_records = _zabbix_cross_check(ctx, results, float(params["agreement_tolerance_pp"]))
    facts += cross
    evidence += cross_records
    if gathered.broken:
        facts.append({"en": f"The sources could not read everything: {'; '.join(gathered.broken[:5])}.",
                      "it": f"Le fonti non hanno letto tutto: {'; '.join(gathered.broken[:5])}."})
    causes = outage_causes(ctx, tenant, results, ctx.period.time_zone)
    facts += causes.facts
    evidence += causes.evidence
    lang = tenant.language
    rows = [[r.instance, _local(o.start, tz), _local(o.end, tz), _dur(o.duration), causes.of(r.instance, i)[lang]]
            for r in results for i, o in enumerate(r.outages)]
    tables = [FactTable(title={"en": "Outages", "it": "Interruzioni"},
                        columns=[{"en": "instance", "it": "istanza"}, {"en": "start", "it": "inizio"},
                                 {"en": "end", "it": "fine"}, {"en": "duration", "it": "durata"},
                                 {"en": "cause (Proxmox task log)", "it": "causa (registro attività Proxmox)"}],
                        rows=rows)] if rows else []
    timelines = [month_timeline(results, ctx.period.start, ctx.period.end, end, ctx.period.time_zone,
                                {"en": f"The month {ctx.period.label} at a glance",
                                 "it": f"Il mese {ctx.period.label} in sintesi"})]
    low = [r for r in results if r.coverage is None or r.coverage < min_coverage]
    measures = _measures(results, tenant.sla_target, min_coverage)
    if low:
        names = {lang: ", ".join(f"{r.instance} {_pct(r.coverage, lang)}" for r in low) for lang in ("en", "it")}
        return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, {
            "en": f"Coverage is below the required {min_coverage * 100:g} % ({names['en']}): too much of the month "
                  "was not measured to state an availability.",
            "it": f"La copertura è inferiore al {min_coverage * 100:g} % richiesto ({names['it']}): una parte troppo "
                  "grande del mese non è stata misurata per dichiarare una disponibilità.",
        }, facts, evidence, tables, timelines, measures)
    worst = merge_worst(results)
    assert worst.availability is not None  # coverage > 0 means some up or down time
    verdict = Verdict.PASS if worst.availability >= target else Verdict.FAIL
    comparison = ("≥" if verdict == Verdict.PASS else "<")
    return CheckOutcome(verdict, {
        "en": f"Availability {_pct(worst.availability)} {comparison} the contracted {tenant.sla_target:g} % "
              f"(worst instance {worst.instance}; coverage {_pct(worst.coverage)}; {worst.outage_count} outage(s)).",
        "it": f"Disponibilità {_pct(worst.availability, 'it')} {comparison} al {tenant.sla_target:g} % contrattuale "
              f"(istanza peggiore {worst.instance}; copertura {_pct(worst.coverage, 'it')}; {worst.outage_count} "
              "interruzioni).",
    }, facts, evidence, tables, timelines, measures)


def _measures(results: list[SlaResult], target_pct: float, min_coverage: float) -> list[Measure]:
    """Availability and coverage per instance, in %, for machines (the fleet distribution). An
    availability over too little coverage is not judged (met None), as the verdict does not."""
    out: list[Measure] = []
    for r in results:
        covered = r.coverage is not None and r.coverage >= min_coverage
        out.append(Measure(name="availability", subject=r.instance,
                           value=None if r.availability is None else round(r.availability * 100, 6),
                           target=target_pct,
                           met=None if r.availability is None or not covered else r.availability >= target_pct / 100))
        out.append(Measure(name="coverage", subject=r.instance,
                           value=None if r.coverage is None else round(r.coverage * 100, 6),
                           target=round(min_coverage * 100, 6), met=covered))
    return out
