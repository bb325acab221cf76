"""The control engine: judge every control for every tenant from the evidence log.

Checks never fetch (DESIGN.md §3.1): they read the log through a `CheckContext`, which hands
them only evidence that is complete and fresh. A source is read in sections; a collection is
usable for a check when it read the sections the check needs (source status ok or partial) and
is no older than the control's maximum age at the as-of instant. A partial collection lists the
parts it could not read; the check asks `Snapshot.gap(sections, subjects)` whether any of them
touches the tenant's own subjects (or a whole section, or a provider-wide part), and falls back
to an older fresh collection when the newest is affected (`CheckContext.pick`). Anything that
cannot be proven reaches the check as an `EvidenceGap`, which becomes `insufficient_evidence`,
never `pass`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from attest.attestation import FactTable, LocalizedText, Measure, Result, Term, Timeline, Verdict
from attest.canonical import digest_of, utc_iso
from attest.catalog import Control, load_catalog
from attest.config import LoadedConfig, TenantConfig
from attest.period import Period
from evidence.log import (
    RUN_KIND,
    CheckpointSigner,
    EvidenceLog,
    LogIntegrityError,
    NewRecord,
    SignedCheckpoint,
    SourceOutcome,
    StoredRecord,
)

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


# What each collector section holds, in words a customer can read.
SECTION_WORDS: dict[str, LocalizedText] = {
    "inventory": {"en": "the list of instances", "it": "l'elenco delle istanze"},
    "cluster": {"en": "the cluster status", "it": "lo stato del cluster"},
    "ha": {"en": "the high-availability configuration", "it": "la configurazione di alta affidabilità"},
    "storage": {"en": "the storage configuration", "it": "la configurazione dello storage"},
    "backup": {"en": "the backup jobs and backups", "it": "i job di backup e i backup"},
    "tasks": {"en": "the backup task history", "it": "lo storico delle attività di backup"},
    "events": {"en": "the guests' start, stop and migration history",
               "it": "lo storico di avvii, arresti e migrazioni delle istanze"},
    "firewall": {"en": "the firewall configuration", "it": "la configurazione del firewall"},
    "datastores": {"en": "the backup datastores", "it": "i datastore di backup"},
    "snapshots": {"en": "the backup snapshots", "it": "gli snapshot di backup"},
    "jobs": {"en": "the backup server's jobs", "it": "i job del server di backup"},
    "pbx": {"en": "the PBX configuration", "it": "la configurazione del centralino"},
}

# Subjects scoped to one guest, one node or one PBS backup group: a failure on such a subject
# only matters to whoever that guest, node or group concerns. Anything else is provider-wide.
_GUEST = re.compile(r"^(?P<src>[^/]+)/(?P<type>qemu|lxc)/(?P<vmid>\d+)(?:/|$)")
_NODE = re.compile(r"^(?P<src>[^/]+)/node/(?P<node>[^/]+)(?:/|$)")
_PBS_GROUP = re.compile(r"^(?P<src>[^/]+)/(?P<store>[^/]+)/(?P<type>vm|ct|host)/(?P<id>[^/]+)(?:/|$)")


def _scope(subject: str) -> str | None:
    """The guest, node or backup group a subject belongs to, or None for a provider-wide subject."""
    for pattern in (_GUEST, _NODE, _PBS_GROUP):
        m = pattern.match(subject)
        if m:
            return m.group(0).rstrip("/")
    return None


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def section_words(section: str) -> LocalizedText:
    return SECTION_WORDS.get(section, {"en": f"the '{section}' data", "it": f"i dati '{section}'"})


def describe_failure(failure: dict[str, Any], named: bool) -> LocalizedText:
    """What could not be read, for the customer. *named* is False when the failed subject may
    belong to another customer: it is then neither named nor quoted (its error text may name it)."""
    subject, error = failure.get("subject"), str(failure.get("error") or "no detail")
    words = section_words(str(failure.get("section")))
    if subject is None:
        return {"en": f"{words['en']} could not be read ({error})", "it": f"{words['it']} non leggibile ({error})"}
    if (node := _NODE.match(subject)) is not None:
        name = node["node"]
        return {"en": f"node {name} did not answer ({error})", "it": f"il nodo {name} non ha risposto ({error})"}
    if (guest := _GUEST.match(subject)) is not None:
        if not named:
            return {"en": f"one instance's part of {words['en']} could not be read",
                    "it": f"una parte di {words['it']} relativa a un'istanza non era leggibile"}
        label = f"{'VM' if guest['type'] == 'qemu' else 'CT'} {guest['vmid']}"
        return {"en": f"{words['en']} of {label} could not be read ({error})",
                "it": f"{words['it']} di {label} non leggibile ({error})"}
    if not named:
        return {"en": f"part of {words['en']} could not be read", "it": f"parte di {words['it']} non leggibile"}
    return {"en": f"part of {words['en']} ({subject}) could not be read ({error})",
            "it": f"parte di {words['it']} ({subject}) non leggibile ({error})"}


T = TypeVar("T")


class Snapshot:
    """One collection of one source (status ok or partial) that read the sections a check needs,
    fresh at the as-of instant. Its records are read from the log on first use.

    A `CheckContext` keeps one Snapshot per collection for the whole evaluation, so the indexes
    below (by kind, by subject, by guest) and whatever checks derive from the records
    (`derived`) are built once per collection, not once per tenant and control: scanning every
    record for each tenant made an evaluation grow with tenants × records."""

    def __init__(self, outcome: SourceOutcome, records: Callable[[], tuple[StoredRecord, ...]],
                 later: Callable[[], tuple[StoredRecord, ...]]) -> None:
        self.outcome = outcome
        self._records = records
        self._later = later
        self._derived: dict[Any, Any] = {}

    @property
    def source_id(self) -> str:
        return self.outcome.source_id

    @property
    def run_id(self) -> int:
        return self.outcome.run_id

    @property
    def collected_at(self) -> datetime:
        return self.outcome.finished_at

    @property
    def run_record(self) -> StoredRecord:
        """The signed `attest.run` record stating what this collection read: checks cite it."""
        return self.outcome.run_record

    @cached_property
    def records(self) -> tuple[StoredRecord, ...]:
        return self._records()

    @cached_property
    def later_partial(self) -> tuple[StoredRecord, ...]:
        """Records of later collections of this source that were not usable: never enough for a
        pass, but a violation they show is still a violation."""
        return self._later()

    @cached_property
    def _by_kind(self) -> dict[str, list[StoredRecord]]:
        index: dict[str, list[StoredRecord]] = {}
        for r in self.records:
            index.setdefault(r.kind, []).append(r)
        return index

    @cached_property
    def _by_subject(self) -> dict[tuple[str, str], list[StoredRecord]]:
        index: dict[tuple[str, str], list[StoredRecord]] = {}
        for r in self.records:
            index.setdefault((r.kind, r.subject), []).append(r)
        return index

    @cached_property
    def _by_guest(self) -> dict[tuple[str, str], list[StoredRecord]]:
        """(kind, guest subject "src/qemu/101") -> the records about that guest or below it."""
        index: dict[tuple[str, str], list[StoredRecord]] = {}
        for r in self.records:
            m = _GUEST.match(r.subject)
            if m:
                index.setdefault((r.kind, m.group(0).rstrip("/")), []).append(r)
        return index

    def of_kind(self, kind: str) -> list[StoredRecord]:
        """The records of *kind*, in log order (a new list: the caller may change it)."""
        return list(self._by_kind.get(kind, ()))

    def one(self, kind: str) -> StoredRecord | None:
        found = self._by_kind.get(kind)
        return found[0] if found else None

    def record(self, kind: str, subject: str) -> StoredRecord | None:
        """The first record (in log order) of *kind* about exactly *subject*."""
        found = self._by_subject.get((kind, subject))
        return found[0] if found else None

    def about(self, kind: str, subject: str) -> list[StoredRecord]:
        """Every record of *kind* about exactly *subject*, in log order."""
        return list(self._by_subject.get((kind, subject), ()))

    def under(self, kind: str, prefix: str) -> list[StoredRecord]:
        """The records of *kind* whose subject starts with *prefix*, in log order. A prefix below
        a guest ("src/qemu/101/backup/") only looks at that guest's records."""
        m = _GUEST.match(prefix)
        if m is not None and m.group(0).endswith("/"):
            # Every subject starting with this prefix belongs to the same guest (the match ends
            # at a "/" inside the prefix), so that guest's records are all there is to filter.
            candidates = self._by_guest.get((kind, m.group(0).rstrip("/")), [])
        else:
            candidates = self._by_kind.get(kind, [])
        return [r for r in candidates if r.subject.startswith(prefix)]

    def derived(self, key: Any, build: Callable[[], T]) -> T:
        """What *build* computes from this collection's records, computed once per collection
        (e.g. the pools every guest is in). *key* names it; the value must not be changed by the
        caller, since every later tenant gets the same one."""
        if key not in self._derived:
            self._derived[key] = build()
        value: T = self._derived[key]
        return value

    def covers(self, section: str) -> bool:
        """Whether the collector read *section* through. A collection whose source status is ok
        but lists no sections comes from the first Proxmox collector, which read the inventory
        only and raised on any unreadable part: it covers "inventory" and nothing else."""
        if self.outcome.sections:
            return section in self.outcome.sections
        return self.outcome.status == "ok" and section == "inventory"

    def failures(self, sections: Collection[str], subjects: Collection[str] | None = None) -> list[dict[str, Any]]:
        """The failures in *sections* that touch *subjects* (guest, node or backup-group subjects
        of interest; None = every failure touches). A failure on a provider-wide part, or on a
        whole section, touches everyone."""
        found = []
        for failure in self.outcome.failures:
            if failure.get("section") not in sections:
                continue
            subject = failure.get("subject")
            scope = _scope(subject) if subject else None
            if subjects is None or scope is None or any(_related(scope, s) for s in subjects):
                found.append(failure)
        return found

    def gap(self, sections: Collection[str], subjects: Collection[str] | None = None) -> EvidenceGap | None:
        """Why this collection cannot prove anything about *subjects* in *sections*, or None if it can."""
        missing = [s for s in sections if not self.covers(s)]
        when = fmt_time(self.collected_at)
        if missing:
            what = [section_words(s) for s in missing]
            return EvidenceGap({
                "en": f"The collection from {self.source_id} on {when} did not read "
                      f"{', '.join(w['en'] for w in what)}.",
                "it": f"La raccolta da {self.source_id} del {when} non ha letto {', '.join(w['it'] for w in what)}.",
            })
        touching = self.failures(sections, subjects)
        if not touching:
            return None
        named = subjects is not None
        parts = [describe_failure(f, named or _scope(f.get("subject") or "") is None) for f in touching[:3]]
        more = len(touching) - len(parts)
        extra = ({"en": f" and {more} more part(s)", "it": f" e altre {more} parti"} if more > 0
                 else {"en": "", "it": ""})
        return EvidenceGap({
            "en": f"The collection from {self.source_id} on {when} did not complete: "
                  f"{'; '.join(p['en'] for p in parts)}{extra['en']}.",
            "it": f"La raccolta da {self.source_id} del {when} non è stata completata: "
                  f"{'; '.join(p['it'] for p in parts)}{extra['it']}.",
        })


