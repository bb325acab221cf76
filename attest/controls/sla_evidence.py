"""SLA-01's evidence: the probe samples of a tenant's SLA instances over the period, gathered from
every sample source's collections (a source read again each day repeats samples; the engine
counts each (vantage, time) once), and the maintenance windows that may be excluded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from attest.attestation import LocalizedText
from attest.engine import CheckContext, fmt_time
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


def gather(ctx: CheckContext, instances: list[str], start: datetime, end: datetime) -> Gathered:
    """Samples of *instances* in [start, end) from every usable collection of every sample source
    finished since a day before *start* (a collection reads the days before it)."""
    wanted = set(instances)
    first_day = (start - timedelta(days=1)).strftime("%Y-%m-%d")
    last_day = end.strftime("%Y-%m-%d")
    chunks: dict[tuple[str, str], list[tuple[list[float], list[int]]]] = {}
    found = {i: InstanceSamples(i) for i in instances}
    runs: list[StoredRecord] = []
    broken: list[str] = []
    for src in ctx.config.sla_sources():
        for snap in ctx.collections(src.id, SECTIONS, since=start - timedelta(days=1)):
            used = False
            for rec in snap.of_kind(SAMPLES_KIND):
                p = rec.payload
                if p.get("instance") not in wanted or not (first_day <= str(p.get("day")) <= last_day):
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
    return Gathered(found, runs, broken)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    announced_at: datetime
    reason: str
    excluded: bool  # announced early enough


def maintenance(ctx: CheckContext, instance: str, start: datetime, end: datetime, notice_hours: float
                ) -> list[Window]:
    """The configured maintenance windows of *instance* overlapping the period; excluded only when
    announced at least *notice_hours* before they started."""
    found = []
    for w in ctx.config.model.maintenance:
        if instance not in w.instances or w.end <= start or w.start >= end:
            continue
        early = w.start - w.announced_at >= timedelta(hours=notice_hours)
        found.append(Window(max(w.start, start), min(w.end, end), w.announced_at, w.reason, early))
    return found


def describe_window(w: Window, notice_hours: float) -> LocalizedText:
    when = f"{fmt_time(w.start)} – {fmt_time(w.end)}"
    if w.excluded:
        return {"en": f"Maintenance {when} ({w.reason or 'planned'}), announced {fmt_time(w.announced_at)}: "
                      "excluded.",
                "it": f"Manutenzione {when} ({w.reason or 'programmata'}), annunciata il {fmt_time(w.announced_at)}: "
                      "esclusa."}
    return {"en": f"Maintenance {when} was announced only on {fmt_time(w.announced_at)}, less than {notice_hours:g} h "
                  "ahead: it counts like any other time.",
            "it": f"La manutenzione {when} è stata annunciata solo il {fmt_time(w.announced_at)}, con meno di "
                  f"{notice_hours:g} h di preavviso: conta come il resto del tempo."}
