"""Duty "backups": every instance is backed up by an enabled job (BK-01), recently and without
gaps longer than the RPO (BK-02), kept, verified and encrypted (BK-03), copied off-site and
restore-tested (BK-04)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from attest.attestation import LocalizedText
from attest.config import PbsSource, TenantConfig
from attest.controls.findings import Findings, day, text, when
from attest.controls.instances import (
    DATASTORE_AUDIT,
    NODE_AUDIT,
    SYS_AUDIT,
    Instance,
    SourceView,
    TenantView,
    insufficient,
    no_instance,
    pools_of,
    tenant_view,
)
from attest.engine import CheckContext, CheckOutcome, EvidenceGap, Snapshot, fmt_age
from evidence.log import StoredRecord

Interval = tuple[datetime, datetime]
_EPSILON = timedelta(minutes=1)  # shorter stretches are rounding, not findings


def _at(epoch: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(epoch), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _view(ctx: CheckContext, tenant: TenantConfig, sections: tuple[str, ...],
          privileges: Iterable[tuple[str, str]]) -> TenantView | CheckOutcome:
    view = tenant_view(ctx, tenant, sections, tuple(privileges))
    if isinstance(view, EvidenceGap):
        return insufficient(view.reason)
    if not view.instances:
        return no_instance(view)
    return view


# --- which jobs select an instance ----------------------------------------------------------------


def guest_pools(source: SourceView, instance: Instance) -> set[str]:
    pools = pools_of(source.provider("proxmox.pool")).get(instance.gid, set())
    return pools | ({str(instance.guest["pool"])} if instance.guest.get("pool") else set())


def selects(job: dict[str, Any], instance: Instance, pools: set[str]) -> bool:
    """Whether a backup job's selection includes *instance* (ignoring whether it is enabled)."""
    if job.get("node") and str(job["node"]) != instance.node:
        return False  # a job restricted to a node backs up only the guests on that node
    sel = job.get("selection") or {}
    mode = sel.get("mode")
    if mode == "all":
        return instance.vmid not in {int(v) for v in sel.get("exclude") or []}
    if mode == "vmid":
        return instance.vmid in {int(v) for v in sel.get("vmids") or []}
    if mode == "pool":
        return str(sel.get("pool")) in pools
    return False


def jobs_for(source: SourceView, instance: Instance) -> tuple[list[StoredRecord], list[StoredRecord]]:
    """(enabled jobs selecting the instance, disabled jobs that would)."""
    pools = guest_pools(source, instance)
    picked = [r for r in source.provider("proxmox.backup_job") if selects(r.payload, instance, pools)]
    return ([r for r in picked if r.payload.get("enabled", True)],
            [r for r in picked if not r.payload.get("enabled", True)])


def volumes(snap: Snapshot, instance: Instance) -> list[StoredRecord]:
    """The instance's backups listed by one collection, oldest first."""
    prefix = instance.subject + "/backup/"
    found = [r for r in snap.of_kind("proxmox.backup_volume") if r.subject.startswith(prefix)]
    return sorted(found, key=lambda r: int(r.payload.get("ctime") or 0))


# --- BK-01 ------------------------------------------------------------------------------------------


