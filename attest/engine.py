"""The control engine: judge every control for every tenant from the evidence log.

Checks never fetch (DESIGN.md §3.1): they read the log through a `CheckContext`, which hands
them only evidence that is complete (from a source collection that succeeded) and fresh (no
older than the control's maximum age at the as-of instant). Anything else reaches the check as
an `EvidenceGap`, which becomes `insufficient_evidence`, never `pass`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from attest.attestation import LocalizedText, Result, Verdict
from attest.canonical import digest_of, utc_iso
from attest.catalog import Control, load_catalog
from attest.config import LoadedConfig, TenantConfig
from attest.period import Period
from evidence.log import CheckpointSigner, EvidenceLog, LogIntegrityError, NewRecord, SignedCheckpoint, StoredRecord

logger = logging.getLogger(__name__)


def fmt_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_age(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{age.total_seconds() / 60:.0f} min"


@dataclass(frozen=True)
class EvidenceGap:
    """Why a check cannot rely on a source: the reason is written for the customer."""

    reason: LocalizedText


@dataclass(frozen=True)
class Snapshot:
    """The records of one source's most recent complete collection at the as-of instant."""

    source_id: str
    run_id: int
    collected_at: datetime
    records: tuple[StoredRecord, ...]
    run_record: StoredRecord  # the signed `attest.run` record stating this collection completed
    # Records from later collections that did not complete: never enough for a pass, but a
    # violation they show is still a violation.
    later_partial: tuple[StoredRecord, ...] = ()

    def of_kind(self, kind: str) -> list[StoredRecord]:
        return [r for r in self.records if r.kind == kind]

    def one(self, kind: str) -> StoredRecord | None:
        found = self.of_kind(kind)
        return found[0] if found else None


@dataclass
class CheckOutcome:
    verdict: Verdict
    reason: LocalizedText
    facts: list[LocalizedText] = field(default_factory=list)
    evidence: list[StoredRecord] = field(default_factory=list)


class CheckContext:
    def __init__(self, config: LoadedConfig, log: EvidenceLog, as_of: datetime, period: Period,
                 config_record: StoredRecord, tenant_records: dict[str, StoredRecord]) -> None:
        self.config = config
        self.log = log
        self.as_of = as_of
        self.period = period
        self.config_record = config_record
        self.tenant_records = tenant_records
        self._snapshots: dict[tuple[str, timedelta], Snapshot | EvidenceGap] = {}
        self.max_age = timedelta(hours=24)  # set to the current control's maximum evidence age by judge()

    @property
    def tenants(self) -> list[TenantConfig]:
        return list(self.config.model.tenants)

    def source_ids(self, source_type: str) -> list[str]:
        return [s.id for s in self.config.model.sources if s.type == source_type]

    def snapshot(self, source_id: str, max_age: timedelta) -> Snapshot | EvidenceGap:
        key = (source_id, max_age)
        if key not in self._snapshots:
            self._snapshots[key] = self._snapshot(source_id, max_age)
        return self._snapshots[key]

    def _snapshot(self, source_id: str, max_age: timedelta) -> Snapshot | EvidenceGap:
        # Outcomes come from the signed `attest.run` records, never from mutable bookkeeping.
        outcomes = [o for o in self.log.source_outcomes(source_id) if o.finished_at <= self.as_of]
        if not outcomes:
            return EvidenceGap({
                "en": f"No evidence had been collected from {source_id} by {fmt_time(self.as_of)}.",
                "it": f"Nessuna evidenza era stata raccolta da {source_id} entro il {fmt_time(self.as_of)}.",
            })
        complete = [o for o in outcomes if o.status == "ok"]
        if not complete:
            last = outcomes[-1]
            return EvidenceGap({
                "en": f"The collection from {source_id} on {fmt_time(last.finished_at)} did not complete, "
                      "and no earlier complete collection exists.",
                "it": f"La raccolta da {source_id} del {fmt_time(last.finished_at)} non è stata completata "
                      "e non esiste una raccolta completa precedente.",
            })
        best = complete[-1]
        age = self.as_of - best.finished_at
        if age > max_age:
            return EvidenceGap({
                "en": f"The most recent complete evidence from {source_id} dates from {fmt_time(best.finished_at)}, "
                      f"{fmt_age(age)} before the assessment instant; this control accepts at most "
                      f"{fmt_age(max_age)}.",
                "it": f"L'evidenza completa più recente da {source_id} risale al {fmt_time(best.finished_at)}, "
                      f"{fmt_age(age)} prima dell'istante di valutazione; questo controllo ne accetta al massimo "
                      f"{fmt_age(max_age)}.",
            })
        records = tuple(self.log.records(run_id=best.run_id, source=source_id, up_to=best.run_record.idx))
        later = tuple(
            rec for o in outcomes if o.status != "ok" and o.finished_at > best.finished_at
            for rec in self.log.records(run_id=o.run_id, source=source_id, up_to=o.run_record.idx))
        return Snapshot(source_id, best.run_id, best.finished_at, records, best.run_record, later)


