"""What the lab's backup jobs did before `world.now`: vzdump tasks, their logs, PBS snapshots.

Derived, never stored: a world and its `now` determine every run. The PVE API (tasks, backup
volumes) and the PBS API (snapshots, jobs) both read one `BackupHistory`, so the times a
collector sees on either side agree to the second.

How the lab's PVE behaves (and what a collector must cope with, as on a real cluster):
* a job runs once per scheduled time, as ONE vzdump task per node that holds selected guests
  (task id "" since the scheduler starts it, user root@pam); guests are backed up one after the
  other, and a guest's failure shows only in the task log; the task's status is then "job errors";
* the snapshot's backup-time is when that guest's backup started;
* after each run vzdump prunes with the job's retention (PBS prune semantics), so what is left at
  `now` is the retention applied to every successful backup so far;
* disabled jobs never ran within the history.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from attest.lab.lifecycle import LifeEvent, lifecycle_events
from attest.lab.world import LabBackupJob, LabGuest, LabPbsDatastore, LabPbsJob, LabStorage, LabWorld

DAY = 86400
_DOW = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_KEEP_ORDER = ("keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")


def stable(*parts: object, modulo: int) -> int:
    """A deterministic pseudo-random number (same world, same bytes)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulo


# --- schedules ----------------------------------------------------------------------------------------


def _parse_schedule(schedule: str) -> tuple[frozenset[int] | None, int, int]:
    """'01:30' -> every day; 'sat,sun 02:00' -> those weekdays; 'daily' -> 00:00 (PBS style)."""
    if schedule == "daily":
        return None, 0, 0
    m = re.fullmatch(r"(?:(?P<dow>[a-z,]+)\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})", schedule.strip())
    if not m:
        raise ValueError(f"the lab only knows 'HH:MM' and 'dow[,dow] HH:MM' schedules, not {schedule!r}")
    days = frozenset(_DOW[d] for d in m["dow"].split(",")) if m["dow"] else None
    return days, int(m["h"]), int(m["m"])


def run_times(schedule: str, since: int, until: int) -> list[int]:
    """Scheduled instants in [since, until), oldest first (node clocks are UTC)."""
    days, hour, minute = _parse_schedule(schedule)
    first_day = since - since % DAY
    out = []
    for day in range(first_day, until + DAY, DAY):
        t = day + hour * 3600 + minute * 60
        if since <= t < until and (days is None or datetime.fromtimestamp(t, UTC).weekday() in days):
            out.append(t)
    return out


def next_run(schedule: str, now: int) -> int:
    return run_times(schedule, now + 1, now + 8 * DAY)[0]


# --- retention -------------------------------------------------------------------------------------------


def parse_retention(value: Mapping[str, int] | str | None) -> dict[str, int]:
    if value is None:
        return {}
    if isinstance(value, str):
        pairs = (item.split("=", 1) for item in value.split(",") if item)
        return {k.strip(): int(v) for k, v in pairs}
    return {k: int(v) for k, v in value.items()}


def retention_string(value: Mapping[str, int]) -> str:
    return ",".join(f"{k}={value[k]}" for k in sorted(value))


def _period(key: str, t: int) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return {"keep-last": str(t), "keep-hourly": d.strftime("%Y/%m/%d/%H"), "keep-daily": d.strftime("%Y/%m/%d"),
            "keep-weekly": d.strftime("%G/%V"), "keep-monthly": d.strftime("%Y/%m"),
            "keep-yearly": d.strftime("%Y")}[key]


def prune(times: Iterable[int], retention: Mapping[str, int]) -> list[int]:
    """The backup times PBS/vzdump keep, as proxmox-backup's compute_prune_info marks them:
    each keep-* option, in order, keeps the newest backup of each of the N newest periods that no
    earlier option has covered. No options (or keep-all) keeps everything."""
    newest_first = sorted(set(times), reverse=True)
    if not retention or retention.get("keep-all"):
        return sorted(newest_first)
    kept: set[int] = set()
    for key in _KEEP_ORDER:
        n = retention.get(key, 0)
        if not n:
            continue
        covered = {_period(key, t) for t in kept}
        chosen: set[str] = set()
        for t in newest_first:
            if t in kept:
                continue
            period = _period(key, t)
            if period in covered or period in chosen:
                continue
            if len(chosen) >= n:
                break
            chosen.add(period)
            kept.add(t)
    return sorted(kept)


