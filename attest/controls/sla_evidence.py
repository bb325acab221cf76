"""SLA-01's evidence: the probe samples of a tenant's SLA instances over the period, gathered from
every sample source's collections (a source read again each day repeats samples; the engine
counts each (vantage, time) once), and the maintenance windows that may be excluded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from attest.attestation import LocalizedText
from attest.engine import CheckContext, Snapshot, fmt_time
from collectors.sla.samples import SAMPLES_KIND, SECTION, load_columns
from evidence.log import StoredRecord

SECTIONS = (SECTION,)


@dataclass
class InstanceSamples:
    instance: str
    # vantage -> (times as Unix seconds, up as bool), unsorted, possibly with duplicates
    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    records: list[StoredRecord] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    interval_s: float | None = None

    @property
    def count(self) -> int:
        return sum(len(t) for t, _ in self.series.values())


@dataclass
class Gathered:
    instances: dict[str, InstanceSamples]
    runs: list[StoredRecord]  # the signed attest.run records of the collections used
    broken: list[str]  # what the sources could not read (broken lines, failed chunks), for the document
    searched_until: datetime  # collections finished up to this instant were read


def _samples_of(snap: Snapshot, instances: set[str]) -> list[StoredRecord]:
    """The sample records of *snap* about *instances*, in log order, through an index by
    instance built once per collection (a tenant's few instances among the fleet's many)."""
    def build() -> dict[str, list[StoredRecord]]:
        index: dict[str, list[StoredRecord]] = {}
        for rec in snap.of_kind(SAMPLES_KIND):
            instance = rec.payload.get("instance")
            if isinstance(instance, str):  # only a string names a configured instance
                index.setdefault(instance, []).append(rec)
        return index

    by_instance = snap.derived("samples_by_instance", build)
    return sorted((r for i in instances for r in by_instance.get(i, ())), key=lambda r: r.idx)


def gather(ctx: CheckContext, instances: list[str], start: datetime, end: datetime,
           settle: timedelta = timedelta(0)) -> Gathered:
    """Samples of *instances* in [start, end) from every usable collection of every sample source
    finished since a day before *start* (a collection reads the days before it) — and, for a
    period that has ended, up to *settle* after its end (`CheckContext.settled_collections`)."""
    wanted = set(instances)
    first_day = (start - timedelta(days=1)).strftime("%Y-%m-%d")
    last_day = end.strftime("%Y-%m-%d")
    chunks: dict[tuple[str, str], list[tuple[list[float], list[int]]]] = {}
    found = {i: InstanceSamples(i) for i in instances}
    runs: list[StoredRecord] = []
    broken: list[str] = []
    searched_until = ctx.as_of
    for src in ctx.config.sla_sources():
        snaps, until = ctx.settled_collections(src.id, SECTIONS, start - timedelta(days=1), settle)
        searched_until = max(searched_until, until)
        for snap in snaps:
            used = False
            for rec in _samples_of(snap, wanted):
                p = rec.payload
                if not (first_day <= str(p.get("day")) <= last_day):
                    continue
                cols = load_columns(ctx.log.get_artifact(p["sha256"]))
                chunks.setdefault((p["instance"], p["vantage"]), []).append((cols["t"], cols["up"]))
                inst = found[p["instance"]]
                inst.records.append(rec)
                inst.sources.add(src.id)
                inst.interval_s = inst.interval_s or float(p.get("interval_s") or src.interval_s)
                used = True
            if used:
                runs.append(snap.run_record)
                broken += [str(f.get("error")) for f in snap.outcome.failures][:20]
    lo, hi = start.timestamp(), end.timestamp()
    for (instance, vantage), parts in chunks.items():
        times = np.concatenate([np.asarray(t, dtype=np.float64) for t, _ in parts])
        ups = np.concatenate([np.asarray(u, dtype=bool) for _, u in parts])
        keep = (times >= lo - 86400) & (times < hi)
        found[instance].series[vantage] = (times[keep], ups[keep])
    return Gathered(found, runs, broken, searched_until)


NOTICE_KIND = "manual.maintenance_notice"
CONFIG = "config"


@dataclass(frozen=True)
class Window:
    """A maintenance window of one instance, clipped to the period. *source* is "config" (the
    `maintenance:` list) or the subject of the `manual.maintenance_notice` record it comes from
    (then *evidence* is that record and *recorded_at* when it entered the log)."""

    start: datetime
    end: datetime
    announced_at: datetime
    reason: str
    excluded: bool  # announced early enough
    source: str = CONFIG
    recorded_at: datetime | None = None
    evidence: StoredRecord | None = None
    window_start: datetime | None = None  # the window's own start, before clipping to the period (default: start)
    also_in_config: bool = False  # the configuration declares the same window

    @property
    def recorded_late(self) -> bool:
        """A notice entered in the log only after the window had started: its announcement time is
        the provider's claim, not something the log can vouch for."""
        return self.recorded_at is not None and self.recorded_at > (self.window_start or self.start)


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _notices(ctx: CheckContext, instance: str) -> list[tuple[datetime, datetime, datetime, StoredRecord]]:
    """(start, end, announced_at, record) of the maintenance notices added by the as-of instant that
    cover *instance*; records without a readable window (none is stored without one) are skipped."""
    found = []
    for rec in ctx.manual(NOTICE_KIND):
        w = rec.payload.get("window")
        if not isinstance(w, dict) or instance not in (w.get("instances") or []):
            continue
        start, end, announced = _instant(w.get("start")), _instant(w.get("end")), _instant(w.get("announced_at"))
        if start is None or end is None or announced is None or end <= start:
            continue
        found.append((start, end, announced, rec))
    return found


