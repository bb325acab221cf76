"""What is read from one PBX, before any parsing: the `/etc/asterisk` tree as bytes, the fail2ban
configuration, `asterisk -rx` outputs, an anonymised CDR sample and identity facts.

A `PbxDump` is the one input of the configuration reader, whether it came from a local folder or
over SSH, and it is what the collector stores as evidence (one artifact per file), so an analysis
can be repeated from the evidence log exactly as it was first made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Bounds that keep a hostile or broken tree from exhausting memory. A file over the per-file cap
# is not read (it gets an error); reading stops when the tree total is reached.
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_TREE_BYTES = 256 * 1024 * 1024
MAX_FILES = 20_000

# The `asterisk -rx` commands read when the Asterisk CLI is available, by a stable key.
CLI_COMMANDS: dict[str, str] = {
    "pjsip_show_endpoints": "pjsip show endpoints",
    "dialplan_show": "dialplan show",
    "core_show_hints": "core show hints",
    "features_show": "features show",
    "core_show_version": "core show version",
}


@dataclass(frozen=True)
class DumpFile:
    """One file of a tree. `data` is None when it could not be read; `error` then says why
    (permission denied, larger than the cap, not a regular file…)."""

    path: str  # relative to the tree's root, POSIX separators, e.g. "pjsip.endpoint.conf"
    data: bytes | None
    error: str | None = None
    size: int = 0


@dataclass(frozen=True)
class CdrRow:
    """One call record with nothing that identifies a person: no src, dst, clid or lastdata
    (they hold phone numbers). Channels are reduced to their technology and endpoint
    ("PJSIP/10-0000002a" -> "PJSIP/10"): device names, which is what tenant attribution needs."""

    accountcode: str
    channel: str
    dstchannel: str
    dcontext: str


@dataclass(frozen=True)
class CdrSample:
    """A bounded sample of the newest call records of one CDR store."""

    store: str  # "csv:/var/log/asterisk/cdr-csv/Master.csv" or "mysql:asteriskcdrdb.cdr"
    rows: tuple[CdrRow, ...] = ()
    rows_read: int = 0  # rows looked at (the sample's size), <= the configured bound
    error: str | None = None  # why the store could not be (fully) read

    def as_dict(self) -> dict[str, Any]:
        return {"store": self.store, "rows_read": self.rows_read, "error": self.error,
                "rows": [[r.accountcode, r.channel, r.dstchannel, r.dcontext] for r in self.rows]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CdrSample:
        rows = tuple(CdrRow(*map(str, row)) for row in data.get("rows", []))
        return cls(store=str(data["store"]), rows=rows, rows_read=int(data.get("rows_read", len(rows))),
                   error=data.get("error"))


@dataclass
class PbxDump:
    instance: str  # a name for the instance: the source id, the host name or the folder name
    origin: str  # "dir:/abs/path" or "ssh://user@host:port"
    asterisk: dict[str, DumpFile] = field(default_factory=dict)  # the /etc/asterisk tree
    fail2ban: dict[str, DumpFile] | None = None  # the /etc/fail2ban tree; None = not available
    cli: dict[str, str] = field(default_factory=dict)  # CLI_COMMANDS key -> output text
    cli_errors: dict[str, str] = field(default_factory=dict)  # CLI_COMMANDS key -> why it has no output
    cdr: list[CdrSample] = field(default_factory=list)
    identity: dict[str, str] = field(default_factory=dict)  # hostname, freepbx_id, …
    notes: list[str] = field(default_factory=list)  # what the access could not do, for the report
