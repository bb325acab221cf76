"""Duty "backups": every instance is backed up by an enabled job (BK-01), recently and without
gaps longer than the RPO (BK-02), kept, verified and encrypted (BK-03), copied off-site and
restore-tested (BK-04, in offsite.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from attest.config import TenantConfig
from attest.controls.backup_records import (
    BackupLedger,
    backup_view,
    job_rows,
    jobs_for,
    jobs_table,
    pbs_for,
    pbs_snapshots,
    retention_of,
    volumes,
)
from attest.controls.findings import Findings, day, text, when
from attest.controls.instances import (
    BACKUP_LISTING,
    DATASTORE_AUDIT,
    NODE_AUDIT,
    SYS_AUDIT,
    Instance,
    SourceView,
)
from attest.controls.offsite import offsite_copy
from attest.controls.tables import FROM, MAX_SPANS, TO, Table, at_epoch, mark
from attest.engine import CheckContext, CheckOutcome, fmt_age
from evidence.log import StoredRecord

__all__ = ["backup_job", "backup_quality", "offsite_copy", "recent_backup"]

Interval = tuple[datetime, datetime]
_EPSILON = timedelta(minutes=1)  # shorter stretches are rounding, not findings


# --- BK-01 ------------------------------------------------------------------------------------------


def backup_job(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = backup_view(ctx, tenant, ("backup",), SYS_AUDIT)
    if isinstance(view, CheckOutcome):
        return view
    f = Findings(used=list(view.used))
    jobs = jobs_table(f)
    for source, instance in view.instances:
        _job(f, jobs, source, instance)
    return f.outcome(text(f"Each of this customer's {len(view.instances)} instance(s) is selected by an enabled "
                          "backup job.",
                          f"Ciascuna delle {len(view.instances)} istanze di questo cliente è selezionata da un job di "
                          "backup attivo."))


def _job(f: Findings, jobs: Table, source: SourceView, instance: Instance) -> None:
    enabled, disabled = jobs_for(source, instance)
    job_rows(jobs, source, instance, [*enabled, *disabled])
    not_backed = source.snap.one("proxmox.not_backed_up")
    listed = not_backed is not None and instance.gid in (not_backed.payload.get("guests") or [])
    f.cite(*enabled, *disabled, not_backed)
    label = instance.label()
    if not enabled:
        also = (f" (job(s) {', '.join(str(r.payload.get('id')) for r in disabled)} would include it but "
                "are disabled)" if disabled else "")
        also_it = (f" (i job {', '.join(str(r.payload.get('id')) for r in disabled)} la includerebbero ma sono "
                   "disattivati)" if disabled else "")
        f.problem(f"No enabled backup job selects {label}{also}.",
                  f"Nessun job di backup attivo seleziona {label}{also_it}.")
        return
    if listed:
        # PVE itself says no job covers it, while our reading of the jobs says one does: neither
        # reading is proof enough.
        f.gap(f"The job list selects {label}, but Proxmox reports it as not covered by any backup job.",
              f"L'elenco dei job seleziona {label}, ma Proxmox la riporta come non coperta da alcun job.")
        return
    names = ", ".join(f"{r.payload.get('id')} ({r.payload.get('schedule')} → {r.payload.get('storage')})"
                      for r in enabled)
    f.fact(f"{label} is backed up by job {names}.", f"{label} è salvata dal job {names}.")


# --- BK-02: intervals -------------------------------------------------------------------------------


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(base: list[Interval], cuts: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in base:
        start = a
        for c, d in merge(cuts):
            if d <= start or c >= b:
                continue
            if c > start:
                out.append((start, c))
            start = max(start, d)
        if start < b:
            out.append((start, b))
    return [(a, b) for a, b in out if b - a > _EPSILON]


def intersect(left: list[Interval], right: list[Interval]) -> list[Interval]:
    out = [(max(a, c), min(b, d)) for a, b in left for c, d in right]
    return [(a, b) for a, b in out if b - a > _EPSILON]


@dataclass
class BackupTimeline:
    """One instance's successful backups and the stretches in which the evidence would have
    shown every backup (so an absence there is proof of a gap)."""

    backups: list[datetime]
    covered: list[Interval]
    failed_runs: int
    ledger: BackupLedger = field(default_factory=BackupLedger)

    def judge(self, window: Interval, rpo: timedelta) -> tuple[list[Interval], list[Interval]]:
        """(proven gaps, unprovable stretches) in *window*. An instant t lacks a recovery point when
        no backup falls in [t - rpo, t]; that is proven when the evidence covers all of [t - rpo, t]."""
        lacking = subtract([window], [(s, s + rpo) for s in self.backups])
        provable = [(a + rpo, b) for a, b in merge(self.covered) if b - a > rpo]
        proven = intersect(lacking, provable)
        return proven, subtract(lacking, provable)

    def before(self, moment: datetime) -> datetime | None:
        earlier = [s for s in self.backups if s <= moment]
        return earlier[-1] if earlier else None

    def after(self, moment: datetime) -> datetime | None:
        later = [s for s in self.backups if s > moment]
        return later[0] if later else None


def timeline(ctx: CheckContext, f: Findings, source: SourceView, instance: Instance) -> BackupTimeline:
    """Every successful backup of *instance* the period's collections show, and what they cover:
    a task history covers its [since, until] window (it lists failed runs too); a complete backup
    listing at T covers [its newest backup, T] (pruning never removes the newest backup).
    PBS snapshots only add backups: a PBS is one destination among possibly several."""
    src, interest = source.snap.source_id, {instance.subject, f"{source.snap.source_id}/node/{instance.node}"}
    backups: set[datetime] = set()
    covered: list[Interval] = []
    failed = 0
    ledger = BackupLedger()
    for snap in ctx.collections(src, ("tasks",)):  # `ctx.history`, through the subject index
        clean = snap.gap(("tasks",), interest) is None
        for rec in snap.about("proxmox.backup_history", instance.subject + "/backup-history"):
            f.cite(rec)
            for run in rec.payload.get("runs") or []:
                ledger.run(run)
                start = at_epoch(run.get("starttime"))
                if start is not None and run.get("result") == "ok":
                    backups.add(start)
                elif start is not None and run.get("result") == "failed" and start >= ctx.period.start:
                    failed += 1
            since, until = at_epoch(rec.payload.get("since")), at_epoch(rec.payload.get("until"))
            if clean and since and until:
                covered.append((since, until))
    for snap in ctx.collections(src, ("backup",)):
        listed = volumes(snap, instance)
        f.cite(*listed)
        for r in listed:
            ledger.volume(r)
        backups.update(t for r in listed if (t := at_epoch(r.payload.get("ctime"))) is not None)
        newest = at_epoch(listed[-1].payload.get("ctime")) if listed else None
        if newest is not None and snap.gap(("backup",), interest) is None:
            covered.append((newest, snap.collected_at))
    for pbs in pbs_for(ctx, src):
        for pbs_snap in ctx.collections(pbs.id, ("snapshots",)):  # `ctx.history`, through the index
            mine = pbs_snapshots(pbs_snap, instance)
            f.cite(*mine)
            for r in mine:
                ledger.snapshot(pbs.id, r)
            backups.update(t for r in mine if (t := at_epoch(r.payload.get("backup_time"))) is not None)
    return BackupTimeline(sorted(backups), merge(covered), failed, ledger)


# --- BK-02 --------------------------------------------------------------------------------------------


def recent_backup(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = backup_view(ctx, tenant, ("backup", "tasks"), (*NODE_AUDIT, *DATASTORE_AUDIT, *BACKUP_LISTING))
    if isinstance(view, CheckOutcome):
        return view
    rpo = timedelta(hours=float(params["rpo_hours"]))
    f = Findings(used=list(view.used))
    for source, instance in view.instances:
        _recent(ctx, f, instance, timeline(ctx, f, source, instance), rpo)
    return f.outcome(text(
        f"Each of this customer's {len(view.instances)} instance(s) had a successful backup less than "
        f"{fmt_age(rpo)} old at every moment of the period up to {when(ctx.as_of)}.",
        f"Ciascuna delle {len(view.instances)} istanze di questo cliente ha avuto un backup riuscito di meno di "
        f"{fmt_age(rpo)} in ogni momento del periodo fino al {when(ctx.as_of)}."))


def _recent(ctx: CheckContext, f: Findings, instance: Instance, line: BackupTimeline, rpo: timedelta) -> None:
    label = instance.label()
    last = line.before(ctx.as_of)
    in_period = [s for s in line.backups if ctx.period.start <= s <= ctx.as_of]
    f.fact(f"{label}: {len(in_period)} successful backup(s) in the period, {line.failed_runs} failed run(s); "
           f"last successful backup {when(last) if last else 'none'}.",
           f"{label}: {len(in_period)} backup riusciti nel periodo, {line.failed_runs} esecuzioni fallite; "
           f"ultimo backup riuscito {when(last) if last else 'nessuno'}.")
    window = (ctx.period.start, ctx.as_of)
    proven, unknown = line.judge(window, rpo)
    _timeline_tables(f, instance, line, window, proven, unknown)
    for a, b in proven[:1]:
        prev, nxt = line.before(a), line.after(a)
        since_en = f"after the backup of {when(prev)}" if prev else f"from {when(a - rpo)}"
        since_it = f"dopo il backup del {when(prev)}" if prev else f"dal {when(a - rpo)}"
        until_en = f"until {when(nxt)}" if nxt else f"up to {when(b)}"
        until_it = f"fino al {when(nxt)}" if nxt else f"fino al {when(b)}"
        f.problem(f"{label} had no successful backup {since_en} {until_en}, longer than the {fmt_age(rpo)} allowed.",
                  f"{label} non ha avuto backup riusciti {since_it} {until_it}, oltre le {fmt_age(rpo)} ammesse.")
    if unknown and not proven:
        spans = ", ".join(f"{when(a)} – {when(b)}" for a, b in unknown[:3])
        start = next((a for a, b in line.covered if b > ctx.period.start), None)
        from_en = f"backups were proven from {day(max(start, ctx.period.start))}; " if start else ""
        from_it = f"i backup sono dimostrati dal {day(max(start, ctx.period.start))}; " if start else ""
        f.gap(f"For {label} {from_en}{spans} is not covered by the evidence (pruned backups, a task history shorter "
              "than the period, or collections further apart than the RPO), so no gap can be ruled out there.",
              f"Per {label} {from_it}{spans} non è coperto dalle evidenze (backup eliminati, storico attività più "
              "breve del periodo o raccolte più distanti dell'RPO): lì non si può escludere un'interruzione.")


def _timeline_tables(f: Findings, instance: Instance, line: BackupTimeline, window: Interval,
                     proven: list[Interval], unknown: list[Interval]) -> None:
    """The instance's last backups, the stretches the evidence covers, and the gaps found."""
    line.ledger.fill(f, instance, window[1])
    label = instance.label()
    covered = f.table(f"Stretches of the period in which the evidence shows every backup of {label}",
                      f"Tratti del periodo in cui le evidenze mostrano ogni backup di {label}", FROM, TO)
    for a, b in intersect(line.covered, [window])[:MAX_SPANS]:
        covered.add(a, b)
    gaps = f.table(f"Stretches without a recent enough backup of {label}",
                   f"Tratti senza un backup abbastanza recente di {label}", FROM, TO,
                   ("Gap proven by the evidence", "Interruzione dimostrata dalle evidenze"))
    for a, b, sure in sorted([(a, b, True) for a, b in proven] + [(a, b, False) for a, b in unknown])[:MAX_SPANS]:
        gaps.add(a, b, mark(sure))


