"""The Proxmox Backup Server collector (`type: proxmox_bs`), read with an API token.

Sections: `datastores` (`/admin/datastore`, `/config/datastore` for `verify-new`), `snapshots`
(every snapshot of every datastore namespace, one record each: verified? encrypted?) and `jobs`
(verify, sync and prune jobs with their last run, and the remotes sync talks to, placed at the
sites the configuration names -- where an off-site copy lives). A remote's password is never
read into a record. A PBS that does not answer at all fails the source with the reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from collectors.base import Emitter, SourceFailed
from collectors.proxmox.client import Answer, ApiClient, ApiError, Call
from collectors.proxmox.parse import as_bool, as_int, utc_iso

SOURCE_TYPE = "proxmox_bs"
SNAPSHOTS = "/admin/datastore/{store}/snapshots"
NAMESPACES = "/admin/datastore/{store}/namespace"
_JOB_TYPES = ("verify", "sync", "prune")


@dataclass
class PbsCollector:
    source_id: str
    host: str  # host[:port]; PBS listens on 8007
    user: str
    token_name: str
    token_value: str
    verify_tls: bool | str
    timeout_s: float = 30.0
    concurrency: int = 4
    site: str | None = None
    remote_sites: dict[str, str] = field(default_factory=dict)
    source_type: str = SOURCE_TYPE
    calls: Counter[str] = field(default_factory=Counter)

    def collect(self, out: Emitter) -> None:
        with ApiClient(self.host, self.user, self.token_name, self.token_value, verify_tls=self.verify_tls,
                       timeout_s=self.timeout_s, concurrency=self.concurrency, service="PBS") as client:
            try:
                _Run(self, client, out).collect()
            finally:
                self.calls = Counter(client.calls)


class _Run:
    def __init__(self, pbs: PbsCollector, client: ApiClient, out: Emitter) -> None:
        self.pbs, self.client, self.out, self.src = pbs, client, out, pbs.source_id

    def collect(self) -> None:
        try:
            self.client.get(Call("/version"))  # reachable, TLS trusted, token accepted?
        except ApiError as err:
            raise SourceFailed(f"Proxmox Backup Server unreachable or refusing the token: {err}") from err
        stores = self._datastores()
        self._snapshots(stores)
        self._jobs()

    def _all(self, calls: list[Call]) -> dict[Any, Answer | ApiError]:
        return {c.key: r for c, r in self.client.get_many(calls)}

    def _datastores(self) -> list[str] | None:
        got = self._all([Call("/admin/datastore", key="list"), Call("/config/datastore", key="config")])
        listing, config = got["list"], got["config"]
        if not _is_list(listing):
            self.out.failed("datastores", _problem(listing))
            return None
        assert isinstance(listing, Answer)
        configs: dict[str, dict[str, Any]] = {}
        if _is_list(config):
            assert isinstance(config, Answer)
            configs = {str(c.get("name")): c for c in config.data if isinstance(c, dict)}
        else:
            self.out.failed("datastores", _problem(config))  # verify-new unknown for every store
        artifacts = tuple(self.out.artifact(a.body) for a in (listing, config) if isinstance(a, Answer))
        stores = sorted(str(s["store"]) for s in listing.data if isinstance(s, dict) and s.get("store"))
        comments = {str(s.get("store")): s.get("comment") for s in listing.data if isinstance(s, dict)}
        for store in stores:
            cfg = configs.get(store)
            self.out.record("pbs.datastore", f"{self.src}/{store}", {
                "store": store, "site": self.pbs.site, "comment": comments.get(store),
                "verify_new": None if cfg is None else as_bool(cfg.get("verify-new"), False),
            }, artifacts=artifacts)
        if _is_list(config):
            self.out.completed("datastores")
        return stores

    def _snapshots(self, stores: list[str] | None) -> None:
        if stores is None:
            self.out.failed("snapshots", "not listed: the datastore list could not be read")
            return
        namespaces: dict[str, list[str]] = {}
        for call, result in self.client.get_many([Call(NAMESPACES, {"store": s}, key=s) for s in stores]):
            if isinstance(result, ApiError) and result.status in (404, 501):
                namespaces[call.key] = [""]  # a PBS before namespaces: the root is all there is
            elif _is_list(result):
                assert isinstance(result, Answer)
                namespaces[call.key] = sorted({str(n.get("ns") or "") for n in result.data if isinstance(n, dict)}
                                              | {""})
            else:
                self.out.failed("snapshots", _problem(result), f"{self.src}/{call.key}")
        calls = [Call(SNAPSHOTS, {"store": s}, {"ns": ns} if ns else {}, key=(s, ns))
                 for s, spaces in sorted(namespaces.items()) for ns in spaces]
        for call, result in self.client.get_many(calls):
            store, ns = call.key
            if not _is_list(result):
                self.out.failed("snapshots", _problem(result), f"{self.src}/{store}")
                continue
            assert isinstance(result, Answer)
            artifact = self.out.artifact(result.body)
            for snap in result.data:
                if isinstance(snap, dict) and snap.get("backup-id") is not None:
                    self.out.record("pbs.snapshot", self._snapshot_subject(store, ns, snap),
                                    snapshot_payload(store, ns, snap), artifacts=(artifact,))
        self.out.completed("snapshots")  # per-store failures name their store

    def _snapshot_subject(self, store: str, ns: str, snap: dict[str, Any]) -> str:
        where = f"{store}/ns/{ns}" if ns else store
        return f"{self.src}/{where}/{snap.get('backup-type')}/{snap.get('backup-id')}/{snap.get('backup-time')}"

    def _jobs(self) -> None:
        # PBS >= 3.3 keeps push jobs beside pull jobs and lists only pull jobs unless asked for all.
        all_sync = Call("/admin/sync", query={"sync-direction": "all"}, key="sync")
        got = self._all([Call("/admin/verify", key="verify"), Call("/admin/prune", key="prune"), all_sync,
                         Call("/config/remote", key="remote")])
        sync = got["sync"]
        if isinstance(sync, ApiError) and sync.status == 400:  # an older PBS: no such parameter, pull only
            got["sync"] = self._all([Call("/admin/sync", key="sync")])["sync"]
        complete = True
        for job_type in _JOB_TYPES:
            result = got[job_type]
            if not _is_list(result):
                self.out.failed("jobs", _problem(result))
                complete = False
                continue
            assert isinstance(result, Answer)
            artifact = self.out.artifact(result.body)
            for job in result.data:
                if isinstance(job, dict) and job.get("id"):
                    self.out.record("pbs.job", f"{self.src}/job/{job_type}/{job['id']}",
                                    job_payload(job_type, job, self.pbs.remote_sites), artifacts=(artifact,))
        remotes = got["remote"]
        if _is_list(remotes):
            assert isinstance(remotes, Answer)
            artifact = self.out.artifact(remotes.body)
            for remote in remotes.data:
                if isinstance(remote, dict) and remote.get("name"):
                    name = str(remote["name"])
                    self.out.record("pbs.remote", f"{self.src}/remote/{name}", {
                        "name": name, "host": remote.get("host"), "site": self.pbs.remote_sites.get(name),
                    }, artifacts=(artifact,))
        else:
            self.out.failed("jobs", _problem(remotes))
            complete = False
        if complete:
            self.out.completed("jobs")


def snapshot_payload(store: str, ns: str, snap: dict[str, Any]) -> dict[str, Any]:
    files = [f for f in snap.get("files") or [] if isinstance(f, dict)]
    crypt_modes = sorted({str(f["crypt-mode"]) for f in files if f.get("crypt-mode")})
    verification = snap.get("verification")
    return {
        "store": store,
        "ns": ns or None,
        "backup_type": snap.get("backup-type"),
        "backup_id": str(snap.get("backup-id")),
        "backup_time": as_int(snap.get("backup-time")),
        "created_at": utc_iso(snap.get("backup-time")),
        # PBS leaves `verification` out until the snapshot is first verified.
        "verification": ({"state": verification.get("state"), "upid": verification.get("upid")}
                         if isinstance(verification, dict) else None),
        "encrypted": bool(snap.get("fingerprint")) or "encrypt" in crypt_modes,
        "crypt_modes": crypt_modes,
        "fingerprint": snap.get("fingerprint"),
        "size": as_int(snap.get("size")),
        "protected": bool(as_bool(snap.get("protected"), False)),
        "owner": snap.get("owner"),
        "comment": snap.get("comment"),
    }


def job_payload(job_type: str, job: dict[str, Any], remote_sites: dict[str, str]) -> dict[str, Any]:
    remote = job.get("remote") if job_type == "sync" else None
    return {
        "job_type": job_type,
        "id": job.get("id"),
        "store": job.get("store"),
        "schedule": job.get("schedule"),
        "last_run_state": job.get("last-run-state"),
        "last_run_endtime": as_int(job.get("last-run-endtime")),
        "next_run": as_int(job.get("next-run")),
        "remote": remote,
        "remote_store": job.get("remote-store") if job_type == "sync" else None,
        # PBS 4 adds push sync jobs (`sync-direction`); before that every sync job pulls.
        "direction": (job.get("sync-direction") or "pull") if job_type == "sync" else None,
        "remote_site": remote_sites.get(str(remote)) if remote else None,
        "raw": job,
    }


def _is_list(result: Answer | ApiError) -> bool:
    return isinstance(result, Answer) and isinstance(result.data, list)


def _problem(result: Answer | ApiError) -> str:
    return str(result) if isinstance(result, ApiError) else f"GET {result.shown}: expected a list"
