"""The lab's Proxmox Backup Server API: a pure request handler, like `PveApi`.

What differs from PVE, as PBS (proxmox-rest-server, Rust/serde) does it:
* auth header `PBSAPIToken=<user@realm!tokenid>:<secret>` (':' where PVE has '=');
* booleans are JSON true/false, not 0/1;
* errors are plain text bodies (`404 Path '/api2/json/x' not found.`), not JSON;
* list endpoints may add `digest` beside `data` in the envelope.

Snapshots come from the same `BackupHistory` as the PVE side's backup volumes, so a snapshot's
backup-time equals the ctime of the PVE volume `<storage>:backup/<vm|ct>/<id>/<RFC3339Z>`.

Sync jobs: PBS >= 3.3 stores push jobs beside pull jobs. `/admin/sync` takes `sync-direction`
(`pull` | `push` | `all`) and, like PBS, lists only pull jobs when it is not given; every job the
lab returns carries `sync-direction` ("pull" or "push"). A collector must ask with
`sync-direction=all` to see push jobs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from attest.lab.history import BackupHistory, next_run, pbs_job_upid
from attest.lab.wire import (
    API_PREFIX,
    ApiError,
    Extra,
    LabResponse,
    Param,
    Permissions,
    Request,
    Route,
    RouteTable,
    TokenAuthenticator,
    api_path,
    check_query,
    envelope,
    file_digest,
    json_response,
    safe_reason,
    status_phrase,
)
from attest.lab.world import LabPbs, LabPbsJob, LabToken, LabWorld

_TOKEN_HEADER = re.compile(r"^\s*PBSAPIToken\s*=\s*(?P<user>[^\s!]+)!(?P<tokenid>[^\s:]+):(?P<secret>\S+)\s*$")
_BACKUP_TYPES = ("vm", "ct", "host")


class PbsApi:
    """Answers PBS API requests about `world.pbs`. Thread-safe (its memo holds immutable answers)."""

    def __init__(self, world: LabWorld, *, error_paths: Mapping[str, int] | None = None) -> None:
        if world.pbs is None:
            raise ValueError("this world has no Proxmox Backup Server")
        self.world = world
        self.pbs: LabPbs = world.pbs
        self.error_paths = {api_path(p): s for p, s in (error_paths or {}).items()}
        self._perms = Permissions(None)  # PBS ACL paths: /datastore/<store>, /remote/<name>, /system
        self._authenticate = TokenAuthenticator(
            self.pbs.tokens, _TOKEN_HEADER, "authentication failed - no authentication credentials provided.",
            "authentication failed - invalid token secret")
        self._stores = {d.name: d for d in self.pbs.datastores}
        self._history: BackupHistory | None = None
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, str, tuple[tuple[str, str], ...]], LabResponse] = {}
        store_param = {"store": Param()}
        self._routes = RouteTable([
            Route("/version", self._version),
            Route("/admin/datastore", self._datastores),
            Route("/admin/datastore/{store}/snapshots", self._snapshots,
                  {"backup-type": Param(enum=_BACKUP_TYPES), "backup-id": Param(), "ns": Param()}),
            Route("/admin/datastore/{store}/groups", self._groups, {"backup-type": Param(enum=_BACKUP_TYPES),
                                                                    "ns": Param()}),
            Route("/admin/datastore/{store}/status", self._store_status, {"verbose": Param()}),
            Route("/admin/verify", self._verify_jobs, store_param),
            Route("/admin/prune", self._prune_jobs, store_param),
            Route("/admin/sync", self._sync_jobs, {"store": Param(), "sync-direction": Param(
                enum=("pull", "push", "all"))}),
            Route("/config/remote", self._remotes),
            Route("/config/datastore", self._datastore_config),
            Route("/status/datastore-usage", self._datastore_usage),
        ])

    @property
    def history(self) -> BackupHistory:
        if self._history is None:
            with self._lock:
                if self._history is None:
                    self._history = BackupHistory(self.world)
        return self._history

    # -- entry point --

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str]) -> LabResponse:
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            return _text(404, f"Path '{path}' not found.")
        apath = api_path(path)
        try:
            token = self._authenticate(headers)
            if apath in self.error_paths:
                raise ApiError(self.error_paths[apath], status_phrase(self.error_paths[apath]))
            found = self._routes.find(apath)
            if found is None:
                raise ApiError(404, f"Path '{path}' not found.")
            if method.upper() != "GET":
                raise ApiError(405, f"Method '{method.upper()}' not allowed on '{path}'.")
            key = (f"{token.full_id}\0GET", apath, tuple(sorted(query.items())))
            cached = self._memo.get(key)
            if cached is None:
                route, params = found
                _check_pbs_query(route, query)
                cached = json_response(envelope(route.handler(Request(token, params, query))), cacheable=True)
                self._memo[key] = cached
            return cached
        except ApiError as err:
            return _text(err.status, err.message)

    # -- privileges --

    def _may(self, token: LabToken, path: str, priv: str) -> bool:
        return self._perms.has(token, path, priv)

    def _require_store(self, req: Request) -> str:
        store = req.path_params["store"]
        if not self._may(req.token, f"/datastore/{store}", "Datastore.Audit"):
            raise ApiError(403, "permission check failed")
        if store not in self._stores:
            raise ApiError(400, f"datastore '{store}' does not exist")
        return store

    # -- endpoints --

    def _version(self, req: Request) -> object:
        return {"version": self.pbs.version, "release": self.pbs.release, "repoid": self.pbs.repoid}

    def _datastores(self, req: Request) -> object:
        return [{"store": d.name} | ({"comment": d.comment} if d.comment else {}) for d in self.pbs.datastores
                if self._may(req.token, f"/datastore/{d.name}", "Datastore.Audit")]

    def _snapshots(self, req: Request) -> object:
        store = self._require_store(req)
        if req.query.get("ns"):
            raise ApiError(400, f"namespace '{req.query['ns']}' does not exist")
        btype, bid = req.query.get("backup-type"), req.query.get("backup-id")
        out = []
        for s in self.history.snapshots_by_datastore.get(store, ()):
            if btype not in (None, s.backup_type) or bid not in (None, str(s.guest.vmid)):
                continue
            item: dict[str, Any] = {"backup-type": s.backup_type, "backup-id": str(s.guest.vmid),
                                    "backup-time": s.time, "comment": s.guest.name, "files": s.files(),
                                    "size": s.size, "owner": s.owner, "protected": s.protected}
            if s.verification is not None:  # never verified: PBS leaves the key out
                item["verification"] = {"state": s.verification[0], "upid": s.verification[1]}
            if s.fingerprint:
                item["fingerprint"] = s.fingerprint
            out.append(item)
        return out

    def _groups(self, req: Request) -> object:
        store = self._require_store(req)
        groups: dict[tuple[str, str], list[Any]] = {}
        for s in self.history.snapshots_by_datastore.get(store, ()):
            groups.setdefault((s.backup_type, str(s.guest.vmid)), []).append(s)
        return [{"backup-type": t, "backup-id": i, "last-backup": max(s.time for s in snaps),
                 "backup-count": len(snaps), "owner": snaps[0].owner, "comment": snaps[-1].guest.name,
                 "files": [f["filename"] for f in snaps[-1].files()]}
                for (t, i), snaps in sorted(groups.items()) if req.query.get("backup-type") in (None, t)]

    def _store_status(self, req: Request) -> object:
        store = self._stores[self._require_store(req)]
        used = sum(s.size for s in self.history.snapshots_by_datastore.get(store.name, ())) // 20  # dedup
        return {"total": store.total_bytes, "used": used, "avail": store.total_bytes - used}

    def _job_entry(self, job: LabPbsJob) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": job.id, "store": job.store, "schedule": job.schedule, **job.options}
        ran = self.history.pbs_job_runs(job)
        if ran is not None:
            start, end = ran
            worker = {"verify": "verificationjob", "sync": "syncjob", "prune": "prunejob"}[job.kind]
            entry |= {"last-run-state": job.last_run_state, "last-run-endtime": end,
                      "last-run-upid": pbs_job_upid(self.pbs.name, worker, f"{job.store}:{job.id}", start)}
        entry["next-run"] = next_run(job.schedule, self.world.now)
        return entry

    def _jobs(self, req: Request, kind: str) -> list[dict[str, Any]]:
        store = req.query.get("store")
        return [self._job_entry(j) for j in self.pbs.jobs if j.kind == kind and store in (None, j.store)
                and self._may(req.token, f"/datastore/{j.store}", "Datastore.Audit")]

    def _verify_jobs(self, req: Request) -> object:
        return Extra(self._jobs(req, "verify"), {"digest": file_digest(self.pbs.jobs)})

    def _prune_jobs(self, req: Request) -> object:
        return Extra(self._jobs(req, "prune"), {"digest": file_digest(self.pbs.jobs)})

    def _sync_jobs(self, req: Request) -> object:
        direction = req.query.get("sync-direction", "pull")  # PBS lists pull jobs unless asked
        out = []
        for entry in self._jobs(req, "sync"):
            job_direction = str(entry.get("sync-direction", "pull"))
            remote = str(entry.get("remote", ""))
            if direction not in ("all", job_direction) or not self._may(req.token, f"/remote/{remote}",
                                                                         "Remote.Audit"):
                continue
            out.append(entry | {"sync-direction": job_direction})
        return Extra(out, {"digest": file_digest(self.pbs.jobs)})

    def _remotes(self, req: Request) -> object:
        out = []
        for r in self.pbs.remotes:
            if not self._may(req.token, f"/remote/{r.name}", "Remote.Audit"):
                continue
            entry: dict[str, Any] = {"name": r.name, "host": r.host, "auth-id": r.auth_id,
                                     "fingerprint": r.fingerprint}
            if r.port is not None:
                entry["port"] = r.port
            if r.comment:
                entry["comment"] = r.comment
            out.append(entry)  # the password stays in remote.cfg's private part
        return Extra(out, {"digest": file_digest(self.pbs.remotes)})

    def _datastore_config(self, req: Request) -> object:
        out = []
        for d in self.pbs.datastores:
            if not self._may(req.token, f"/datastore/{d.name}", "Datastore.Audit"):
                continue
            entry: dict[str, Any] = {"name": d.name, "path": d.path, "gc-schedule": d.gc_schedule}
            if d.comment:
                entry["comment"] = d.comment
            if d.verify_new:
                entry["verify-new"] = True
            out.append(entry)
        return Extra(out, {"digest": file_digest(self.pbs.datastores)})

    def _datastore_usage(self, req: Request) -> object:
        out = []
        for d in self.pbs.datastores:
            if not self._may(req.token, f"/datastore/{d.name}", "Datastore.Audit"):
                continue
            used = sum(s.size for s in self.history.snapshots_by_datastore.get(d.name, ())) // 20
            out.append({"store": d.name, "total": d.total_bytes, "used": used, "avail": d.total_bytes - used})
        return out


def _check_pbs_query(route: Route, query: Mapping[str, str]) -> None:
    try:
        check_query(route, query)
    except ApiError as err:
        problems = "\n".join(f"parameter '{k}': {v}" for k, v in (err.errors or {}).items())
        raise ApiError(400, f"parameter verification errors\n\n{problems}") from None


def _text(status: int, message: str) -> LabResponse:
    # proxmox-rest-server: the message is the body (plain text); the reason is the standard one.
    return LabResponse(status, safe_reason(status_phrase(status)), message.encode(), "text/plain;charset=utf-8")