def maintenance(ctx: CheckContext, instance: str, start: datetime, end: datetime, notice_hours: float
                ) -> list[Window]:
    """The maintenance windows of *instance* overlapping [start, end): from the configuration and
    from the maintenance notices in the log (added by the as-of instant: a notice added later cannot
    change a past judgement), sorted by start. Each is excluded only when announced at least
    *notice_hours* before it started. The same window (same start and end) from the configuration
    and from notices is listed once, as the notice (which has a document), with the earliest
    announcement among the notices. Overlapping windows stay separate here; the SLA engine unites
    the exclusions, so no time is excluded twice."""
    notice = timedelta(hours=notice_hours)
    configured: dict[tuple[datetime, datetime], tuple[datetime, str]] = {}
    for w in ctx.config.model.maintenance:
        if instance not in w.instances or w.end <= start or w.start >= end:
            continue
        key = (w.start.astimezone(UTC), w.end.astimezone(UTC))
        prev = configured.get(key)
        if prev is None or w.announced_at < prev[0]:
            configured[key] = (w.announced_at, w.reason)
    noticed: dict[tuple[datetime, datetime], tuple[datetime, StoredRecord]] = {}
    for w_start, w_end, announced, rec in _notices(ctx, instance):
        if w_end <= start or w_start >= end:
            continue
        prev_n = noticed.get((w_start, w_end))
        if prev_n is None or (announced, rec.idx) < (prev_n[0], prev_n[1].idx):
            noticed[(w_start, w_end)] = (announced, rec)
    found = []
    for (w_start, w_end), (announced, reason) in configured.items():
        if (w_start, w_end) not in noticed:
            found.append(Window(max(w_start, start), min(w_end, end), announced, reason,
                                w_start - announced >= notice, window_start=w_start))
    for (w_start, w_end), (announced, rec) in noticed.items():
        title = rec.payload.get("title")
        found.append(Window(max(w_start, start), min(w_end, end), announced, str(title) if title else "",
                            w_start - announced >= notice, source=rec.subject, recorded_at=rec.collected_at,
                            evidence=rec, window_start=w_start, also_in_config=(w_start, w_end) in configured))
    return sorted(found, key=lambda w: (w.start, w.end, w.source != CONFIG, w.source))


def notice_records(windows: Iterable[Window]) -> list[StoredRecord]:
    """The maintenance-notice records behind *windows*, each once, in log order: what SLA-01 cites."""
    by_idx = {w.evidence.idx: w.evidence for w in windows if w.evidence is not None}
    return [by_idx[i] for i in sorted(by_idx)]


def _origin(w: Window) -> LocalizedText:
    """Where the window comes from, as a sentence: the configuration, or the notice document."""
    if w.evidence is None:
        return {"en": "Source: the configuration.", "it": "Fonte: la configurazione."}
    doc = w.evidence.payload.get("document") or {}
    name = str(doc.get("filename") or "?")
    sha = str(doc.get("sha256") or "")[:12]
    en = f"Source: the notice document {name}, SHA-256 {sha}…, for {w.source}"
    it = f"Fonte: il documento di avviso {name}, SHA-256 {sha}…, per {w.source}"
    if w.also_in_config:
        en += " (also in the configuration)"
        it += " (presente anche nella configurazione)"
    if w.recorded_late and w.recorded_at is not None:
        en += f"; recorded after the fact on {fmt_time(w.recorded_at)}, once the window had started"
        it += f"; registrato a posteriori il {fmt_time(w.recorded_at)}, a finestra già iniziata"
    return {"en": en + ".", "it": it + "."}


def describe_window(w: Window, notice_hours: float) -> LocalizedText:
    """One fact per window: when, why, when announced, whether excluded, and where it comes from."""
    when = f"{fmt_time(w.start)} – {fmt_time(w.end)}"
    origin = _origin(w)
    if w.excluded:
        return {"en": f"Maintenance {when} ({w.reason or 'planned'}), announced {fmt_time(w.announced_at)}: "
                      f"excluded. {origin['en']}",
                "it": f"Manutenzione {when} ({w.reason or 'programmata'}), annunciata il {fmt_time(w.announced_at)}: "
                      f"esclusa. {origin['it']}"}
    if w.announced_at > (w.window_start or w.start):
        return {"en": f"Maintenance {when} ({w.reason or 'planned'}) was announced only on {fmt_time(w.announced_at)}, "
                      f"after it had started: it counts like any other time. {origin['en']}",
                "it": f"La manutenzione {when} ({w.reason or 'programmata'}) è stata annunciata solo il "
                      f"{fmt_time(w.announced_at)}, dopo il suo inizio: conta come il resto del tempo. {origin['it']}"}
    return {"en": f"Maintenance {when} ({w.reason or 'planned'}) was announced only on {fmt_time(w.announced_at)}, "
                  f"less than {notice_hours:g} h ahead: it counts like any other time. {origin['en']}",
            "it": f"La manutenzione {when} ({w.reason or 'programmata'}) è stata annunciata solo il "
                  f"{fmt_time(w.announced_at)}, con meno di {notice_hours:g} h di preavviso: conta come il resto del "
                  f"tempo. {origin['it']}"}