def backup_job(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = _view(ctx, tenant, ("backup",), SYS_AUDIT)
    if isinstance(view, CheckOutcome):
        return view
    f = Findings(used=list(view.used))
    for source, instance in view.instances:
        _job(f, source, instance)
    return f.outcome(text(f"Each of this customer's {len(view.instances)} instance(s) is selected by an enabled "
                          "backup job.",
                          f"Ciascuna delle {len(view.instances)} istanze di questo cliente è selezionata da un job di "
                          "backup attivo."))


def _job(f: Findings, source: SourceView, instance: Instance) -> None:
    enabled, disabled = jobs_for(source, instance)
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


def _pbs_for(ctx: CheckContext, source_id: str) -> list[PbsSource]:
    return [s for s in ctx.config.model.sources
            if isinstance(s, PbsSource) and (not s.pve_sources or source_id in s.pve_sources)]


def _pbs_matches(payload: dict[str, Any], instance: Instance) -> bool:
    kind = "vm" if instance.guest["type"] == "qemu" else "ct"
    return payload.get("backup_type") == kind and str(payload.get("backup_id")) == str(instance.vmid)


def timeline(ctx: CheckContext, f: Findings, source: SourceView, instance: Instance) -> BackupTimeline:
    """Every successful backup of *instance* the period's collections show, and what they cover:
    a task history covers its [since, until] window (it lists failed runs too); a complete backup
    listing at T covers [its newest backup, T] (pruning never removes the newest backup).
    PBS snapshots only add backups: a PBS is one destination among possibly several."""
    src, interest = source.snap.source_id, {instance.subject, f"{source.snap.source_id}/node/{instance.node}"}
    backups: set[datetime] = set()
    covered: list[Interval] = []
    failed = 0
    for snap, records in ctx.history(src, "proxmox.backup_history", ("tasks",)):
        clean = snap.gap(("tasks",), interest) is None
        for rec in records:
            if rec.subject != instance.subject + "/backup-history":
                continue
            f.cite(rec)
            for run in rec.payload.get("runs") or []:
                start = _at(run.get("starttime"))
                if start is not None and run.get("result") == "ok":
                    backups.add(start)
                elif start is not None and run.get("result") == "failed" and start >= ctx.period.start:
                    failed += 1
            since, until = _at(rec.payload.get("since")), _at(rec.payload.get("until"))
            if clean and since and until:
                covered.append((since, until))
    for snap in ctx.collections(src, ("backup",)):
        listed = volumes(snap, instance)
        f.cite(*listed)
        backups.update(t for r in listed if (t := _at(r.payload.get("ctime"))) is not None)
        newest = _at(listed[-1].payload.get("ctime")) if listed else None
        if newest is not None and snap.gap(("backup",), interest) is None:
            covered.append((newest, snap.collected_at))
    for pbs in _pbs_for(ctx, src):
        for _snap, records in ctx.history(pbs.id, "pbs.snapshot", ("snapshots",)):
            mine = [r for r in records if _pbs_matches(r.payload, instance)]
            f.cite(*mine)
            backups.update(t for r in mine if (t := _at(r.payload.get("backup_time"))) is not None)
    return BackupTimeline(sorted(backups), merge(covered), failed)


# --- BK-02 --------------------------------------------------------------------------------------------


def recent_backup(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = _view(ctx, tenant, ("backup", "tasks"), (*NODE_AUDIT, *DATASTORE_AUDIT))
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
    proven, unknown = line.judge((ctx.period.start, ctx.as_of), rpo)
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


# --- BK-03 --------------------------------------------------------------------------------------------


KEEPS = (("keep-daily", "keep_daily", "daily", "giornalieri"), ("keep-weekly", "keep_weekly", "weekly", "settimanali"),
         ("keep-monthly", "keep_monthly", "monthly", "mensili"))


def retention_of(source: SourceView, job: StoredRecord) -> tuple[dict[str, Any] | None, StoredRecord | None]:
    """A job's retention, or when it has none the retention of its target storage (as PVE applies it)."""
    if job.payload.get("retention"):
        return dict(job.payload["retention"]), None
    storage = next((r for r in source.provider("proxmox.storage")
                    if r.payload.get("storage") == job.payload.get("storage")), None)
    return (dict(storage.payload["prune_backups"]) if storage and storage.payload.get("prune_backups") else None,
            storage)


def backup_quality(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = _view(ctx, tenant, ("backup", "storage"), (*SYS_AUDIT, *DATASTORE_AUDIT))
    if isinstance(view, CheckOutcome):
        return view
    f = Findings(used=list(view.used))
    for source, instance in view.instances:
        _retention(f, source, instance, params)
        listed = volumes(source.snap, instance)
        f.cite(*listed)
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


def _retention(f: Findings, source: SourceView, instance: Instance, params: dict[str, Any]) -> None:
    enabled, _disabled = jobs_for(source, instance)
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
        made, state = when(_at(bad["ctime"]) or ctx.as_of), bad["verification"]["state"]
        f.problem(f"The verification of {label}'s backup of {made} failed ({state}).",
                  f"La verifica del backup di {label} del {made} non è riuscita ({state}).")
        return
    if newest_ok is None:
        f.problem(f"No backup of {label} has been verified.", f"Nessun backup di {label} è stato verificato.")
        return
    # The verification task's own time; failing that, the backup's time (a verification is never older).
    created = _at(newest_ok.payload.get("ctime"))
    at = _upid_time(newest_ok.payload["verification"].get("upid"))
    at = at if at is not None and (created is None or at >= created) else created
    if at is None or ctx.as_of - at > timedelta(days=max_days):
        f.problem(f"The last successful verification of {label}'s backups dates from {when(at) if at else '?'}, "
                  f"more than {max_days} days ago.",
                  f"L'ultima verifica riuscita dei backup di {label} risale al {when(at) if at else '?'}, oltre "
                  f"{max_days} giorni fa.")
        return
    f.fact(f"{label}: backup of {when(_at(newest_ok.payload['ctime']) or at)} verified ok on {when(at)}.",
           f"{label}: backup del {when(_at(newest_ok.payload['ctime']) or at)} verificato con esito positivo il "
           f"{when(at)}.")


def _encryption(f: Findings, instance: Instance, listed: list[StoredRecord]) -> None:
    plain = [r for r in listed if not r.payload.get("encrypted")]
    label = instance.label()
    if plain:
        f.problem(f"{len(plain)} of the {len(listed)} kept backups of {label} are not encrypted (the newest "
                  f"unencrypted one is of {when(_at(plain[-1].payload.get('ctime')) or datetime.min)}).",
                  f"{len(plain)} dei {len(listed)} backup conservati di {label} non sono cifrati (il più recente "
                  f"non cifrato è del {when(_at(plain[-1].payload.get('ctime')) or datetime.min)}).")
    else:
        f.fact(f"All {len(listed)} kept backups of {label} are encrypted.",
               f"Tutti i {len(listed)} backup conservati di {label} sono cifrati.")


# --- BK-04 --------------------------------------------------------------------------------------------


@dataclass
class Holder:
    """A PBS datastore holding an instance's backups."""

    pbs: PbsSource
    store: str


def holders(ctx: CheckContext, source: SourceView, instance: Instance) -> tuple[list[Holder], set[str]]:
    """The configured PBS sources (and datastores) the instance's kept backups are on, found
    through the PVE storage definitions (server + datastore); and the backup servers holding
    some of them that are not configured as evidence sources."""
    storages = {r.payload.get("storage"): r.payload for r in source.provider("proxmox.storage")}
    found: list[Holder] = []
    unknown: set[str] = set()
    for vol in volumes(source.snap, instance):
        storage = storages.get(vol.payload.get("storage")) or {}
        if storage.get("type") != "pbs":
            continue
        matching = [pbs for pbs in _pbs_for(ctx, source.snap.source_id)
                    if urlparse(pbs.url).hostname == storage.get("server")]
        if not matching:
            unknown.add(str(storage.get("server")))
        for pbs in matching:
            holder = Holder(pbs, str(storage.get("datastore")))
            if holder not in found:
                found.append(holder)
    return found, unknown


def _pbs_snapshot(ctx: CheckContext, pbs_id: str) -> Snapshot | EvidenceGap:
    """A fresh PBS collection whose jobs and snapshots were read with no failure (a failure on
    another customer's backup group does not count)."""
    def read(snap: Snapshot) -> Snapshot | EvidenceGap:
        gap = snap.gap(("jobs",))
        return gap if gap is not None else snap

    picked = ctx.pick(pbs_id, ctx.max_age, ("jobs", "snapshots"), read)
    return picked if isinstance(picked, EvidenceGap) else picked[0]


def offsite_copy(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = _view(ctx, tenant, ("backup", "storage"), (*SYS_AUDIT, *DATASTORE_AUDIT))
    if isinstance(view, CheckOutcome):
        return view
    f = Findings(used=list(view.used))
    pbs_snaps = {s.id: _pbs_snapshot(ctx, s.id) for s in ctx.config.model.sources if isinstance(s, PbsSource)}
    for source, instance in view.instances:
        _offsite(ctx, f, source, instance, pbs_snaps, float(params["sync_max_age_hours"]))
    _restore_test(ctx, f, tenant, view, int(params["restore_test_max_age_days"]))
    return f.outcome(text(
        "Each of this customer's instances has a recent backup copy at another site, and a restore test was "
        "performed recently.",
        "Ciascuna istanza di questo cliente ha una copia di backup recente in un altro sito, e una prova di "
        "ripristino è stata eseguita di recente."))


def _site_name(ctx: CheckContext, site_id: str | None) -> str:
    site = next((s for s in ctx.config.model.sites if s.id == site_id), None)
    return site.name if site else str(site_id)


def _sync_copies(ctx: CheckContext, f: Findings, holder: Holder, pbs_snaps: dict[str, Snapshot | EvidenceGap],
                 max_age: timedelta) -> list[LocalizedText]:
    """Sync jobs that copy *holder*'s datastore to another site: pushed from it, or pulled from it
    by a PBS elsewhere. Returns a description of each recent, successful one."""
    copies: list[LocalizedText] = []
    for pbs in (s for s in ctx.config.model.sources if isinstance(s, PbsSource)):
        snap = pbs_snaps.get(pbs.id)
        if not isinstance(snap, Snapshot):
            continue
        for job in snap.of_kind("pbs.job"):
            p = job.payload
            if p.get("job_type") != "sync":
                continue
            pushed = (pbs.id == holder.pbs.id and p.get("direction") == "push" and p.get("store") == holder.store
                      and p.get("remote_site") not in (None, pbs.site))
            pulled = (pbs.id != holder.pbs.id and p.get("direction") in (None, "pull")
                      and p.get("remote_store") == holder.store and p.get("remote_site") == holder.pbs.site
                      and pbs.site != holder.pbs.site)
            if not (pushed or pulled):
                continue
            f.cite(job)
            ended = _at(p.get("last_run_endtime"))
            other = p.get("remote_site") if pushed else pbs.site
            if str(p.get("last_run_state") or "").lower() == "ok" and ended and ctx.as_of - ended <= max_age:
                copies.append(text(f"sync job {p.get('id')} to {_site_name(ctx, other)}, last run {when(ended)}",
                                   f"job di sincronizzazione {p.get('id')} verso {_site_name(ctx, other)}, ultima "
                                   f"esecuzione {when(ended)}"))
            else:
                f.fact(f"Sync job {p.get('id')} to {_site_name(ctx, other)}: last run "
                       f"{when(ended) if ended else 'never'}, state {p.get('last_run_state') or 'unknown'}.",
                       f"Job di sincronizzazione {p.get('id')} verso {_site_name(ctx, other)}: ultima esecuzione "
                       f"{when(ended) if ended else 'mai'}, stato {p.get('last_run_state') or 'sconosciuto'}.")
    return copies


def _snapshot_copies(ctx: CheckContext, f: Findings, instance: Instance, home: str | None,
                     pbs_snaps: dict[str, Snapshot | EvidenceGap],
                     max_age: timedelta) -> list[LocalizedText]:
    """The instance's own snapshots on a PBS at a site other than the one it runs in."""
    copies: list[LocalizedText] = []
    for pbs in (s for s in ctx.config.model.sources if isinstance(s, PbsSource)):
        snap = pbs_snaps.get(pbs.id)
        if not isinstance(snap, Snapshot) or home is None or pbs.site == home:
            continue
        mine = [r for r in snap.of_kind("pbs.snapshot") if _pbs_matches(r.payload, instance)]
        newest = max((t for r in mine if (t := _at(r.payload.get("backup_time"))) is not None), default=None)
        if newest is not None and ctx.as_of - newest <= max_age:
            f.cite(*[r for r in mine if _at(r.payload.get("backup_time")) == newest])
            copies.append(text(f"backup of {when(newest)} on the backup server at {_site_name(ctx, pbs.site)}",
                               f"backup del {when(newest)} sul server di backup di {_site_name(ctx, pbs.site)}"))
    return copies


def _offsite(ctx: CheckContext, f: Findings, source: SourceView, instance: Instance,
             pbs_snaps: dict[str, Snapshot | EvidenceGap], max_hours: float) -> None:
    max_age = timedelta(hours=max_hours)
    node_sites = next((getattr(s, "node_sites", {}) for s in ctx.config.model.sources
                       if s.id == source.snap.source_id), {})
    home = node_sites.get(instance.node)
    copies: list[LocalizedText] = []
    found, unknown = holders(ctx, source, instance)
    for holder in found:
        copies += _sync_copies(ctx, f, holder, pbs_snaps, max_age)
    copies += _snapshot_copies(ctx, f, instance, home, pbs_snaps, max_age)
    label = instance.label()
    if copies:
        f.fact(f"{label}: off-site copy — {'; '.join(c['en'] for c in copies)}.",
               f"{label}: copia fuori sede — {'; '.join(c['it'] for c in copies)}.")
        return
    if unknown:
        # Its sync jobs cannot be seen: the absence of a copy is then not proven.
        f.gap(f"The backups of {label} are kept on backup server {', '.join(sorted(unknown))}, which is not an "
              "evidence source, so an off-site copy made from it cannot be seen.",
              f"I backup di {label} sono conservati sul server di backup {', '.join(sorted(unknown))}, che non è "
              "una fonte di evidenze: un'eventuale copia fuori sede non è visibile.")
        return
    gaps = [g for g in pbs_snaps.values() if isinstance(g, EvidenceGap)]
    gaps += [g for s in pbs_snaps.values() if isinstance(s, Snapshot)
             and (g := s.gap(("snapshots",), _groups(s, instance))) is not None]
    if gaps:
        f.gap(gaps[0].reason["en"], gaps[0].reason["it"])
    else:
        f.problem(f"No backup copy of {label} less than {fmt_age(max_age)} old at a site other than its own was "
                  "found.",
                  f"Non è stata trovata una copia di backup di {label} più recente di {fmt_age(max_age)} in un sito "
                  "diverso dal suo.")


def _groups(snap: Snapshot, instance: Instance) -> set[str]:
    """The instance's backup-group subjects on a PBS, in every datastore it reports."""
    kind = "vm" if instance.guest["type"] == "qemu" else "ct"
    return {f"{snap.source_id}/{r.payload.get('store')}/{kind}/{instance.vmid}" for r in snap.of_kind("pbs.datastore")}


def _restore_test(ctx: CheckContext, f: Findings, tenant: TenantConfig, view: TenantView, max_days: int) -> None:
    subjects = {f"tenant/{tenant.id}"} | {i.subject for _s, i in view.instances}
    tests = [r for r in ctx.manual("manual.restore_test") if r.subject in subjects]
    dated = sorted(((t, r) for r in tests if (t := _parse(r.payload.get("performed_at"))) is not None
                    and t <= ctx.as_of), key=lambda p: p[0])
    if not dated:
        f.problem("No restore test of this customer's backups is on record.",
                  "Non risulta alcuna prova di ripristino dei backup di questo cliente.")
        return
    at, rec = dated[-1]
    f.cite(rec)
    if ctx.as_of - at > timedelta(days=max_days):
        f.problem(f"The last restore test of this customer's backups was on {day(at)}, more than {max_days} days ago.",
                  f"L'ultima prova di ripristino dei backup di questo cliente è del {day(at)}, oltre {max_days} "
                  "giorni fa.")
    else:
        f.fact(f"Restore test performed on {day(at)} ({rec.payload.get('title') or 'document on record'}).",
               f"Prova di ripristino eseguita il {day(at)} ({rec.payload.get('title') or 'documento agli atti'}).")


def _parse(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