# --- job selection ------------------------------------------------------------------------------------------


def selected_guests(world: LabWorld, job: LabBackupJob) -> list[LabGuest]:
    """pve-manager's VZDump get_included_guests: pool wins over vmid, vmid over all (minus exclude);
    a job restricted to a node selects only that node's guests. Templates are not left out."""
    guests = sorted(world.guests, key=lambda g: g.vmid)
    if job.pool:
        chosen = [g for g in guests if g.pool == job.pool]
    elif job.vmids:
        wanted = frozenset(job.vmids)
        chosen = [g for g in guests if g.vmid in wanted]
    elif job.all:
        excluded = frozenset(job.exclude)
        chosen = [g for g in guests if g.vmid not in excluded]
    else:
        chosen = []
    return [g for g in chosen if job.node is None or g.node == job.node]


# --- records ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestBackup:
    guest: LabGuest
    start: int
    end: int
    error: str | None  # None: finished


@dataclass(frozen=True)
class Task:
    """One finished task of a node's task list (vzdump, the daily apt update, or a guest's or the
    node's start, stop, reboot or migration: `attest.lab.lifecycle`)."""

    node: str
    type: str
    id: str
    user: str
    pid: int
    pstart: int
    starttime: int
    endtime: int
    status: str  # "OK" or the error text
    job: LabBackupJob | None = None
    backups: tuple[GuestBackup, ...] = ()
    target: str | None = None  # migrations: the node it went to

    @property
    def upid(self) -> str:
        return (f"UPID:{self.node}:{self.pid:08X}:{self.pstart:08X}:{self.starttime:08X}:"
                f"{self.type}:{self.id}:{self.user}:")

    def entry(self) -> dict[str, object]:
        return {"upid": self.upid, "node": self.node, "pid": self.pid, "pstart": self.pstart,
                "starttime": self.starttime, "endtime": self.endtime, "type": self.type, "id": self.id,
                "user": self.user, "status": self.status}


@dataclass(frozen=True)
class Snapshot:
    storage: LabStorage
    datastore: str
    guest: LabGuest
    time: int
    end: int
    protected: bool
    verification: tuple[str, str] | None  # (state, upid); None = never verified
    owner: str

    @property
    def backup_type(self) -> str:
        return "vm" if self.guest.type == "qemu" else "ct"

    @property
    def rfc3339(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time))

    @property
    def volid(self) -> str:
        return f"{self.storage.id}:backup/{self.backup_type}/{self.guest.vmid}/{self.rfc3339}"

    @property
    def fingerprint(self) -> str | None:
        return str(self.storage.options["encryption-key"]) if self.storage.encrypted else None

    def files(self) -> list[dict[str, object]]:
        crypt = "encrypt" if self.storage.encrypted else "none"
        disk = (32 if self.guest.type == "qemu" else 8) * 1024**3
        conf, archive = (("qemu-server.conf.blob", "drive-scsi0.img.fidx") if self.guest.type == "qemu"
                         else ("pct.conf.blob", "root.pxar.didx"))
        data = disk if self.guest.type == "qemu" else disk * (20 + stable(self.guest.vmid, modulo=30)) // 100
        return [
            {"filename": conf, "crypt-mode": crypt, "size": 480 + stable(self.guest.vmid, "conf", modulo=300)},
            {"filename": archive, "crypt-mode": crypt, "size": data},
            {"filename": "index.json.blob", "crypt-mode": "sign-only" if self.storage.encrypted else "none",
             "size": 410 + stable(self.time, modulo=80)},
            # The client log is uploaded after the manifest is written: PBS lists it bare.
            {"filename": "client.log.blob"},
        ]

    @property
    def size(self) -> int:
        return sum(int(str(f.get("size", 0))) for f in self.files())


# --- the history --------------------------------------------------------------------------------------------


