"""PVE endpoints about backups: jobs, coverage, backup volumes on PBS storages, vzdump tasks.

Gotchas the lab reproduces because real PVE has them:
* `prune-backups` comes back as an object, but some clusters (and older tools) show the
  property-string form "keep-daily=3,keep-weekly=1": the lab serves one job of each;
* /cluster/backup-info/not-backed-up counts disabled jobs as covering their guests;
* a task list shows 50 tasks unless `limit` says otherwise, and a task log 50 lines;
* scheduled vzdump tasks have id "" (a `vmid` filter finds none of them).
"""

from __future__ import annotations

from typing import Any

from attest.lab.history import Snapshot, Task, next_run, parse_retention, selected_guests, task_log
from attest.lab.pve_context import PveContext
from attest.lab.wire import ApiError, Extra, Param, Request, Route, check_bool, check_int, truthy
from attest.lab.world import LabBackupJob, LabStorage, LabToken


class BackupEndpoints:
    def __init__(self, ctx: PveContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        task_params = {"typefilter": Param(), "since": Param(check=check_int()), "until": Param(check=check_int()),
                       "limit": Param(check=check_int()), "start": Param(check=check_int()),
                       "vmid": Param(check=check_int(100)), "errors": Param(check=check_bool),
                       "source": Param(enum=("archive", "active", "all")), "statusfilter": Param(),
                       "userfilter": Param()}
        return [
            Route("/cluster/backup", self._jobs),
            Route("/cluster/backup/{id}", self._job),
            Route("/cluster/backup-info/not-backed-up", self._not_backed_up),
            Route("/nodes/{node}/tasks", self._tasks, task_params),
            Route("/nodes/{node}/tasks/{upid}/status", self._task_status),
            Route("/nodes/{node}/tasks/{upid}/log", self._task_log,
                  {"start": Param(check=check_int()), "limit": Param(check=check_int()),
                   "download": Param(check=check_bool)}),
        ]

    # -- jobs --

    def job_entry(self, job: LabBackupJob) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": job.id, "type": "vzdump", "enabled": int(job.enabled),
                                 "schedule": job.schedule, "storage": job.storage, "mode": job.mode,
                                 "notes-template": job.notes_template}
        if job.enabled:  # pve-manager computes next-run for enabled jobs only
            entry["next-run"] = next_run(job.schedule, self.ctx.world.now)
        if job.all:
            entry["all"] = 1
        for key, value in (("exclude", job.exclude), ("vmid", job.vmids)):
            if value:
                entry[key] = ",".join(str(v) for v in value)
        for key, opt in (("pool", job.pool), ("node", job.node), ("comment", job.comment)):
            if opt is not None:
                entry[key] = opt
        if isinstance(job.prune_backups, str):
            entry["prune-backups"] = job.prune_backups
        elif job.prune_backups is not None:
            entry["prune-backups"] = parse_retention(job.prune_backups)
        return entry

    def _jobs(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        return [self.job_entry(j) for j in self.ctx.world.backup_jobs]

    def _job(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        job = next((j for j in self.ctx.world.backup_jobs if j.id == req.path_params["id"]), None)
        if job is None:
            raise ApiError(500, f"Job '{req.path_params['id']}' does not exist")
        return self.job_entry(job)

    def _not_backed_up(self, req: Request) -> object:
        self.ctx.perms.require(req.token, "/", "Sys.Audit")
        covered = {g.vmid for job in self.ctx.world.backup_jobs for g in selected_guests(self.ctx.world, job)}
        return [{"vmid": g.vmid, "type": g.type, "name": g.name} for g in self.ctx.visible_guests(req.token)
                if g.vmid not in covered]

    # -- backup volumes (called by the storage content endpoint) --

    def backup_volumes(self, token: LabToken, storage: LabStorage) -> list[dict[str, Any]]:
        """pve-storage's PBSPlugin list_volumes, then check_volume_access per volume: a backup is
        listed to whoever has Datastore.AllocateSpace on the storage and VM.Backup on the guest."""
        if "Datastore.Allocate" in self.ctx.perms.privileges(token, f"/storage/{storage.id}"):
            allowed = None
        elif self.ctx.perms.has(token, f"/storage/{storage.id}", "Datastore.AllocateSpace"):
            allowed = {g.vmid for g in self.ctx.sorted_guests
                       if self.ctx.perms.has(token, f"/vms/{g.vmid}", "VM.Backup")}
        else:
            return []
        return [_volume(s) for s in self.ctx.history.snapshots_by_storage.get(storage.id, ())
                if allowed is None or s.guest.vmid in allowed]

    # -- tasks --

    def _may_see_tasks(self, token: LabToken, node: str) -> bool:
        return self.ctx.perms.has(token, f"/nodes/{node}", "Sys.Audit")

    def _tasks(self, req: Request) -> object:
        node, q = req.path_params["node"], req.query
        self.ctx.require_node(node)
        if not self._may_see_tasks(req.token, node):
            return Extra([], {"total": 0})  # only one's own tasks, and the lab's tasks are root@pam's
        since, until = int(q.get("since", 0)), int(q.get("until", 2**62))
        typefilter, vmid = q.get("typefilter"), q.get("vmid")
        errors_only = truthy(q.get("errors"))
        statuses = set(q["statusfilter"].split(",")) if "statusfilter" in q else None
        matched = [t for t in self.ctx.history.tasks_by_node.get(node, [])
                   if since <= t.starttime <= until
                   and (typefilter is None or t.type == typefilter)
                   and (vmid is None or t.id == vmid)
                   and (not errors_only or t.status != "OK")
                   and (statuses is None or _status_type(t) in statuses)
                   and ("userfilter" not in q or q["userfilter"].lower() in t.user.lower())]
        start, limit = int(q.get("start", 0)), int(q.get("limit", 50))
        return Extra([t.entry() for t in matched[start:start + limit]], {"total": len(matched)})

    def _task(self, req: Request) -> Task:
        node, upid = req.path_params["node"], req.path_params["upid"]
        self.ctx.require_node(node)
        parts = upid.split(":")
        if len(parts) < 9 or parts[0] != "UPID":
            raise ApiError(400, "Parameter verification failed.", {"upid": "unable to parse worker upid"})
        if parts[1] != node:
            raise ApiError(400, "Parameter verification failed.", {"upid": f"upid node '{parts[1]}' does not match"})
        if not self._may_see_tasks(req.token, node):
            raise ApiError(403, f"Permission check failed (/nodes/{node}, Sys.Audit)")
        task = self.ctx.history.tasks_by_upid.get(upid)
        if task is None:
            raise ApiError(500, f"unable to open file - No such file or directory: task '{upid}'")
        return task

    def _task_status(self, req: Request) -> object:
        t = self._task(req)
        return {k: v for k, v in t.entry().items() if k not in ("endtime", "status")} | {
            "status": "stopped", "exitstatus": t.status}

    def _task_log(self, req: Request) -> object:
        t = self._task(req)
        lines = task_log(self.ctx.world, t)
        start, limit = int(req.query.get("start", 0)), int(req.query.get("limit", 50))
        return Extra([{"n": i + 1, "t": line} for i, line in enumerate(lines)][start:start + limit],
                     {"total": len(lines)})


def _status_type(t: Task) -> str:
    return "ok" if t.status == "OK" else ("warning" if t.status.startswith("WARNINGS") else "error")


def _volume(s: Snapshot) -> dict[str, Any]:
    entry: dict[str, Any] = {"volid": s.volid, "content": "backup", "format": f"pbs-{s.backup_type}",
                             "size": s.size, "ctime": s.time, "vmid": s.guest.vmid, "subtype": s.guest.type,
                             "notes": s.guest.name}
    if s.verification is not None:
        entry["verification"] = {"state": s.verification[0], "upid": s.verification[1]}
    if s.protected:
        entry["protected"] = 1
    if s.fingerprint:
        entry["encrypted"] = s.fingerprint
    return entry
