"""Section `backup`: vzdump jobs (`/cluster/backup`), the guests no job selects
(`/cluster/backup-info/not-backed-up`) and every backup volume on the storages that hold
backups, one record per volume under its guest.

A shared storage holds the same volumes on every node: it is listed once (on the first node
that answers); a local storage is listed on each of its nodes. A storage that cannot be listed
is a failure for its node (`<src>/node/<n>`) or, when shared, for the storage.
"""

from __future__ import annotations

from typing import Any

from collectors.proxmox.client import Answer, ApiError, Call
from collectors.proxmox.context import PveContext
from collectors.proxmox.parse import as_bool, as_int, parse_retention, parse_vmid_list, split_list, utc_iso

SECTION = "backup"
CONTENT = "/nodes/{node}/storage/{storage}/content"
_FORMAT_TYPES = {"pbs-vm": "qemu", "pbs-ct": "lxc"}


def collect(ctx: PveContext) -> None:
    got = ctx.fetch_all([Call("/cluster/backup", key="jobs"),
                         Call("/cluster/backup-info/not-backed-up", key="uncovered")])
    jobs, uncovered = got["jobs"], got["uncovered"]
    if isinstance(jobs, Answer) and isinstance(jobs.data, list):
        a_jobs = ctx.artifact(jobs)
        for job in jobs.data:
            if isinstance(job, dict) and job.get("id"):
                ctx.out.record("proxmox.backup_job", f"{ctx.src}/backup-job/{job['id']}", job_payload(job),
                               artifacts=(a_jobs,))
    else:
        ctx.out.failed(SECTION, _problem(jobs))
    if isinstance(uncovered, Answer) and isinstance(uncovered.data, list):
        ctx.out.record("proxmox.not_backed_up", f"{ctx.src}/backup-info", {
            "guests": sorted(f"{e.get('type')}/{e.get('vmid')}" for e in uncovered.data if isinstance(e, dict)),
        }, artifacts=(ctx.artifact(uncovered),))
    else:
        ctx.out.failed(SECTION, _problem(uncovered))
    _volumes(ctx)


def job_payload(job: dict[str, Any]) -> dict[str, Any]:
    # vzdump's selection precedence (PVE::VZDump get_included_guests): pool, then vmid, then all.
    if job.get("pool"):
        mode = "pool"
    elif job.get("vmid"):
        mode = "vmid"
    elif as_bool(job.get("all"), False):
        mode = "all"
    else:
        mode = None
    return {
        "id": job.get("id"),
        "enabled": as_bool(job.get("enabled"), True),
        "schedule": job.get("schedule"),
        "next_run": as_int(job.get("next-run")),
        "node": job.get("node"),
        "storage": job.get("storage"),
        "mode": job.get("mode") or "snapshot",
        "selection": {"mode": mode, "vmids": parse_vmid_list(job.get("vmid")), "pool": job.get("pool"),
                      "exclude": parse_vmid_list(job.get("exclude"))},
        "retention": parse_retention(job.get("prune-backups")),  # None: the storage's retention applies
        "retention_raw": job.get("prune-backups"),
        "comment": job.get("comment"),
        "job": job,
    }


def _volumes(ctx: PveContext) -> None:
    if ctx.storages is None or not ctx.nodes:
        ctx.out.failed(SECTION, "backup volumes not listed: the storage configuration or node list could not be read")
        return
    holders = [s for s in ctx.storages if "backup" in split_list(s.get("content"))
               and not as_bool(s.get("disable"), False)]
    pending: list[tuple[dict[str, Any], list[str]]] = []  # (storage, nodes still to try)
    for s in holders:
        nodes = [n for n in ctx.nodes if n in (split_list(s.get("nodes")) or ctx.nodes)]
        if as_bool(s.get("shared"), False):
            pending.append((s, nodes))
        else:
            pending += [(s, [n]) for n in nodes]
    types = {g.vmid: g.type for g in ctx.guests}
    while pending:
        calls = [Call(CONTENT, {"node": nodes[0], "storage": s["storage"]}, {"content": "backup"}, key=i)
                 for i, (s, nodes) in enumerate(pending)]
        retry: list[tuple[dict[str, Any], list[str]]] = []
        for call, result in ctx.fetch_many(calls):
            storage, nodes = pending[call.key]
            shared = as_bool(storage.get("shared"), False)
            if isinstance(result, ApiError) or not isinstance(result.data, list):
                if shared and isinstance(result, ApiError) and str(nodes[0]) in ctx.unreachable and nodes[1:]:
                    retry.append((storage, nodes[1:]))  # the same volumes can be listed from another node
                    continue
                subject = f"{ctx.src}/storage/{storage['storage']}" if shared else ctx.node_subject(nodes[0])
                ctx.out.failed(SECTION, _problem(result), subject)
                continue
            a_content = ctx.artifact(result)
            for vol in result.data:
                if isinstance(vol, dict):
                    _volume(ctx, vol, str(storage["storage"]), nodes[0], types, a_content)
        pending = retry


def _volume(ctx: PveContext, vol: dict[str, Any], storage: str, node: str, types: dict[int, str],
            artifact: str) -> None:
    vmid = as_int(vol.get("vmid"))
    if vmid is None or not vol.get("volid"):
        return
    kind = vol.get("subtype") or _FORMAT_TYPES.get(str(vol.get("format"))) or types.get(vmid)
    if kind not in ("qemu", "lxc"):
        volid = str(vol["volid"])
        kind = "qemu" if "vzdump-qemu-" in volid else "lxc" if "vzdump-lxc-" in volid else None
    if kind is None:
        return  # a backup of something that is neither a VM nor a container
    verification = vol.get("verification")
    ctx.out.record("proxmox.backup_volume", f"{ctx.src}/{kind}/{vmid}/backup/{vol['volid']}", {
        "volid": vol["volid"],
        "storage": storage,
        "node": node,
        "vmid": vmid,
        "subtype": vol.get("subtype"),
        "format": vol.get("format"),
        "ctime": as_int(vol.get("ctime")),
        "created_at": utc_iso(vol.get("ctime")),
        "size": as_int(vol.get("size")),
        "verification": ({"state": verification.get("state"), "upid": verification.get("upid")}
                         if isinstance(verification, dict) else None),
        # PBS gives the key fingerprint, or "1" when files are encrypted without a known key.
        "encrypted": None if vol.get("encrypted") in (None, "", 0, "0") else str(vol["encrypted"]),
        "protected": bool(as_bool(vol.get("protected"), False)),
        "notes": vol.get("notes"),
    }, artifacts=(artifact,))


def _problem(result: Answer | ApiError) -> str:
    return str(result) if isinstance(result, ApiError) else f"GET {result.shown}: expected a list"