class BackupHistory:
    """Every task and every kept snapshot of a world, computed once."""

    def __init__(self, world: LabWorld) -> None:
        self.world = world
        self.since = world.now - world.history_days * DAY
        self.tasks_by_node: dict[str, list[Task]] = {n.name: [] for n in world.nodes}
        self._backups: dict[tuple[str, int], list[GuestBackup]] = {}  # (storage, vmid) -> successful ones
        self._selected = {job.id: frozenset(g.vmid for g in selected_guests(world, job)) for job in world.backup_jobs}
        self._verify_runs: dict[str, list[tuple[int, LabPbsJob]]] = {}
        for job in world.backup_jobs:
            if job.enabled:
                self._run_job(job)
        for event in lifecycle_events(world, self.since):
            self.tasks_by_node.setdefault(event.node, []).append(self._lifecycle_task(event))
        for node in world.nodes:
            self.tasks_by_node[node.name] += self._apt_updates(node.name)
            self.tasks_by_node[node.name].sort(key=lambda t: (t.starttime, t.upid), reverse=True)
        self.tasks_by_upid = {t.upid: t for ts in self.tasks_by_node.values() for t in ts}
        self.snapshots_by_storage = self._snapshots()
        self.snapshots_by_datastore: dict[str, list[Snapshot]] = {}
        for snaps in self.snapshots_by_storage.values():
            for s in snaps:
                self.snapshots_by_datastore.setdefault(s.datastore, []).append(s)

    # -- vzdump runs --

    def _run_job(self, job: LabBackupJob) -> None:
        by_node: dict[str, list[LabGuest]] = {}
        for g in selected_guests(self.world, job):
            by_node.setdefault(g.node, []).append(g)
        times = run_times(job.schedule, self.since, self.world.now)
        for index, run_at in enumerate(times):
            runs_left = len(times) - index  # 1 = the newest run
            for node, guests in sorted(by_node.items()):
                task = self._vzdump_task(job, node, guests, run_at, runs_left)
                if task.endtime <= self.world.now:  # a run still going is not in the archive yet
                    self.tasks_by_node[node].append(task)
                    for b in task.backups:
                        if b.error is None:
                            self._backups.setdefault((job.storage, b.guest.vmid), []).append(b)

    def _vzdump_task(self, job: LabBackupJob, node: str, guests: list[LabGuest], run_at: int,
                     runs_left: int) -> Task:
        start = run_at + 1 + stable(node, run_at, modulo=4)
        cursor = start + 1
        backups = []
        for g in guests:
            failure = self.world.backup_failures.get(g.vmid)
            if failure is not None and runs_left <= failure.runs:
                took = 20 + stable(g.vmid, run_at, "fail", modulo=40)
                backups.append(GuestBackup(g, cursor, cursor + took, failure.reason))
            else:
                took = 35 + stable(g.vmid, run_at, modulo=90)
                backups.append(GuestBackup(g, cursor, cursor + took, None))
            cursor += took + 1
        status = "job errors" if any(b.error for b in backups) else "OK"
        return Task(node, "vzdump", "", "root@pam", pid=0x1000 + stable(node, run_at, job.id, modulo=0x3FFFFF),
                    pstart=stable(node, run_at, "pstart", modulo=0x7FFFFFFF), starttime=start, endtime=cursor + 1,
                    status=status, job=job, backups=tuple(backups))

    def _apt_updates(self, node: str) -> list[Task]:
        # Noise a task list really has: the daily package index update (typefilter must skip it).
        out = []
        for t in run_times("04:15", self.since, self.world.now):
            start = t + stable(node, t, "apt", modulo=600)
            out.append(Task(node, "aptupdate", "", "root@pam", pid=0x1000 + stable(node, t, modulo=0x3FFFFF),
                            pstart=stable(node, t, "pstart", modulo=0x7FFFFFFF), starttime=start,
                            endtime=start + 6, status="OK"))
        return [t for t in out if t.endtime <= self.world.now]

    @staticmethod
    def _lifecycle_task(e: LifeEvent) -> Task:
        return Task(e.node, e.type, e.id, e.user, pid=0x1000 + stable(e.node, e.start, e.type, e.id, modulo=0x3FFFFF),
                    pstart=stable(e.node, e.start, "pstart", modulo=0x7FFFFFFF), starttime=e.start,
                    endtime=e.end, status=e.status, target=e.target)

    # -- snapshots --

    def _snapshots(self) -> dict[str, list[Snapshot]]:
        out: dict[str, list[Snapshot]] = {}
        for (storage_id, vmid), backups in sorted(self._backups.items()):
            storage = self.world.storage(storage_id)
            if storage.pbs_datastore is None:
                continue  # the lab's jobs all write to PBS
            keep = set(prune((b.start for b in backups), self._retention(storage_id, vmid)))
            kept = [b for b in backups if b.start in keep]
            protect_oldest = vmid in self.world.protected_snapshots
            for i, b in enumerate(kept):
                out.setdefault(storage_id, []).append(Snapshot(
                    storage, storage.pbs_datastore, b.guest, b.start, b.end,
                    protected=protect_oldest and i == 0,
                    verification=self._verification(storage.pbs_datastore, b),
                    owner=str(storage.options.get("username", "root@pam"))))
        return out

    def _retention(self, storage_id: str, vmid: int) -> dict[str, int]:
        # The newest job that backs the guest up to this storage prunes it; without a job
        # retention, the storage's prune-backups applies.
        jobs = [j for j in self.world.backup_jobs if j.enabled and j.storage == storage_id
                and vmid in self._selected[j.id]]
        for job in jobs:
            if job.prune_backups is not None:
                return parse_retention(job.prune_backups)
        return parse_retention(self.world.storage(storage_id).options.get("prune-backups"))  # type: ignore[arg-type]

    def _verification(self, store_name: str, b: GuestBackup) -> tuple[str, str] | None:
        pbs = self.world.pbs
        if pbs is None:
            return None
        store = next((d for d in pbs.datastores if d.name == store_name), None)
        if store is None:
            return None
        when, upid = self._verified_at(pbs.name, store, b)
        if when is None or upid is None:
            return None
        failing = store.failing_for_s is not None and b.start >= self.world.now - store.failing_for_s
        return ("failed" if failing else "ok"), upid

    def _verified_at(self, host: str, store: LabPbsDatastore, b: GuestBackup) -> tuple[int | None, str | None]:
        if store.verify_new:
            at = b.end + 3
            snap = f"{store.name}:{'vm' if b.guest.type == 'qemu' else 'ct'}/{b.guest.vmid}/{b.start:08X}"
            return at, pbs_upid(host, "verify", snap, "root@pam", at)
        runs = self._verify_runs.get(store.name)
        if runs is None:
            jobs = [j for j in (self.world.pbs.jobs if self.world.pbs else ()) if j.kind == "verify"
                    and j.store == store.name]
            runs = self._verify_runs[store.name] = sorted(
                ((t, j) for j in jobs for t in run_times(j.schedule, self.since, self.world.now)), key=lambda r: r[0])
        at_job = next(((t, j) for t, j in runs if t > b.end), None)
        if at_job is None:
            return None, None
        at, job = at_job
        return at, pbs_job_upid(host, "verificationjob", f"{store.name}:{job.id}", at)

    # -- reading --

    def pbs_job_runs(self, job: LabPbsJob) -> tuple[int, int] | None:
        """(start, end) of the job's last run before now."""
        runs = run_times(job.schedule, self.world.now - 8 * DAY, self.world.now)
        if not runs:
            return None
        start = runs[-1]
        return start, start + 30 + stable(job.id, start, modulo=600)


