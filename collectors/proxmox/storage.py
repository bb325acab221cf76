"""Section `storage`: each storage's configuration (`/storage`) with its per-node state
(`/cluster/resources?type=storage`), and replication jobs (`/cluster/replication`).

Storage configs can carry secrets (a PBS password, an encryption key, a Ceph keyring): those
are never put in a record, and are redacted from the stored raw answer as well.
"""

from __future__ import annotations

import json
import re
from typing import Any

from collectors.proxmox.client import Answer, ApiError, Call
from collectors.proxmox.context import PveContext
from collectors.proxmox.parse import as_bool, as_int, parse_retention, split_list

SECTION = "storage"
_SECRET_KEYS = ("password", "encryption-key", "master-pubkey", "keyring", "secret-key", "key")
# PVE shows a PBS storage's `encryption-key` as the key's fingerprint: that one is kept.
_FINGERPRINT = re.compile(r"(?i)^[0-9a-f]{2}(:[0-9a-f]{2}){31}$")


def collect(ctx: PveContext) -> None:
    got = ctx.fetch_all([Call("/storage", key="config"), Call("/cluster/resources", query={"type": "storage"},
                                                               key="state"),
                         Call("/cluster/replication", key="replication")])
    config, state, repl = got["config"], got["state"], got["replication"]

    per_node: dict[str, dict[str, Any]] = {}
    if isinstance(state, Answer) and isinstance(state.data, list):
        for e in state.data:
            if isinstance(e, dict) and e.get("storage"):
                per_node.setdefault(str(e["storage"]), {})[str(e.get("node"))] = e.get("status")
    else:
        ctx.out.failed(SECTION, _problem(state))

    if isinstance(config, Answer) and isinstance(config.data, list):
        entries = [e for e in config.data if isinstance(e, dict) and e.get("storage")]
        ctx.storages = entries
        a_config = ctx.out.artifact(_redacted(config.body), "application/json")
        a_state = (ctx.artifact(state),) if isinstance(state, Answer) else ()
        for entry in entries:
            sid = str(entry["storage"])
            ctx.out.record("proxmox.storage", f"{ctx.src}/storage/{sid}",
                           storage_payload(entry, per_node.get(sid)), artifacts=(a_config, *a_state))
    else:
        ctx.out.failed(SECTION, _problem(config))

    if isinstance(repl, Answer) and isinstance(repl.data, list):
        _replication(ctx, repl)
    else:
        ctx.out.failed(SECTION, _problem(repl))


def _replication(ctx: PveContext, jobs: Answer) -> None:
    """One record per replication job, with its last sync from the source node's
    `/nodes/{node}/replication` (the cluster-wide list holds the configuration only)."""
    types = {g.vmid: g for g in ctx.guests}
    entries = [j for j in jobs.data if isinstance(j, dict) and as_int(j.get("guest")) in types]
    sources = sorted({str(j.get("source") or types[int(j["guest"])].node) for j in entries})
    state: dict[str, tuple[dict[str, Any], str]] = {}  # job id -> (status entry, artifact)
    unread: dict[str, str] = {}
    for call, result in ctx.fetch_many(Call("/nodes/{node}/replication", {"node": n}, key=n) for n in sources):
        if isinstance(result, Answer) and isinstance(result.data, list):
            a_state = ctx.artifact(result)
            state.update({str(e.get("id")): (e, a_state) for e in result.data if isinstance(e, dict)})
        else:
            unread[call.key] = _problem(result)
            ctx.out.failed(SECTION, unread[call.key], ctx.node_subject(call.key))
    a_jobs = ctx.artifact(jobs)
    for job in entries:
        guest = types[int(job["guest"])]
        status, a_state = state.get(str(job.get("id")), ({}, ""))
        ctx.out.record("proxmox.replication", ctx.guest_subject(guest, "replication", str(job.get("id"))), {
            "id": job.get("id"), "guest": guest.vmid, "source": job.get("source"), "target": job.get("target"),
            "schedule": job.get("schedule"), "disable": as_bool(job.get("disable"), False),
            "last_sync": as_int(status.get("last_sync")), "fail_count": as_int(status.get("fail_count")),
            "error": status.get("error"),
        }, artifacts=tuple(a for a in (a_jobs, a_state) if a))


def storage_payload(entry: dict[str, Any], node_status: dict[str, Any] | None) -> dict[str, Any]:
    is_pbs = entry.get("type") == "pbs"
    return {
        "storage": entry.get("storage"),
        "type": entry.get("type"),
        "shared": bool(as_bool(entry.get("shared"), False)),
        "content": split_list(entry.get("content")),
        "nodes": split_list(entry.get("nodes")) or None,  # None: every node
        "disable": as_bool(entry.get("disable"), False),
        "prune_backups": parse_retention(entry.get("prune-backups")),
        "prune_backups_raw": entry.get("prune-backups"),
        "server": entry.get("server"),
        "datastore": entry.get("datastore"),
        "namespace": entry.get("namespace"),
        # Whether a key is configured, never the key itself (PVE shows its fingerprint at most).
        "encryption_key_set": bool(entry.get("encryption-key")) if is_pbs else None,
        "fingerprint": entry.get("fingerprint"),
        "node_status": node_status,  # node -> status, from /cluster/resources
    }


def _redacted(body: bytes) -> bytes:
    """The /storage answer with secret-bearing keys replaced (the evidence scrubber does not know
    storage.cfg's key names)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return body
    changed = False
    for entry in envelope.get("data") or []:
        for key in _SECRET_KEYS:
            value = entry.get(key) if isinstance(entry, dict) else None
            if value not in (None, "") and not _FINGERPRINT.match(str(value)):
                entry[key] = "REDACTED"
                changed = True
    return json.dumps(envelope, separators=(",", ":")).encode() if changed else body


def _problem(result: Answer | ApiError) -> str:
    return str(result) if isinstance(result, ApiError) else f"GET {result.shown}: expected a list"