@dataclass
class CheckOutcome:
    verdict: Verdict
    reason: LocalizedText
    facts: list[LocalizedText] = field(default_factory=list)
    evidence: list[StoredRecord] = field(default_factory=list)
    tables: list[FactTable] = field(default_factory=list)
    timelines: list[Timeline] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)


class CheckContext:
    def __init__(self, config: LoadedConfig, log: EvidenceLog, as_of: datetime, period: Period,
                 config_record: StoredRecord, tenant_records: dict[str, StoredRecord],
                 now: datetime | None = None) -> None:
        self.config = config
        self.log = log
        self.as_of = as_of
        self.now = max(now or as_of, as_of)  # when the judging happens (the as-of instant may be past)
        self.period = period
        self.config_record = config_record
        self.tenant_records = tenant_records
        self._outcomes: dict[str, list[SourceOutcome]] = {}
        self._run_records: dict[tuple[int, str], tuple[StoredRecord, ...]] = {}
        # One Snapshot per collection (run, source), and the answers about it, for the whole
        # evaluation: checks ask for the same collections for every tenant and control.
        self._snaps: dict[tuple[int, str], Snapshot] = {}
        self._usable_memo: dict[tuple[int, str, tuple[str, ...]], bool] = {}
        self._manual: dict[str, list[StoredRecord]] | None = None
        self.max_age = timedelta(hours=24)  # set to the current control's maximum evidence age by judge()

    @property
    def tenants(self) -> list[TenantConfig]:
        return list(self.config.model.tenants)

    def source_ids(self, source_type: str) -> list[str]:
        return [s.id for s in self.config.model.sources if s.type == source_type]

    # --- collections of one source -----------------------------------------------------------

    def outcomes(self, source_id: str) -> list[SourceOutcome]:
        """Every signed outcome of *source_id* finished by the as-of instant, oldest first."""
        if source_id not in self._outcomes:
            # Outcomes come from the signed `attest.run` records, never from mutable bookkeeping.
            self._outcomes[source_id] = [o for o in self.log.source_outcomes(source_id)
                                         if o.finished_at <= self.as_of]
        return self._outcomes[source_id]

    def _run_of(self, outcome: SourceOutcome) -> tuple[StoredRecord, ...]:
        key = (outcome.run_id, outcome.source_id)
        if key not in self._run_records:
            self._run_records[key] = tuple(self.log.records(run_id=outcome.run_id, source=outcome.source_id,
                                                            up_to=outcome.run_record.idx))
        return self._run_records[key]

    def _snap(self, outcome: SourceOutcome) -> Snapshot:
        key = (outcome.run_id, outcome.source_id)
        snap = self._snaps.get(key)
        if snap is None:
            later = [o for o in self.outcomes(outcome.source_id)
                     if (o.finished_at, o.run_id) > (outcome.finished_at, outcome.run_id)]  # times have 1 s resolution
            snap = self._snaps[key] = Snapshot(outcome, lambda: self._run_of(outcome),
                                               lambda: tuple(r for o in later for r in self._run_of(o)))
        return snap

    def _usable(self, outcome: SourceOutcome, sections: Sequence[str]) -> bool:
        """A collection that read *sections* through, with no whole-section failure in them. A
        failed source is never used: its error names no section, so nothing it read is known whole."""
        key = (outcome.run_id, outcome.source_id, tuple(sections))
        if key not in self._usable_memo:
            self._usable_memo[key] = self._judge_usable(outcome, sections)
        return self._usable_memo[key]

    def _judge_usable(self, outcome: SourceOutcome, sections: Sequence[str]) -> bool:
        if outcome.status not in ("ok", "partial"):
            return False
        snap = self._snap(outcome)
        whole = [f for f in snap.failures(sections) if f.get("subject") is None]
        return all(snap.covers(s) for s in sections) and not whole

    def collections(self, source_id: str, sections: Sequence[str], since: datetime | None = None) -> list[Snapshot]:
        """Every usable collection of *source_id* finished in [since, as-of], oldest first: the
        history a check needs when one snapshot is not enough (e.g. backups over the period)."""
        start = since or self.period.start
        return [self._snap(o) for o in self.outcomes(source_id)
                if o.finished_at >= start and self._usable(o, sections)]

    def settled_collections(self, source_id: str, sections: Sequence[str], since: datetime,
                            settle: timedelta) -> tuple[list[Snapshot], datetime]:
        """`collections()`, plus — once the period has ended — those finished up to *settle* after
        its end (and before now), with the instant the search stopped at. Only for time-stamped
        observations *of* the period (probe samples): a monitor read every morning delivers the
        month's last day after the month. Later collections are never used."""
        if self.as_of < self.period.end or settle <= timedelta(0):
            return self.collections(source_id, sections, since), self.as_of
        until = max(min(self.period.end + settle, self.now), self.as_of)
        found = [o for o in self.log.source_outcomes(source_id) if since <= o.finished_at <= until]
        return [self._snap(o) for o in found if self._usable(o, sections)], until

    def candidates(self, source_id: str, max_age: timedelta, sections: Sequence[str]) -> list[Snapshot] | EvidenceGap:
        """The usable collections no older than *max_age*, newest first, or why there is none."""
        outcomes = self.outcomes(source_id)
        if not outcomes:
            return EvidenceGap({
                "en": f"No evidence had been collected from {source_id} by {fmt_time(self.as_of)}.",
                "it": f"Nessuna evidenza era stata raccolta da {source_id} entro il {fmt_time(self.as_of)}.",
            })
        usable = [o for o in outcomes if self._usable(o, sections)]
        if not usable:
            return self._incomplete(outcomes[-1], sections)
        best = usable[-1]
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
        return [self._snap(o) for o in reversed(usable) if self.as_of - o.finished_at <= max_age]

    def _incomplete(self, last: SourceOutcome, sections: Sequence[str]) -> EvidenceGap:
        snap = self._snap(last)
        why: LocalizedText = {"en": "", "it": ""}
        gap = snap.gap(sections) if last.status != "failed" else None
        if gap is not None:
            why = {k: f" ({v.rstrip('.')})" for k, v in gap.reason.items()}
        return EvidenceGap({
            "en": f"The collection from {last.source_id} on {fmt_time(last.finished_at)} did not complete{why['en']}, "
                  "and no earlier complete collection exists.",
            "it": f"La raccolta da {last.source_id} del {fmt_time(last.finished_at)} non è stata completata"
                  f"{why['it']} e non esiste una raccolta completa precedente.",
        })

    def snapshot(self, source_id: str, max_age: timedelta, sections: Sequence[str] = ("inventory",)
                 ) -> Snapshot | EvidenceGap:
        """The newest usable, fresh collection of *source_id* for *sections*. Whether a failure in
        it touches the subjects a check cares about is for the check to ask (`snap.gap`)."""
        found = self.candidates(source_id, max_age, sections)
        return found if isinstance(found, EvidenceGap) else found[0]

    def pick(self, source_id: str, max_age: timedelta, sections: Sequence[str],
             read: Callable[[Snapshot], T | EvidenceGap]) -> tuple[Snapshot, T] | EvidenceGap:
        """The newest fresh collection that *read* can use (it returns what the check needs, or a
        gap: typically `snap.gap(sections, the tenant's subjects)` once it has found them). When the
        newest is affected, older fresh collections are tried; if none works, the newest's gap."""
        found = self.candidates(source_id, max_age, sections)
        if isinstance(found, EvidenceGap):
            return found
        first: EvidenceGap | None = None
        for snap in found:
            value = read(snap)
            if not isinstance(value, EvidenceGap):
                return snap, value
            first = first or value
        assert first is not None
        if len(found) > 1:
            return EvidenceGap({
                "en": f"{first.reason['en']} No other collection from the last {fmt_age(max_age)} was complete "
                      "for it either.",
                "it": f"{first.reason['it']} Nessun'altra raccolta delle ultime {fmt_age(max_age)} era completa.",
            })
        return first

    # --- history and manual evidence ---------------------------------------------------------

    def history(self, source_id: str, kind: str, sections: Sequence[str],
                since: datetime | None = None) -> list[tuple[Snapshot, list[StoredRecord]]]:
        """Records of *kind* from every usable collection of *source_id* in [since (default: the
        period's start), as-of], grouped by collection, oldest first."""
        return [(snap, snap.of_kind(kind)) for snap in self.collections(source_id, sections, since)]

    def manual(self, kind: str, subject: str | None = None) -> list[StoredRecord]:
        """Manual evidence (`attest evidence add`) of *kind* added up to the as-of instant, oldest
        first: only records from "evidence-add" runs closed with status ok by a signed record."""
        if self._manual is None:
            self._manual = self._load_manual()
        return [r for r in self._manual.get(kind, []) if subject is None or r.subject == subject]

    def _load_manual(self) -> dict[str, list[StoredRecord]]:
        signed = self.log.signed_size()
        closed = {rec.run_id: rec for rec in self.log.records(kind=RUN_KIND, up_to=signed)
                  if rec.payload.get("purpose") == "evidence-add" and rec.payload.get("status") == "ok"
                  and rec.collected_at <= self.as_of}
        found: dict[str, list[StoredRecord]] = {}
        for rec in self.log.records(source="manual", up_to=signed):
            closing = closed.get(rec.run_id)
            if closing is not None and rec.idx < closing.idx and rec.kind.startswith("manual."):
                found.setdefault(rec.kind, []).append(rec)
        return found