def pbs_upid(host: str, worker: str, worker_id: str, user: str, at: int) -> str:
    """A PBS UPID: like PVE's, with the task id escaped the systemd way (':' -> '\\x3a')."""
    escaped = worker_id.replace("\\", "\\x5c").replace(":", "\\x3a").replace("/", "\\x2f")
    pid = 0x3000 + stable(host, worker, worker_id, at, modulo=0xFFFF)
    pstart = stable(host, at, modulo=0xFFFFFF)
    return f"UPID:{host}:{pid:08X}:{pstart:08X}:{0x0F:08X}:{at:08X}:{worker}:{escaped}:{user}:"


def pbs_job_upid(host: str, worker: str, worker_id: str, at: int) -> str:
    return pbs_upid(host, worker, worker_id, "root@pam", at)


# --- task logs ------------------------------------------------------------------------------------------------


def _stamp(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def _duration(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# (id(job), node) -> (job, its command line): a big job names thousands of guests, and every one of
# its task logs starts with the same line. The job is kept so that its id cannot be reused.
_COMMANDS: dict[tuple[int, str], tuple[LabBackupJob, str]] = {}


def _vzdump_command(job: LabBackupJob, node: str) -> str:
    known = _COMMANDS.get((id(job), node))
    if known is None or known[0] is not job:
        known = _COMMANDS[(id(job), node)] = (job, _render_vzdump_command(job, node))
    return known[1]


def _render_vzdump_command(job: LabBackupJob, node: str) -> str:
    parts = ["vzdump"]
    if job.vmids:
        parts.append(",".join(str(v) for v in job.vmids))
    if job.all:
        parts += ["--all", "1"]
    if job.exclude:
        parts += ["--exclude", ",".join(str(v) for v in job.exclude)]
    if job.pool:
        parts += ["--pool", job.pool]
    parts += ["--mode", job.mode, "--node", node, "--notes-template", f"'{job.notes_template}'"]
    if job.prune_backups is not None:
        parts += ["--prune-backups", f"'{retention_string(parse_retention(job.prune_backups))}'"]
    parts += ["--storage", job.storage, "--fleecing", "0", "--notification-mode", "auto"]
    return " ".join(parts)


def _guest_lines(world: LabWorld, b: GuestBackup, storage: LabStorage) -> list[str]:
    g = b.guest
    btype = "vm" if g.type == "qemu" else "ct"
    archive = f"{btype}/{g.vmid}/{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(b.start))}"
    lines = [f"INFO: Starting Backup of VM {g.vmid} ({g.type})", f"INFO: Backup started at {_stamp(b.start)}",
             f"INFO: status = {g.status}"]
    if g.type == "qemu":
        lines += [f"INFO: VM Name: {g.name}",
                  f"INFO: include disk 'scsi0' '{g.disk_storage}:vm-{g.vmid}-disk-0' 32G"]
    else:
        lines += [f"INFO: CT Name: {g.name}", "INFO: including mount point rootfs ('/') in backup"]
    lines += ["INFO: backup mode: snapshot", "INFO: ionice priority: 7",
              f"INFO: creating Proxmox Backup Server archive '{archive}'"]
    if storage.encrypted:
        lines.append("INFO: enabling encryption")
    if b.error is not None:
        return [*lines, f"ERROR: {b.error}", "INFO: aborting backup job",
                f"ERROR: Backup of VM {g.vmid} failed - {b.error}", f"INFO: Failed at {_stamp(b.end)}"]
    reused = 90 + stable(g.vmid, b.start, modulo=9)
    return [*lines, f"INFO: backup was done incrementally, reused {reused}% of the data",
            "INFO: adding notes to backup",
            f"INFO: Finished Backup of VM {g.vmid} ({_duration(b.end - b.start)})",
            f"INFO: Backup finished at {_stamp(b.end)}"]


def task_log(world: LabWorld, task: Task) -> list[str]:
    """The task's log, line by line, as `/nodes/{node}/tasks/{upid}/log` numbers them."""
    if task.type == "aptupdate":
        return ["starting apt-get update", "Hit:1 http://download.proxmox.com/debian/pve trixie InRelease",
                "Reading package lists...", "TASK OK"]
    if task.type != "vzdump" or task.job is None:
        return _lifecycle_log(world, task)
    storage = world.storage(task.job.storage)
    lines = [f"INFO: starting new backup job: {_vzdump_command(task.job, task.node)}"]
    for b in task.backups:
        lines += _guest_lines(world, b, storage)
    failed = any(b.error for b in task.backups)
    lines += ["INFO: Backup job finished with errors" if failed else "INFO: Backup job finished successfully",
              "INFO: notified via target `mail-to-root`",
              "TASK ERROR: job errors" if failed else "TASK OK"]
    return lines


def _lifecycle_log(world: LabWorld, task: Task) -> list[str]:
    """The few lines PVE logs for a start, stop, reboot or migration."""
    kind = "CT" if task.type.startswith("vz") else "VM"
    ip = next((n.ip for n in world.nodes if n.name == task.target), "?")
    took = _duration(task.endtime - task.starttime)
    if task.type == "hamigrate":
        lines = [f"requesting HA migration for {task.id} to node {task.target}"]
    elif task.type in ("qmigrate", "vzmigrate"):
        begin, finish = _stamp(task.starttime), _stamp(task.endtime)
        lines = [f"{begin} starting migration of {kind} {task.id} to node '{task.target}' ({ip})"]
        if task.type == "vzmigrate":
            lines = [f"{begin} shutdown CT {task.id}", *lines,
                     f"{finish} start container on target node '{task.target}'"]
        lines.append(f"{finish} migration finished successfully (duration {took})")
    elif task.type in ("startall", "stopall"):
        lines = ["Starting guests according to their boot order" if task.type == "startall"
                 else "Stopping all guests"]
    else:
        lines = []
    return [*lines, "TASK OK" if task.status == "OK" else f"TASK ERROR: {task.status}"]
