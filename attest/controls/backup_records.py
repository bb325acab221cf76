"""What the backup controls read about one instance: the jobs that select it, its backups (PVE
volumes, vzdump runs, PBS snapshots) and their retention; and the tables that show them."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from attest.config import PbsSource, TenantConfig
from attest.controls.findings import Findings
from attest.controls.instances import (
    Instance,
    SourceView,
    TenantView,
    insufficient,
    no_instance,
    snap_pools,
    tenant_view,
)
from attest.controls.tables import INSTANCE, LAST_BACKUPS, NONE, Table, at_epoch, keeps, mark, size
from attest.engine import CheckContext, CheckOutcome, EvidenceGap, Snapshot
from evidence.log import StoredRecord


def backup_view(ctx: CheckContext, tenant: TenantConfig, sections: tuple[str, ...],
          privileges: Iterable[tuple[str, str]]) -> TenantView | CheckOutcome:
    view = tenant_view(ctx, tenant, sections, tuple(privileges))
    if isinstance(view, EvidenceGap):
        return insufficient(view.reason)
    if not view.instances:
        return no_instance(view)
    return view


# --- which jobs select an instance ----------------------------------------------------------------


def guest_pools(source: SourceView, instance: Instance) -> set[str]:
    pools = snap_pools(source.snap).get(instance.gid, set())
    return pools | ({str(instance.guest["pool"])} if instance.guest.get("pool") else set())


def selects(job: dict[str, Any], instance: Instance, pools: set[str],
            ids: Callable[[str], set[int]] | None = None) -> bool:
    """Whether a backup job's selection includes *instance* (ignoring whether it is enabled).
    *ids* gives the selection's "exclude" or "vmids" as a set (default: parsed here)."""
    if job.get("node") and str(job["node"]) != instance.node:
        return False  # a job restricted to a node backs up only the guests on that node
    sel = job.get("selection") or {}
    ids = ids or (lambda name: {int(v) for v in sel.get(name) or []})
    mode = sel.get("mode")
    if mode == "all":
        return instance.vmid not in ids("exclude")
    if mode == "vmid":
        return instance.vmid in ids("vmids")
    if mode == "pool":
        return str(sel.get("pool")) in pools
    return False


def jobs_for(source: SourceView, instance: Instance) -> tuple[list[StoredRecord], list[StoredRecord]]:
    """(enabled jobs selecting the instance, disabled jobs that would)."""
    pools = guest_pools(source, instance)
    picked = [r for r in source.provider("proxmox.backup_job")
              if selects(r.payload, instance, pools, partial(_job_ids, source.snap, r))]
    return ([r for r in picked if r.payload.get("enabled", True)],
            [r for r in picked if not r.payload.get("enabled", True)])


def _job_ids(snap: Snapshot, job: StoredRecord, name: str) -> set[int]:
    """A job's "exclude" or "vmids" list as a set, parsed once per collection: a job selecting
    every guest by id lists the whole fleet, and every instance of every tenant asks."""
    def build() -> set[int]:
        return {int(v) for v in (job.payload.get("selection") or {}).get(name) or []}

    return snap.derived(("job_ids", job.idx, name), build)


def volumes(snap: Snapshot, instance: Instance) -> list[StoredRecord]:
    """The instance's backups listed by one collection, oldest first."""
    found = snap.under("proxmox.backup_volume", instance.subject + "/backup/")
    return sorted(found, key=lambda r: int(r.payload.get("ctime") or 0))


def pbs_for(ctx: CheckContext, source_id: str) -> list[PbsSource]:
    return [s for s in ctx.config.model.sources
            if isinstance(s, PbsSource) and (not s.pve_sources or source_id in s.pve_sources)]


def pbs_matches(payload: dict[str, Any], instance: Instance) -> bool:
    kind = "vm" if instance.guest["type"] == "qemu" else "ct"
    return payload.get("backup_type") == kind and str(payload.get("backup_id")) == str(instance.vmid)


def pbs_snapshots(snap: Snapshot, instance: Instance) -> list[StoredRecord]:
    """The `pbs.snapshot` records of one PBS collection that `pbs_matches` *instance*, in log
    order, through an index built once per collection (every instance of every tenant asks)."""
    def build() -> dict[tuple[Any, str], list[StoredRecord]]:
        index: dict[tuple[Any, str], list[StoredRecord]] = {}
        for r in snap.of_kind("pbs.snapshot"):
            backup_type = r.payload.get("backup_type")
            if isinstance(backup_type, str):  # only a string equals "vm" or "ct"
                index.setdefault((backup_type, str(r.payload.get("backup_id"))), []).append(r)
        return index

    kind = "vm" if instance.guest["type"] == "qemu" else "ct"
    return list(snap.derived("pbs_snapshots", build).get((kind, str(instance.vmid)), ()))


def retention_of(source: SourceView, job: StoredRecord) -> tuple[dict[str, Any] | None, StoredRecord | None]:
    """A job's retention, or when it has none the retention of its target storage (as PVE applies it)."""
    if job.payload.get("retention"):
        return dict(job.payload["retention"]), None
    storage = next((r for r in source.provider("proxmox.storage")
                    if r.payload.get("storage") == job.payload.get("storage")), None)
    return (dict(storage.payload["prune_backups"]) if storage and storage.payload.get("prune_backups") else None,
            storage)


