"""Anonymised CDR samples: the newest call records of Master.csv or of FreePBX's
`asteriskcdrdb.cdr`, reduced to what tenant attribution needs (account code, devices, context).

No phone number is kept: src, dst, clid and lastdata are dropped, and channels are reduced to
technology and endpoint ("PJSIP/10-0000002a" -> "PJSIP/10"); a Local channel, whose name holds
the dialled number, keeps only its context ("Local/0039333444@from-internal-00000012;1" ->
"Local/*@from-internal").
"""

from __future__ import annotations

import csv
import re

from collectors.pbx import dump
from collectors.pbx.dump import CdrRow, CdrSample

# Master.csv columns (cdr_csv.c): accountcode, src, dst, dcontext, clid, channel, dstchannel, …
CSV_ACCOUNTCODE, CSV_DCONTEXT, CSV_CHANNEL, CSV_DSTCHANNEL = 0, 3, 5, 6
CSV_MIN_COLUMNS = 7
# The order of the columns selected from the MySQL table (see ssh.py).
MYSQL_COLUMNS = ("accountcode", "channel", "dstchannel", "dcontext")
# How many bytes of the end of Master.csv are read per wanted row (a row is ~200-400 bytes).
CDR_TAIL_BYTES_PER_ROW = 1024

# Channel names that wrap another channel's name.
_WRAPPERS = ("AsyncGoto", "Parked", "Transfered", "Transferred", "Surrogate", "Bridge")
_SUFFIX = re.compile(r"-[0-9A-Fa-f]+$")  # the channel's sequence number
_LOCAL_SUFFIX = re.compile(r"-[0-9A-Fa-f]{8}$")  # Local/exten@context-%08x
_MARKS = re.compile(r"(<[A-Z]+>)+$")  # <ZOMBIE>, <MASQ>
_NUMBERISH = re.compile(r"^[+\d\s().-]+$")


# Seven digits or more (an optional +): a phone number, not an extension or a device name.
_PHONE_LIKE = re.compile(r"^\+?\d{7,}$")


def reduce_channel(name: str) -> str:
    """The technology and endpoint of a channel name, without anything that may be a number."""
    name = _MARKS.sub("", name.strip())
    if not name:
        return ""
    tech, slash, resource = name.partition("/")
    if not slash:
        return "*" if _NUMBERISH.match(name) else _SUFFIX.sub("", name)
    if tech in _WRAPPERS and "/" in resource:
        return f"{tech}/{reduce_channel(resource)}"
    resource = resource.split(";", 1)[0]  # Local/…;1 and ;2 halves
    if "@" in resource or tech.lower() == "local":
        context = resource.partition("@")[2]
        context = _LOCAL_SUFFIX.sub("", context)
        return f"{tech}/*@{context}" if context else f"{tech}/*"
    resource = _SUFFIX.sub("", resource)
    resource = resource.split("/", 1)[0]  # DAHDI/i1/0612345678-1: the span, not the number
    if _PHONE_LIKE.match(resource):  # an endpoint named by a phone number (SIP/+390212345678)
        return f"{tech}/*"
    return f"{tech}/{resource}"


def _decode(data: bytes) -> str:
    return data.replace(b"\x00", b"").decode("utf-8", "replace")


def _lines(data: bytes) -> tuple[list[str], int]:
    """The complete lines of `data` and how many incomplete ones (an unterminated last line,
    left by a write in progress or a truncated copy) were dropped."""
    if not data:
        return [], 0
    dropped = 0
    if not data.endswith((b"\n", b"\r")):
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        data = data[: cut + 1] if cut >= 0 else b""
        dropped = 1
    lines = [ln for ln in _decode(data).splitlines() if ln.strip()]
    return lines, dropped


def sample_master_csv(data: bytes, store: str, limit: int) -> CdrSample:
    """The last `limit` records of Master.csv content (oldest first). Rows too short to hold the
    channels, undecodable bytes and an unterminated last line are tolerated: they count in
    `rows_read` but give no row; `error` is set only when nothing could be parsed."""
    lines, dropped = _lines(data)
    window = lines[-limit:] if limit > 0 else []
    rows: list[CdrRow] = []
    bad = 0
    for line in window:
        try:
            fields = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            bad += 1
            continue
        if len(fields) < CSV_MIN_COLUMNS:
            bad += 1
            continue
        if fields[CSV_ACCOUNTCODE].strip().lower() == "accountcode" and fields[CSV_CHANNEL].lower() == "channel":
            continue  # a header line added by hand
        rows.append(CdrRow(accountcode=fields[CSV_ACCOUNTCODE].strip(),
                           channel=reduce_channel(fields[CSV_CHANNEL]),
                           dstchannel=reduce_channel(fields[CSV_DSTCHANNEL]),
                           dcontext=fields[CSV_DCONTEXT].strip()))
    looked = min(len(window) + dropped, limit) if limit > 0 else 0
    error = None
    if not rows and (bad or dropped):
        error = f"no call record could be parsed ({bad + dropped} malformed or incomplete lines)"
    return CdrSample(store=store, rows=tuple(rows), rows_read=looked, error=error)


def sample_mysql_tsv(data: bytes, store: str, limit: int) -> CdrSample:
    """Rows of `mysql --batch --raw --skip-column-names` output selecting MYSQL_COLUMNS (newest
    first, as the query orders them). NULL reads as empty."""
    lines, dropped = _lines(data)
    window = lines[:limit] if limit > 0 else []
    rows: list[CdrRow] = []
    bad = 0
    for line in window:
        fields = ["" if f == "NULL" else f for f in line.split("\t")]
        if len(fields) < len(MYSQL_COLUMNS):
            bad += 1
            continue
        accountcode, channel, dstchannel, dcontext = fields[:4]
        rows.append(CdrRow(accountcode=accountcode.strip(), channel=reduce_channel(channel),
                           dstchannel=reduce_channel(dstchannel), dcontext=dcontext.strip()))
    looked = min(len(window) + dropped, limit) if limit > 0 else 0
    error = None
    if not rows and (bad or dropped):
        error = f"no call record could be parsed ({bad + dropped} malformed or incomplete lines)"
    return CdrSample(store=store, rows=tuple(rows), rows_read=looked, error=error)


def tail_window(size: int, rows: int) -> int:
    """How many bytes from the end of a CSV of `size` bytes to read for its last `rows` rows."""
    return max(0, min(size, rows * CDR_TAIL_BYTES_PER_ROW, dump.MAX_FILE_BYTES))


def drop_partial_first_line(data: bytes, offset: int) -> bytes:
    """Read from `offset` > 0, the first line is a piece of a row: drop it."""
    if offset <= 0:
        return data
    cut = data.find(b"\n")
    return data[cut + 1:] if cut >= 0 else b""