@dataclass
class Evaluation:
    run_id: int
    checkpoint: SignedCheckpoint
    config_record: StoredRecord
    period: Period
    as_of: datetime
    results: dict[str, list[Result]]  # tenant id -> results
    tenant_records: dict[str, StoredRecord] = field(default_factory=dict)  # tenant id -> its attest.tenant record


def _terms(ctx: CheckContext, tenant: TenantConfig, control: Control) -> list[Term]:
    return [Term(name=name, value=value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                                               ensure_ascii=False),
                 source=source, contract=contract)  # type: ignore[arg-type]
            for name, value, source, contract in ctx.config.control_terms(tenant, control.entry.id,
                                                                          dict(control.entry.params))]


def _result(control: Control, outcome: CheckOutcome, config_records: Sequence[StoredRecord],
            terms: list[Term]) -> Result:
    e = control.entry
    cited = [r.leaf_hex for r in outcome.evidence]
    for rec in config_records:  # every verdict depends on the configuration it was judged with
        if rec.leaf_hex not in cited:
            cited.append(rec.leaf_hex)
    title = {str(k): v for k, v in e.title.items()}
    return Result(control_id=e.id, title=title, duty=e.duty, severity=e.severity, verdict=outcome.verdict,
                  reason=outcome.reason, facts=outcome.facts, tables=outcome.tables, timelines=outcome.timelines,
                  measures=outcome.measures, evidence=cited, max_evidence_age=e.max_evidence_age, terms=terms,
                  mappings={k: list(v) for k, v in e.mappings.items()})


