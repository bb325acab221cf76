"""From an Evaluation to the fleet's figures: counts and denominators, never a tenant's name.

Everything here reads the per-tenant results the engine produced (and, to count instances, the
`proxmox.guest` records those results cite); nothing is judged again, so a fleet figure can
always be traced to the per-tenant verdicts of the same evaluation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from attest.attestation import LocalizedText, Measure, Result, Verdict
from attest.config import LoadedConfig
from attest.engine import Evaluation
from attest.fleet.model import (
    AvailabilityBucket,
    AvailabilityDistribution,
    BucketKey,
    FleetException,
    FleetFigure,
    VerdictCounts,
)
from evidence.log import EvidenceLog

GUEST_KIND = "proxmox.guest"
SLA_CONTROL = "SLA-01"

# The areas of the fleet document, in the order it shows them. Each catalog control belongs to
# the area named here, else to the area of its duty: a control added to the catalog later is
# counted in its duty's figure, never silently left out.
AREA_OF_CONTROL = {"BK-01": "backup_rpo", "BK-02": "backup_rpo", "BK-03": "backup_kept", "BK-04": "backup_offsite"}
AREAS: dict[str, LocalizedText] = {
    "dedicated": {"en": "Dedicated PBX instance", "it": "Istanza PBX dedicata"},
    "datacenter": {"en": "Hosted only in certified EU datacenters", "it": "Ospitato solo in datacenter UE certificati"},
    "cluster_ha": {"en": "High availability (HA-protected)", "it": "Alta affidabilità (protetto da HA)"},
    "backup_rpo": {"en": "Backed up within the RPO (job in place, recent successful backup)",
                   "it": "Backup entro l'RPO (job configurato, backup recente riuscito)"},
    "backup_kept": {"en": "Backups kept, verified and encrypted", "it": "Backup conservati, verificati e cifrati"},
    "backup_offsite": {"en": "Off-site backup copy and restore test",
                       "it": "Copia di backup fuori sede e prova di ripristino"},
    "firewall": {"en": "Behind a firewall, no unapproved open ports",
                 "it": "Protetto da firewall, nessuna porta aperta non approvata"},
    "lists": {"en": "Whitelist, blacklist and anti-spoofing", "it": "Whitelist, blacklist e anti-spoofing"},
    "isolation": {"en": "Isolated from other tenants (calls, call records)",
                  "it": "Isolato dagli altri clienti (chiamate, registri delle chiamate)"},
    "sla": {"en": "Availability meets the contracted target",
            "it": "Disponibilità conforme all'obiettivo contrattuale"},
}
ALL_AREA = "all"
ALL_TITLE: LocalizedText = {"en": "Every control passed", "it": "Tutti i controlli superati"}

# What an exception says: the verdict in general words. A tenant's own reason names its
# instances, nodes and addresses, so it is never copied here.
GENERIC_REASONS: dict[Verdict, LocalizedText] = {
    Verdict.FAIL: {"en": "Not met: this tenant's evidence shows the control not satisfied.",
                   "it": "Non soddisfatto: le evidenze di questo cliente mostrano il controllo non rispettato."},
    Verdict.INSUFFICIENT_EVIDENCE: {
        "en": "Not assessed: the evidence needed was missing, stale or incomplete; not counted as met.",
        "it": "Non valutato: le evidenze necessarie mancavano, erano scadute o incomplete; non conteggiato "
              "come soddisfatto."},
    Verdict.WAIVED: {"en": "Covered by an accepted exception (waiver) with an approver and an expiry; not counted "
                           "as met.",
                     "it": "Coperto da un'eccezione accettata (deroga) con approvatore e scadenza; non conteggiato "
                           "come soddisfatto."},
}

# Shortfall bounds of the availability buckets, in percentage points below the target.
NEAR_PP = 0.05
FAR_PP = 0.5
BUCKETS: tuple[BucketKey, ...] = ("met", "below_lt_0_05pp", "below_0_05_to_0_5pp", "below_gt_0_5pp", "not_measured")

# Leaf hashes per SQL query: below SQLite's oldest bound on bound parameters (999).
_CHUNK = 900


@dataclass(frozen=True)
class FleetFigures:
    tenant_count: int
    instance_count: int
    figures: list[FleetFigure]
    availability: AvailabilityDistribution
    exceptions: list[FleetException]


def area_of(result: Result) -> str:
    return AREA_OF_CONTROL.get(result.control_id, result.duty)


def combined(verdicts: Iterable[Verdict]) -> Verdict:
    """A tenant's verdict for an area: the worst of its controls' (fail, then insufficient
    evidence, then waived); pass needs at least one pass; none given or all not applicable → not
    applicable. Missing results are the caller's to count as insufficient evidence."""
    found = set(verdicts)
    for worst in (Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE, Verdict.WAIVED, Verdict.PASS):
        if worst in found:
            return worst
    return Verdict.NOT_APPLICABLE


def count(verdicts: Sequence[tuple[Verdict, int]]) -> VerdictCounts:
    """Sum the weights (1 per tenant, or its instance count) per verdict."""
    tally = dict.fromkeys(Verdict, 0)
    for verdict, weight in verdicts:
        tally[verdict] += weight
    return VerdictCounts(denominator=sum(tally.values()), passed=tally[Verdict.PASS], failed=tally[Verdict.FAIL],
                         insufficient_evidence=tally[Verdict.INSUFFICIENT_EVIDENCE], waived=tally[Verdict.WAIVED],
                         not_applicable=tally[Verdict.NOT_APPLICABLE])


