"""Probe samples from a file any monitor can write: CSV with the header
`timestamp,vantage,instance,up[,latency_ms]` or JSON lines with those keys (plus an optional
`detail`), which is what `attest probe` writes. A broken line is reported with its number and
skipped; everything else is kept."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from collectors.base import Emitter, SourceFailed
from collectors.sla.samples import SECTION, Sample, emit_samples

MAX_FILE_BYTES = 1024 * 1024 * 1024  # a month of 60 s probes of 100 instances from 2 places is ~0.5 GB of JSON
_UP = {"1": True, "true": True, "up": True, "ok": True, "0": False, "false": False, "down": False, "fail": False}
CSV_COLUMNS = ("timestamp", "vantage", "instance", "up")


class BadLine(ValueError):
    pass


def parse_time(value: Any) -> float:
    """ISO 8601 with an offset, or Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        t = float(value)
    else:
        text = str(value).strip()
        try:
            t = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise BadLine(f"timestamp {text[:40]!r} is neither ISO 8601 nor Unix seconds") from exc
            if moment.tzinfo is None:
                raise BadLine(f"timestamp {text[:40]!r} has no UTC offset") from None
            t = moment.timestamp()
    if not math.isfinite(t) or t <= 0:
        raise BadLine(f"timestamp {value!r} is out of range")
    return t


def _sample(fields: dict[str, Any]) -> Sample:
    missing = [c for c in CSV_COLUMNS if fields.get(c) in (None, "")]
    if missing:
        raise BadLine(f"missing {', '.join(missing)}")
    up_text = str(fields["up"]).strip().lower()
    if isinstance(fields["up"], bool):
        up = fields["up"]
    elif up_text in _UP:
        up = _UP[up_text]
    else:
        raise BadLine(f"up must be 1/0, true/false or up/down, not {str(fields['up'])[:20]!r}")
    latency = fields.get("latency_ms")
    if latency in (None, ""):
        latency_ms = None
    else:
        try:
            latency_ms = float(latency)
        except (TypeError, ValueError) as exc:
            raise BadLine(f"latency_ms {latency!r} is not a number") from exc
    detail = fields.get("detail")
    return Sample(parse_time(fields["timestamp"]), str(fields["vantage"]).strip(), str(fields["instance"]).strip(),
                  up, latency_ms, str(detail)[:80] if detail not in (None, "") else None)


@dataclass
class ParsedFile:
    samples: list[Sample]
    bad: list[tuple[int, str]]  # (line number, why)


def parse(text: str, fmt: str) -> ParsedFile:
    samples: list[Sample] = []
    bad: list[tuple[int, str]] = []
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
                if not isinstance(fields, dict):
                    raise BadLine("not a JSON object")
                samples.append(_sample(fields))
            except (BadLine, ValueError) as exc:
                bad.append((number, str(exc) if isinstance(exc, BadLine) else f"not JSON ({exc.args[0]})"))
        return ParsedFile(samples, bad)
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    for row in reader:
        number = reader.line_num
        if not row or not any(c.strip() for c in row):
            continue
        if header is None:
            header = [c.strip().lower() for c in row]
            if not set(CSV_COLUMNS) <= set(header):
                raise BadLine(f"line {number}: the header must name {', '.join(CSV_COLUMNS)} "
                              f"(found {', '.join(header)})")
            continue
        if len(row) != len(header):
            bad.append((number, f"{len(row)} fields, the header has {len(header)}"))
            continue
        try:
            samples.append(_sample(dict(zip(header, row, strict=True))))
        except BadLine as exc:
            bad.append((number, str(exc)))
    return ParsedFile(samples, bad)


def detect(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"


@dataclass
class SampleFileCollector:
    source_id: str
    path: Path
    fmt: str = "auto"
    interval_s: float = 60.0
    source_type: str = "sla_file"

    def collect(self, out: Emitter) -> None:
        try:
            size = self.path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise SourceFailed(f"{self.path}: {size} bytes, more than the {MAX_FILE_BYTES} this source reads")
            data = self.path.read_bytes()
        except OSError as exc:
            raise SourceFailed(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        text = data.decode("utf-8", "replace")
        fmt = detect(self.path, self.fmt)
        try:
            parsed = parse(text, fmt)
        except BadLine as exc:
            raise SourceFailed(f"{self.path}: {exc}") from exc
        sha = out.artifact(data, "text/csv" if fmt == "csv" else "application/x-ndjson")
        for number, why in parsed.bad[:200]:
            out.failed(SECTION, f"{self.path.name}:{number}: {why}", f"{self.source_id}/line/{number}")
        if len(parsed.bad) > 200:
            out.failed(SECTION, f"{self.path.name}: {len(parsed.bad) - 200} more broken line(s)",
                       f"{self.source_id}/line/more")
        emit_samples(out.record, out.artifact, self.source_id, parsed.samples, source="file",
                     file=self.path.name, file_sha256=sha, interval_s=self.interval_s)
        out.completed(SECTION)