def judge(ctx: CheckContext, controls: Sequence[Control], tenant: TenantConfig) -> list[Result]:
    from attest.waivers import apply

    # A waiver applies through its expiry date in the provider's time zone, judged at the as-of instant.
    day = ctx.as_of.astimezone(ZoneInfo(ctx.period.time_zone)).date()
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
        result = _result(control, outcome, [ctx.config_record, ctx.tenant_records[tenant.id]],
                         _terms(ctx, tenant, control))
        results.append(apply(result, ctx.config.waivers, tenant.id, day))
    return results


def evaluate(config: LoadedConfig, log: EvidenceLog, signer: CheckpointSigner, period: Period,
             as_of: datetime | None = None, tenant_ids: Sequence[str] | None = None, wait_s: float = 0,
             now: datetime | None = None) -> Evaluation:
    """Record the configuration used, close with a checkpoint (which first checks that the log
    still matches its signed checkpoints), then judge.

    The configuration is recorded as one provider-wide `attest.config` record (no tenant data)
    plus one `attest.tenant` record per tenant, so a tenant's documents cite its own
    configuration and nobody else's."""
    as_of = (as_of or period.as_of()).astimezone(UTC).replace(microsecond=0)
    tenants = [config.tenant(t) for t in tenant_ids] if tenant_ids else list(config.model.tenants)
    controls = load_catalog()
    now = now or datetime.now(UTC)  # given only by tests that judge a past month "the day after"
    run_id = log.begin_run("evaluate", signer, wait_s)
    tenant_parts = {t.id: config.tenant_part(t) for t in config.model.tenants}
    # `config.digest` serialises the whole configuration on each access: once, not once per tenant.
    config_digest = config.digest
    # Tenants enter the provider-wide record only through the digest of the whole configuration:
    # a per-tenant digest of a small, guessable config would let a reader confirm a guessed customer.
    records = [NewRecord(source="attest", kind="attest.config", subject="config", payload={
        "digest": config_digest, "provider_config": config.provider_part(), "tenant_count": len(tenant_parts),
        "period": period.label, "as_of": utc_iso(as_of)}, collected_at=now)]
    records += [NewRecord(source="attest", kind="attest.tenant", subject=f"tenant/{t.id}", payload={
        "digest": digest_of(tenant_parts[t.id]), "tenant": tenant_parts[t.id], "config_digest": config_digest},
        collected_at=now) for t in tenants]
    stored = log.append(run_id, records)
    checkpoint = log.finish_run(run_id, "ok", signer, {"config_digest": config_digest})
    config_record, tenant_records = stored[0], {r.subject.removeprefix("tenant/"): r for r in stored[1:]}
    ctx = CheckContext(config, log, as_of, period, config_record, tenant_records, now=now)
    results = {t.id: judge(ctx, controls, t) for t in tenants}
    return Evaluation(run_id, checkpoint, config_record, period, as_of, results, tenant_records)
