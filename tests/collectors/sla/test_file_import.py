"""Probe samples imported from CSV and JSON lines: every good line kept, every broken line named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.base import Emitter, SourceFailed
from collectors.sla.file_import import SampleFileCollector, parse
from collectors.sla.samples import SAMPLES_KIND, load_columns


def _collect(path: Path) -> tuple[Emitter, dict[str, bytes]]:
    blobs: dict[str, bytes] = {}

    def put(data: bytes, media_type: str) -> str:
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        blobs[sha] = data
        return sha

    out = Emitter("probes", put)
    SampleFileCollector("probes", path).collect(out)
    return out, blobs


CSV = """timestamp,vantage,instance,up,latency_ms
2026-11-01T00:00:00Z,mil,pbx-a,1,12.5
2026-11-01T00:01:00Z,mil,pbx-a,0,
1793491320,mil,pbx-a,true,11
2026-11-01T00:00:30+00:00,fra,pbx-a,down,
2026-11-01T00:03:00,mil,pbx-a,1,3
2026-11-01T00:04:00Z,mil,pbx-a,maybe,3
2026-11-01T00:05:00Z,mil,pbx-a
2026-11-02T00:00:00Z,mil,pbx-a,1,9
"""


def test_csv_keeps_good_lines_and_names_broken_ones(tmp_path: Path) -> None:
    path = tmp_path / "probes.csv"
    path.write_text(CSV)
    out, blobs = _collect(path)
    records = [r for r in out.records if r.kind == SAMPLES_KIND]
    assert sorted(r.subject for r in records) == ["probes/pbx-a/fra/2026-11-01", "probes/pbx-a/mil/2026-11-01",
                                                  "probes/pbx-a/mil/2026-11-02"]
    mil = next(r for r in records if r.subject.endswith("mil/2026-11-01"))
    cols = load_columns(blobs[mil.payload["sha256"]])
    assert cols["t"] == [1793491200.0, 1793491260.0, 1793491320.0] and cols["up"] == [1, 0, 1]
    assert cols["latency_ms"] == [12.5, None, 11.0]
    errors = {f.error for f in out.failures}
    assert "probes.csv:6: timestamp '2026-11-01T00:03:00' has no UTC offset" in errors
    assert any(e.startswith("probes.csv:7: up must be") for e in errors)
    assert "probes.csv:8: 3 fields, the header has 5" in errors
    assert out.sections == ["samples"]
    assert mil.payload["file_sha256"] in blobs  # the file itself is evidence too


def test_jsonl_as_attest_probe_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "probes.jsonl"
    lines = [{"timestamp": "2026-11-01T00:00:00Z", "vantage": "v", "instance": "pbx-b", "up": True,
              "latency_ms": 4.2, "detail": "SIP 200"},
             {"timestamp": "2026-11-01T00:01:00Z", "vantage": "v", "instance": "pbx-b", "up": False,
              "latency_ms": None, "detail": "timeout"}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{truncated\n[1,2]\n")
    out, blobs = _collect(path)
    [record] = out.records
    assert record.payload["count"] == 2 and record.payload["up"] == 1 and record.payload["down"] == 1
    assert load_columns(blobs[record.payload["sha256"]])["detail"] == ["SIP 200", "timeout"]
    assert [f.error.split(":")[1] for f in out.failures] == ["3", "4"]


def test_bad_header_or_missing_file_fails_the_source(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("time,where,what\n1,2,3\n")
    with pytest.raises(SourceFailed, match="header must name timestamp"):
        _collect(path)
    with pytest.raises(SourceFailed, match="cannot read"):
        _collect(tmp_path / "absent.csv")


def test_parse_is_order_and_duplicate_tolerant() -> None:
    text = ("timestamp,vantage,instance,up\n" "120,a,i,1\n" "60,a,i,0\n" "120,a,i,1\n")
    parsed = parse(text, "csv")
    assert [s.t for s in parsed.samples] == [120.0, 60.0, 120.0] and not parsed.bad  # the engine sorts and dedupes