@dataclass
class Evaluation:
    run_id: int
    checkpoint: SignedCheckpoint
    config_record: StoredRecord
    period: Period
    as_of: datetime
    results: dict[str, list[Result]]  # tenant id -> results


def _result(control: Control, outcome: CheckOutcome, config_records: Sequence[StoredRecord]) -> Result:
    e = control.entry
    cited = [r.leaf_hex for r in outcome.evidence]
    for rec in config_records:  # every verdict depends on the configuration it was judged with
        if rec.leaf_hex not in cited:
            cited.append(rec.leaf_hex)
    title = {str(k): v for k, v in e.title.items()}
    return Result(control_id=e.id, title=title, duty=e.duty, severity=e.severity, verdict=outcome.verdict,
                  reason=outcome.reason, facts=outcome.facts, evidence=cited, max_evidence_age=e.max_evidence_age)


def judge(ctx: CheckContext, controls: Sequence[Control], tenant: TenantConfig) -> list[Result]:
    results = []
    for control in controls:
        params = ctx.config.control_params(tenant, control.entry.id, dict(control.entry.params))
        ctx.max_age = control.entry.max_age
        try:
            outcome = control.fn(ctx, tenant, params)
        except LogIntegrityError:
            raise  # a tampered log stops everything; it is not one control's problem
        except Exception:  # a broken check must never read as a pass
            # The details are for the operator (stderr), not for the customer's signed document.
            logger.exception("check %s failed for tenant %s", control.entry.id, tenant.id)
            outcome = CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, {
                "en": "The check could not be completed because of an internal error; no verdict is given.",
                "it": "Il controllo non ha potuto essere completato per un errore interno; nessun esito.",
            })
        results.append(_result(control, outcome, [ctx.config_record, ctx.tenant_records[tenant.id]]))
    return results


def evaluate(config: LoadedConfig, log: EvidenceLog, signer: CheckpointSigner, period: Period,
             as_of: datetime | None = None, tenant_ids: Sequence[str] | None = None, wait_s: float = 0) -> Evaluation:
    """Record the configuration used, close with a checkpoint (which first checks that the log
    still matches its signed checkpoints), then judge.

    The configuration is recorded as one provider-wide `attest.config` record (no tenant data)
    plus one `attest.tenant` record per tenant, so a tenant's documents cite its own
    configuration and nobody else's."""
    as_of = (as_of or period.as_of()).astimezone(UTC).replace(microsecond=0)
    tenants = [config.tenant(t) for t in tenant_ids] if tenant_ids else list(config.model.tenants)
    controls = load_catalog()
    now = datetime.now(UTC)
    run_id = log.begin_run("evaluate", signer, wait_s)
    tenant_parts = {t.id: t.model_dump(mode="json") for t in config.model.tenants}
    # Tenants enter the provider-wide record only through the digest of the whole configuration:
    # a per-tenant digest of a small, guessable config would let a reader confirm a guessed customer.
    records = [NewRecord(source="attest", kind="attest.config", subject="config", payload={
        "digest": config.digest, "provider_config": config.provider_part(), "tenant_count": len(tenant_parts),
        "period": period.label, "as_of": utc_iso(as_of)}, collected_at=now)]
    records += [NewRecord(source="attest", kind="attest.tenant", subject=f"tenant/{t.id}", payload={
        "digest": digest_of(tenant_parts[t.id]), "tenant": tenant_parts[t.id], "config_digest": config.digest},
        collected_at=now) for t in tenants]
    stored = log.append(run_id, records)
    checkpoint = log.finish_run(run_id, "ok", signer, {"config_digest": config.digest})
    config_record, tenant_records = stored[0], {r.subject.removeprefix("tenant/"): r for r in stored[1:]}
    ctx = CheckContext(config, log, as_of, period, config_record, tenant_records)
    results = {t.id: judge(ctx, controls, t) for t in tenants}
    return Evaluation(run_id, checkpoint, config_record, period, as_of, results)
