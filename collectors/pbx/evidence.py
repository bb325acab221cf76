"""A `PbxDump` as evidence and back: every file, CLI output and CDR sample is an artifact; one
`pbx.tree` record lists them (path, SHA-256, size, or why a file could not be read). Rebuilding
the dump from the log gives the analysis exactly what was read, so a verdict can be re-derived."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from collectors.pbx.dump import CdrSample, DumpFile, PbxDump

TREE_KIND = "pbx.tree"
SECTION = "pbx"
TEXT = "text/plain"


def _files(files: dict[str, DumpFile], put: Callable[[bytes, str], str], shas: list[str]) -> list[dict[str, Any]]:
    entries = []
    for path in sorted(files):
        f = files[path]
        sha = None
        if f.data is not None:
            sha = put(f.data, TEXT)
            shas.append(sha)
        entries.append({"path": path, "sha256": sha, "size": f.size, "error": f.error})
    return entries


def dump_payload(dump: PbxDump, put: Callable[[bytes, str], str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The `pbx.tree` payload and the artifacts it cites. The files were redacted when read."""
    shas: list[str] = []
    cli = {}
    for key in sorted(dump.cli):
        cli[key] = put(dump.cli[key].encode("utf-8"), TEXT)
        shas.append(cli[key])
    cdr = []
    for sample in dump.cdr:
        sha = put(json.dumps(sample.as_dict(), sort_keys=True).encode("utf-8"), "application/json")
        shas.append(sha)
        cdr.append({"store": sample.store, "rows_read": sample.rows_read, "error": sample.error, "sha256": sha})
    payload = {
        "instance": dump.instance, "origin": dump.origin, "identity": dict(sorted(dump.identity.items())),
        "notes": list(dump.notes), "files": _files(dump.asterisk, put, shas),
        "fail2ban": _files(dump.fail2ban, put, shas) if dump.fail2ban is not None else None,
        "cli": cli, "cli_errors": dict(sorted(dump.cli_errors.items())), "cdr": cdr,
    }
    return payload, tuple(dict.fromkeys(shas))


def _tree(entries: list[dict[str, Any]], get: Callable[[str], bytes]) -> dict[str, DumpFile]:
    tree = {}
    for e in entries:
        sha = e.get("sha256")
        data = get(sha) if sha else None
        tree[e["path"]] = DumpFile(e["path"], data, e.get("error"), int(e.get("size") or 0))
    return tree


def dump_from_payload(payload: dict[str, Any], get: Callable[[str], bytes]) -> PbxDump:
    """The dump a `pbx.tree` record describes, read back from the artifacts it cites."""
    fail2ban = payload.get("fail2ban")
    return PbxDump(
        instance=str(payload["instance"]), origin=str(payload["origin"]),
        asterisk=_tree(payload.get("files") or [], get),
        fail2ban=_tree(fail2ban, get) if fail2ban is not None else None,
        cli={k: get(sha).decode("utf-8", "replace") for k, sha in (payload.get("cli") or {}).items()},
        cli_errors=dict(payload.get("cli_errors") or {}),
        cdr=[CdrSample.from_dict(json.loads(get(c["sha256"]))) for c in payload.get("cdr") or []],
        identity=dict(payload.get("identity") or {}), notes=list(payload.get("notes") or []),
    )
