"""Pure parsers for the shapes the Proxmox APIs use for one fact in several ways.

No I/O here: every function takes what the API said and returns the normalised value, so each
is unit-tested on reference fixtures. Normalising never guesses: what is absent stays None
unless the API documents a default (and then the caller passes it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# keep-* retention options: keep-all is a flag, the others are counts (pve-common PruneOptions).
_KEEP_COUNTS = ("keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")


def as_bool(value: Any, default: bool | None = None) -> bool | None:
    """1, "1", true, "true" (and yes/on) -> True; 0, "0", false, ... -> False; absent -> default.
    Anything else -> None: an unreadable value is not taken for either."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def utc_iso(epoch: Any) -> str | None:
    """Epoch seconds -> "2026-11-26T10:00:00Z" (None when absent or not a number)."""
    seconds = as_int(epoch)
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_property_string(value: str) -> dict[str, str]:
    """`virtio=BC:24:11:..,bridge=vmbr0,firewall=1` -> {"virtio": "BC:..", "bridge": "vmbr0", "firewall": "1"}.
    A bare first item (`local-lvm:vm-101-disk-0`) is kept under the key "" ."""
    out: dict[str, str] = {}
    for part in value.split(","):
        if not part:
            continue
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip()] = val.strip()
        else:
            out[""] = key.strip()
    return out


def split_tags(value: Any) -> list[str]:
    """PVE returns tags as one string separated by `;` (older releases: `,` or spaces)."""
    if not value:
        return []
    text = str(value)
    for sep in (",", " "):
        text = text.replace(sep, ";")
    return sorted({t.strip() for t in text.split(";") if t.strip()})


def split_list(value: Any) -> list[str]:
    """"a,b c;d" or ["a", "b"] -> ["a", "b", "c", "d"] (PVE lists: content types, nodes, vmids)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p for p in re.split(r"[,;\s]+", str(value)) if p]


def parse_vmid_list(value: Any) -> list[int]:
    """pve-vmid-list "100,101 102" -> [100, 101, 102]; items that are not numbers are dropped."""
    return [n for n in (as_int(v) for v in split_list(value)) if n is not None]


def parse_retention(value: Any) -> dict[str, Any] | None:
    """`prune-backups` in either shape -> {"keep-daily": 7, "keep-all": True, ...}, or None.

    The API returns an object (values int or string) but older code and hand-written configs give
    the property string "keep-daily=7,keep-weekly=4". Unknown keys are kept as given.
    """
    if value is None or value == "" or value == {}:
        return None
    items: dict[str, Any] = dict(parse_property_string(value)) if isinstance(value, str) else dict(value)
    out: dict[str, Any] = {}
    for key, raw in items.items():
        if key == "keep-all":
            out[key] = as_bool(raw)
        elif key in _KEEP_COUNTS:
            out[key] = as_int(raw)
        elif key:
            out[key] = raw
    return dict(sorted(out.items())) or None


def parse_node_priorities(value: Any) -> list[dict[str, Any]]:
    """HA group/rule nodes "pve1:2,pve2" -> [{"node": "pve1", "priority": 2}, {"node": "pve2", "priority": None}]."""
    out = []
    for item in split_list(value):
        node, _, prio = item.partition(":")
        out.append({"node": node, "priority": as_int(prio) if prio else None})
    return out


def status_words(text: Any) -> list[str]:
    """The comma-separated items inside the parentheses of an HA status text:
    "pve1 (maintenance mode, watchdog standby, Thu Sep 10 ...)" -> ["maintenance mode", "watchdog standby", ...]."""
    if not isinstance(text, str):
        return []
    start, end = text.find("("), text.rfind(")")
    if start < 0 or end < start:
        return []
    return [w.strip() for w in text[start + 1:end].split(",")]


def lrm_mode(text: Any) -> str | None:
    """The LRM state from its status text: "active", "idle", "maintenance", "dead" (old
    timestamp), or whatever word PVE put first; None when the text has no such part."""
    words = status_words(text)
    if not words or not words[0]:
        return None
    first = words[0]
    if first.startswith("old timestamp"):
        return "dead"
    return first.removesuffix(" mode")


def master_active(text: Any) -> bool | None:
    """The CRM master status "pve2 (active, <time>)" -> True; "(old timestamp - dead?, ...)" or
    "(idle, ...)" -> False; no parenthesised part -> None."""
    words = status_words(text)
    if not words:
        return None
    return words[0] == "active"


# vzdump task log lines (pve-manager PVE/VZDump.pm): one "Starting" per guest, then either
# "Finished Backup of VM N (hh:mm:ss)" or "ERROR: Backup of VM N failed - <reason>".
_STARTED = re.compile(r"Starting Backup of VM (\d+)\b")
_FINISHED = re.compile(r"Finished Backup of VM (\d+)\b")
_FAILED = re.compile(r"ERROR: Backup of VM (\d+) failed - (.*)$")


def vzdump_results(lines: list[Any]) -> dict[int, dict[str, str | None]]:
    """vmid -> {"result": "ok" | "failed" | "unknown", "message": ...} from a vzdump task log
    (`[{n, t}]` entries or plain strings). A guest started but neither finished nor failed (the
    task was killed) is "unknown"."""
    out: dict[int, dict[str, str | None]] = {}
    # A node-wide job's log has ~10 lines per guest; only those naming "Backup of VM" matter, and
    # finding them in one joined text is far cheaper than looking at each line in Python.
    try:
        joined = "\n".join([line["t"] for line in lines])  # the API's shape: [{n, t}], t a string
    except (TypeError, KeyError, IndexError):
        joined = "\n".join([str(line.get("t", "")) if isinstance(line, dict) else str(line) for line in lines])
    pos = 0
    while (hit := joined.find("Backup of VM", pos)) >= 0:
        end = joined.find("\n", hit)
        end = len(joined) if end < 0 else end
        text, pos = joined[joined.rfind("\n", 0, hit) + 1:end], end
        if m := _FAILED.search(text):
            out[int(m.group(1))] = {"result": "failed", "message": m.group(2).strip()}
        elif m := _FINISHED.search(text):
            if out.get(int(m.group(1)), {}).get("result") != "failed":
                out[int(m.group(1))] = {"result": "ok", "message": None}
        elif m := _STARTED.search(text):
            out.setdefault(int(m.group(1)), {"result": "unknown", "message": None})
    return out


def guest_disks(config: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The guest's disks from its config: {"scsi0": {"storage", "volume", "backup": bool, "raw"}}.

    CD-ROM drives are not disks. `backup` defaults to true for VM disks and the container's
    rootfs, false for container mount points (pct: mp<N> backup default 0).
    """
    pattern = (r"(ide|sata|scsi|virtio|efidisk|tpmstate)\d+" if kind == "qemu" else r"rootfs|mp\d+")
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(config):
        if not re.fullmatch(pattern, key):
            continue
        props = parse_property_string(str(config[key]))
        if props.get("media") == "cdrom":
            continue
        volume = props.get("", props.get("volume", ""))
        storage = volume.split(":", 1)[0] if ":" in volume else None
        default = not key.startswith("mp")
        out[key] = {"storage": storage, "volume": volume or None, "backup": as_bool(props.get("backup"), default),
                    "raw": config[key]}
    return out


def guest_nics(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """net<N> property strings, parsed."""
    return {k: parse_property_string(str(v)) for k, v in sorted(config.items())
            if k.startswith("net") and k[3:].isdigit()}