# --- tables ----------------------------------------------------------------------------------------


def jobs_table(f: Findings) -> Table:
    return f.table("Backup jobs selecting the instances", "Job di backup che selezionano le istanze", INSTANCE,
                   ("Job", "Job"), ("Enabled", "Attivo"), ("Schedule", "Pianificazione"), ("Node", "Nodo"),
                   ("Storage", "Storage"), ("Mode", "Modalità"), ("Selected by", "Selezionata per"),
                   ("Retention", "Conservazione"), ("Retention set on", "Conservazione fissata su"))


def _selected_by(job: dict[str, Any], instance: Instance) -> str:
    """How a job picks the instance, naming a pool only when it is one the tenant is matched by
    (a pool's name is often a customer's)."""
    sel = job.get("selection") or {}
    mode, pool = str(sel.get("mode") or NONE), sel.get("pool")
    if mode == "pool":
        return f"pool {pool}" if f"pool {pool}" in instance.own else "pool"
    return f"vmid {instance.vmid}" if mode == "vmid" else mode


def job_rows(t: Table, source: SourceView, instance: Instance, jobs: Iterable[StoredRecord]) -> None:
    for job in jobs:
        p = job.payload
        keep, storage = retention_of(source, job)
        t.add(instance.label(), p.get("id"), mark(p.get("enabled", True)), p.get("schedule"), p.get("node"),
              p.get("storage"), p.get("mode"), _selected_by(p, instance), keeps(keep),
              f"storage {storage.payload.get('storage')}" if storage else ("job" if keep else None))


@dataclass
class BackupRow:
    """One backup of an instance, as every source that shows it describes it."""

    at: datetime
    result: str = "ok"
    sources: list[str] = field(default_factory=list)
    size: Any = None
    verification: str | None = None
    encrypted: bool | None = None

    def seen(self, where: str, payload: dict[str, Any], encrypted: Any) -> None:
        if where not in self.sources:
            self.sources.append(where)
        self.size = payload.get("size") or self.size
        self.verification = (payload.get("verification") or {}).get("state") or self.verification
        self.encrypted = bool(encrypted) or bool(self.encrypted)


class BackupLedger:
    """Every backup of one instance the evidence shows, one row per backup whatever its sources:
    a PVE backup volume and a PBS snapshot of one backup share its time; a vzdump run is the
    backup made between its start and end (or, failed or pruned, a row of its own)."""

    def __init__(self) -> None:
        self.rows: dict[datetime, BackupRow] = {}
        self.runs: dict[str, dict[str, Any]] = {}

    def _row(self, at: datetime) -> BackupRow:
        return self.rows.setdefault(at, BackupRow(at))

    def volume(self, rec: StoredRecord) -> None:
        p = rec.payload
        if (at := at_epoch(p.get("ctime"))) is not None:
            self._row(at).seen(f"PVE {p.get('storage')}", p, p.get("encrypted"))

    def snapshot(self, pbs_id: str, rec: StoredRecord) -> None:
        p = rec.payload
        if (at := at_epoch(p.get("backup_time"))) is not None:
            self._row(at).seen(f"PBS {pbs_id}/{p.get('store')}", p, p.get("encrypted"))

    def run(self, run: dict[str, Any]) -> None:
        self.runs[str(run.get("upid") or run.get("starttime"))] = run

    def listing(self, until: datetime) -> list[BackupRow]:
        """The newest backups up to *until*, newest first, at most LAST_BACKUPS."""
        rows = {at: replace(r, sources=list(r.sources)) for at, r in self.rows.items()}
        times = sorted(rows)  # kept sorted as rows are added: the earliest row in a run's span is a bisection
        for run in self.runs.values():
            start = at_epoch(run.get("starttime"))
            if start is None:
                continue
            end = (at_epoch(run.get("endtime")) or start) + timedelta(minutes=1)
            first = bisect_left(times, start)
            made = rows[times[first]] if first < len(times) and times[first] <= end else None
            if made is None and start not in rows:
                insort(times, start)
            row = made or rows.setdefault(start, BackupRow(start, str(run.get("result") or "unknown")))
            row.sources.append(f"vzdump {run.get('node')}")
        listed = sorted((r for r in rows.values() if r.at <= until), key=lambda r: r.at, reverse=True)
        return listed[:LAST_BACKUPS]

    def fill(self, f: Findings, instance: Instance, until: datetime, kept: bool = False) -> None:
        what = ("Kept backups", "Backup conservati") if kept else ("Backups", "Backup")
        t = f.table(f"{what[0]} of {instance.label()} (newest first, at most {LAST_BACKUPS})",
                    f"{what[1]} di {instance.label()} (dal più recente, al massimo {LAST_BACKUPS})",
                    ("Date (UTC)", "Data (UTC)"), ("Result", "Esito"), ("Source", "Fonte"), ("Size", "Dimensione"),
                    ("Verification", "Verifica"), ("Encrypted", "Cifrato"))
        for row in self.listing(until):
            t.add(row.at, row.result, ", ".join(row.sources), size(row.size), row.verification, mark(row.encrypted))