# --- BK-03 --------------------------------------------------------------------------------------------


KEEPS = (("keep-daily", "keep_daily", "daily", "giornalieri"), ("keep-weekly", "keep_weekly", "weekly", "settimanali"),
         ("keep-monthly", "keep_monthly", "monthly", "mensili"))


def backup_quality(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = backup_view(ctx, tenant, ("backup", "storage"), (*SYS_AUDIT, *DATASTORE_AUDIT, *BACKUP_LISTING))
    if isinstance(view, CheckOutcome):
        return view
    f = Findings(used=list(view.used))
    jobs = jobs_table(f)
    for source, instance in view.instances:
        _retention(f, jobs, source, instance, params)
        listed = volumes(source.snap, instance)
        f.cite(*listed)
        kept = BackupLedger()
        for r in listed:
            kept.volume(r)
        kept.fill(f, instance, ctx.as_of, kept=True)
        if not listed:
            f.problem(f"No backup of {instance.label()} is kept.", f"Nessun backup di {instance.label()} è conservato.")
            continue
        _verification(ctx, f, instance, listed, int(params["verify_max_age_days"]))
        _encryption(f, instance, listed)
    return f.outcome(text(
        "The backups of this customer's instances are kept as the policy requires, the latest verification "
        "succeeded recently and every kept backup is encrypted.",
        "I backup delle istanze di questo cliente sono conservati come richiesto, l'ultima verifica è riuscita "
        "di recente e ogni backup conservato è cifrato."))


def _retention(f: Findings, jobs: Table, source: SourceView, instance: Instance, params: dict[str, Any]) -> None:
    enabled, _disabled = jobs_for(source, instance)
    job_rows(jobs, source, instance, enabled)
    label = instance.label()
    if not enabled:
        f.problem(f"No enabled backup job selects {label}, so no retention applies to it.",
                  f"Nessun job di backup attivo seleziona {label}: non si applica alcuna conservazione.")
        return
    shortfalls: list[str] = []
    for job in enabled:
        keep, storage = retention_of(source, job)
        f.cite(job, storage)
        if keep is None:
            f.gap(f"Neither backup job {job.payload.get('id')} of {label} nor its storage sets a retention policy.",
                  f"Né il job di backup {job.payload.get('id')} di {label} né il suo storage fissano una "
                  "conservazione.")
            return
        short = _short(keep, params)
        if not short:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(keep.items()))
            f.fact(f"{label}: job {job.payload.get('id')} keeps {shown}.",
                   f"{label}: il job {job.payload.get('id')} conserva {shown}.")
            return
        shortfalls += short
    f.problem(f"The retention of {label}'s backups is below policy: {'; '.join(shortfalls)}.",
              f"La conservazione dei backup di {label} è inferiore alla politica: {'; '.join(shortfalls)}.")


