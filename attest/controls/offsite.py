"""Duty "backups", BK-04: each instance has a recent backup copy at another site (a PBS sync job
copying the datastore its backups are on, or its own snapshots on a PBS elsewhere), and a
restore test of the customer's backups is on record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from attest.attestation import LocalizedText
from attest.config import PbsSource, TenantConfig
from attest.controls.backup_records import backup_view, pbs_for, pbs_snapshots, volumes
from attest.controls.findings import Findings, day, text, when
from attest.controls.instances import BACKUP_LISTING, DATASTORE_AUDIT, SYS_AUDIT, Instance, SourceView, TenantView
from attest.controls.tables import LAST_RESTORE_TESTS, NONE, Table, at_epoch
from attest.engine import CheckContext, CheckOutcome, EvidenceGap, Snapshot, fmt_age


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
        matching = [pbs for pbs in pbs_for(ctx, source.snap.source_id) if _points_at(pbs, storage)]
        if not matching:
            unknown.add(str(storage.get("server")))
        for pbs in matching:
            holder = Holder(pbs, str(storage.get("datastore")))
            if holder not in found:
                found.append(holder)
    return found, unknown


def _points_at(pbs: PbsSource, storage: dict[str, Any]) -> bool:
    """Whether a PVE storage of type pbs is this PBS source: named in its `pve_storages`, or
    (when that list is empty) reaching the same host as its URL."""
    if pbs.pve_storages:
        return storage.get("storage") in pbs.pve_storages
    return urlparse(pbs.url).hostname == storage.get("server")


def _pbs_snapshot(ctx: CheckContext, pbs_id: str) -> Snapshot | EvidenceGap:
    """A fresh PBS collection whose jobs and snapshots were read with no failure (a failure on
    another customer's backup group does not count)."""
    def read(snap: Snapshot) -> Snapshot | EvidenceGap:
        gap = snap.gap(("jobs",))
        return gap if gap is not None else snap

    picked = ctx.pick(pbs_id, ctx.max_age, ("jobs", "snapshots"), read)
    return picked if isinstance(picked, EvidenceGap) else picked[0]


def offsite_copy(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    view = backup_view(ctx, tenant, ("backup", "storage"), (*SYS_AUDIT, *DATASTORE_AUDIT, *BACKUP_LISTING))
    if isinstance(view, CheckOutcome):
        return view
    f = Findings(used=list(view.used))
    pbs_snaps = {s.id: _pbs_snapshot(ctx, s.id) for s in ctx.config.model.sources if isinstance(s, PbsSource)}
    syncs = f.table("Sync jobs copying the instances' backups to another site",
                    "Job di sincronizzazione che copiano i backup delle istanze in un altro sito",
                    ("Job", "Job"), ("Backup server", "Server di backup"), ("Direction", "Direzione"),
                    ("Datastore", "Datastore"), ("Remote", "Remoto"), ("Remote datastore", "Datastore remoto"),
                    ("Copy at site", "Copia nel sito"), ("Last run state", "Stato dell'ultima esecuzione"),
                    ("Last run (UTC)", "Ultima esecuzione (UTC)"))
    for source, instance in view.instances:
        _offsite(ctx, f, syncs, source, instance, pbs_snaps, float(params["sync_max_age_hours"]))
    _restore_test(ctx, f, tenant, view, int(params["restore_test_max_age_days"]))
    return f.outcome(text(
        "Each of this customer's instances has a recent backup copy at another site, and a restore test was "
        "performed recently.",
        "Ciascuna istanza di questo cliente ha una copia di backup recente in un altro sito, e una prova di "
        "ripristino è stata eseguita di recente."))


def _site_name(ctx: CheckContext, site_id: str | None) -> str:
    site = next((s for s in ctx.config.model.sites if s.id == site_id), None)
    return site.name if site else str(site_id)


def _sync_copies(ctx: CheckContext, f: Findings, syncs: Table, holder: Holder,
                 pbs_snaps: dict[str, Snapshot | EvidenceGap], max_age: timedelta) -> list[LocalizedText]:
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
            ended = at_epoch(p.get("last_run_endtime"))
            other = p.get("remote_site") if pushed else pbs.site
            syncs.add(p.get("id"), pbs.id, p.get("direction") or "pull", p.get("store"), p.get("remote"),
                      p.get("remote_store"), _site_name(ctx, other), p.get("last_run_state"), ended)
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
        mine = pbs_snapshots(snap, instance)
        newest = max((t for r in mine if (t := at_epoch(r.payload.get("backup_time"))) is not None), default=None)
        if newest is not None and ctx.as_of - newest <= max_age:
            f.cite(*[r for r in mine if at_epoch(r.payload.get("backup_time")) == newest])
            copies.append(text(f"backup of {when(newest)} on the backup server at {_site_name(ctx, pbs.site)}",
                               f"backup del {when(newest)} sul server di backup di {_site_name(ctx, pbs.site)}"))
    return copies


def _offsite(ctx: CheckContext, f: Findings, syncs: Table, source: SourceView, instance: Instance,
             pbs_snaps: dict[str, Snapshot | EvidenceGap], max_hours: float) -> None:
    max_age = timedelta(hours=max_hours)
    node_sites = next((getattr(s, "node_sites", {}) for s in ctx.config.model.sources
                       if s.id == source.snap.source_id), {})
    home = node_sites.get(instance.node)
    copies: list[LocalizedText] = []
    found, unknown = holders(ctx, source, instance)
    for holder in found:
        copies += _sync_copies(ctx, f, syncs, holder, pbs_snaps, max_age)
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
    labels = {i.subject: i.label() for _s, i in view.instances}
    shown = f.table(f"Restore tests on record (newest first, at most {LAST_RESTORE_TESTS})",
                    f"Prove di ripristino agli atti (dalla più recente, al massimo {LAST_RESTORE_TESTS})",
                    ("Date (UTC)", "Data (UTC)"), ("Title", "Titolo"), ("Instance", "Istanza"),
                    ("Added by", "Aggiunta da"))
    for at, rec in reversed(dated[-LAST_RESTORE_TESTS:]):
        f.cite(rec)
        shown.add(at, rec.payload.get("title"), labels.get(rec.subject, NONE), rec.payload.get("added_by"))
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