def instance_counts(log: EvidenceLog, evaluation: Evaluation) -> dict[str, int]:
    """tenant id -> the distinct Proxmox guests its results cite (`proxmox.guest` records: the
    instances the checks attributed to it). A tenant whose inventory could not be read has 0."""
    wanted = sorted({h for results in evaluation.results.values() for r in results for h in r.evidence})
    guest_of: dict[str, str] = {}
    for i in range(0, len(wanted), _CHUNK):
        for rec in log.records(kind=GUEST_KIND, leaves=wanted[i:i + _CHUNK], up_to=evaluation.checkpoint.tree_size):
            guest_of[rec.leaf_hex] = rec.subject
    return {tid: len({guest_of[h] for r in results for h in r.evidence if h in guest_of})
            for tid, results in evaluation.results.items()}


def figures(evaluation: Evaluation, instances: dict[str, int], areas: Sequence[str]) -> list[FleetFigure]:
    controls: dict[str, set[str]] = {a: set() for a in areas}
    for results in evaluation.results.values():
        for r in results:
            controls.setdefault(area_of(r), set()).add(r.control_id)
    out = []
    for area in [*areas, *sorted(set(controls) - set(areas)), ALL_AREA]:
        ids = sorted(set().union(*controls.values())) if area == ALL_AREA else sorted(controls[area])
        if not ids:  # no control of the catalog judges this area: no figure rather than a hollow one
            continue
        per_tenant = []
        for tid, results in evaluation.results.items():
            mine = [r.verdict for r in results if r.control_id in ids]
            # A control of the area that was not judged for this tenant is not assessed, not n/a.
            verdict = combined(mine) if len(mine) >= len(ids) else combined([*mine, Verdict.INSUFFICIENT_EVIDENCE])
            per_tenant.append((tid, verdict))
        title = ALL_TITLE if area == ALL_AREA else AREAS.get(area, {"en": area, "it": area})
        out.append(FleetFigure(area=area, title=title, controls=ids,
                               tenants=count([(v, 1) for _, v in per_tenant]),
                               instances=count([(v, instances.get(tid, 0)) for tid, v in per_tenant])))
    return out


def _bucket(availability: Measure) -> BucketKey:
    if availability.met:
        return "met"
    shortfall = (availability.target or 0.0) - (availability.value or 0.0)
    if shortfall < NEAR_PP:
        return "below_lt_0_05pp"
    return "below_0_05_to_0_5pp" if shortfall <= FAR_PP else "below_gt_0_5pp"


def availability(config: LoadedConfig, evaluation: Evaluation) -> AvailabilityDistribution:
    """Every configured SLA instance of the evaluated tenants, placed by SLA-01's measures."""
    buckets = dict.fromkeys(BUCKETS, 0)
    values: list[float] = []
    margins: list[float] = []
    without = 0
    for tid, results in evaluation.results.items():
        configured = config.tenant(tid).sla_instances
        if not configured:
            without += 1
            continue
        sla = next((r for r in results if r.control_id == SLA_CONTROL), None)
        measures = sla.measures if sla is not None else []
        avail = {m.subject: m for m in measures if m.name == "availability"}
        covered = {m.subject for m in measures if m.name == "coverage" and m.met}
        for instance in configured:
            m = avail.get(instance)
            if m is None or m.value is None or m.target is None or m.met is None or instance not in covered:
                buckets["not_measured"] += 1
                continue
            buckets[_bucket(m)] += 1
            values.append(m.value)
            margins.append(m.value - m.target)
    return AvailabilityDistribution(
        with_target=sum(buckets.values()), measured=len(values),
        buckets=[AvailabilityBucket(key=k, count=n) for k, n in buckets.items()],
        min_availability=_round(min(values)) if values else None,
        median_availability=_round(statistics.median(values)) if values else None,
        min_margin_pp=_round(min(margins)) if margins else None,
        median_margin_pp=_round(statistics.median(margins)) if margins else None,
        tenants_without_sla_instances=without)


def _round(value: float) -> float:
    return round(value, 4)


def exceptions(evaluation: Evaluation, key: bytes) -> list[FleetException]:
    """Every result that is not a pass and applies (fail, insufficient evidence, waived), under a
    label numbered in the order of a keyed hash of the tenant id. The key is secret and thrown
    away: whoever guesses a customer's id cannot find its label, and the numbers say nothing of
    the ids' order."""
    flagged = {tid: [r for r in results if r.verdict in GENERIC_REASONS] for tid, results in evaluation.results.items()}
    order = sorted((t for t, rs in flagged.items() if rs),
                   key=lambda t: hmac.new(key, t.encode(), hashlib.sha256).digest())
    return [FleetException(tenant=f"tenant {n}", control_id=r.control_id, verdict=r.verdict,
                           reason=GENERIC_REASONS[r.verdict])
            for n, tid in enumerate(order, start=1) for r in sorted(flagged[tid], key=lambda r: r.control_id)]


def aggregate(config: LoadedConfig, log: EvidenceLog, evaluation: Evaluation, key: bytes | None = None) -> FleetFigures:
    """The fleet's figures for *evaluation*. *key* orders the anonymised exceptions (tests give
    one; by default a fresh random key that nobody keeps)."""
    instances = instance_counts(log, evaluation)
    return FleetFigures(
        tenant_count=len(evaluation.results),
        instance_count=sum(instances.values()),
        figures=figures(evaluation, instances, list(AREAS)),
        availability=availability(config, evaluation),
        exceptions=exceptions(evaluation, key if key is not None else secrets.token_bytes(32)),
    )