def _short(keep: dict[str, Any], params: dict[str, Any]) -> list[str]:
    if keep.get("keep-all") in (1, True, "1"):
        return []
    return [f"{key} {int(keep.get(key) or 0)} < {int(params[param])}" for key, param, _en, _it in KEEPS
            if int(keep.get(key) or 0) < int(params[param])]


def _upid_time(upid: Any) -> datetime | None:
    """The start of the task a UPID names: PVE UPID:node:pid:pstart:starttime:type:id:user:, PBS
    with a task counter before the start time (UPID:node:pid:pstart:task:starttime:type:id:user:)."""
    parts = str(upid or "").split(":")
    field = 5 if len(parts) >= 10 else 4
    try:
        return datetime.fromtimestamp(int(parts[field], 16), UTC) if len(parts) > 5 else None
    except (ValueError, OverflowError, OSError):
        return None


def _verification(ctx: CheckContext, f: Findings, instance: Instance, listed: list[StoredRecord],
                  max_days: int) -> None:
    label = instance.label()
    verified = [r for r in listed if (r.payload.get("verification") or {}).get("state")]
    ok = [r for r in verified if r.payload["verification"]["state"] == "ok"]
    newest_ok = ok[-1] if ok else None
    failed_after = [r for r in verified if r.payload["verification"]["state"] != "ok"
                    and (newest_ok is None or int(r.payload["ctime"]) > int(newest_ok.payload["ctime"]))]
    if failed_after:
        bad = failed_after[-1].payload
        made, state = when(at_epoch(bad["ctime"]) or ctx.as_of), bad["verification"]["state"]
        f.problem(f"The verification of {label}'s backup of {made} failed ({state}).",
                  f"La verifica del backup di {label} del {made} non è riuscita ({state}).")
        return
    if newest_ok is None:
        f.problem(f"No backup of {label} has been verified.", f"Nessun backup di {label} è stato verificato.")
        return
    # The verification task's own time; failing that, the backup's time (a verification is never older).
    created = at_epoch(newest_ok.payload.get("ctime"))
    at = _upid_time(newest_ok.payload["verification"].get("upid"))
    at = at if at is not None and (created is None or at >= created) else created
    if at is None or ctx.as_of - at > timedelta(days=max_days):
        f.problem(f"The last successful verification of {label}'s backups dates from {when(at) if at else '?'}, "
                  f"more than {max_days} days ago.",
                  f"L'ultima verifica riuscita dei backup di {label} risale al {when(at) if at else '?'}, oltre "
                  f"{max_days} giorni fa.")
        return
    f.fact(f"{label}: backup of {when(at_epoch(newest_ok.payload['ctime']) or at)} verified ok on {when(at)}.",
           f"{label}: backup del {when(at_epoch(newest_ok.payload['ctime']) or at)} verificato con esito positivo il "
           f"{when(at)}.")


def _encryption(f: Findings, instance: Instance, listed: list[StoredRecord]) -> None:
    plain = [r for r in listed if not r.payload.get("encrypted")]
    label = instance.label()
    if plain:
        f.problem(f"{len(plain)} of the {len(listed)} kept backups of {label} are not encrypted (the newest "
                  f"unencrypted one is of {when(at_epoch(plain[-1].payload.get('ctime')) or datetime.min)}).",
                  f"{len(plain)} dei {len(listed)} backup conservati di {label} non sono cifrati (il più recente "
                  f"non cifrato è del {when(at_epoch(plain[-1].payload.get('ctime')) or datetime.min)}).")
    else:
        f.fact(f"All {len(listed)} kept backups of {label} are encrypted.",
               f"Tutti i {len(listed)} backup conservati di {label} sono cifrati.")


