"""A closed month is judged with the samples of it that arrived shortly after it (SLA-01's
`settle_hours`): a monitor read every morning delivers the month's last night the next day. A
collection finished later than the settle window is never read, so a month judged twice gives the
same figure once it has settled.

The month is 2030-11 (Europe/Rome: it ends 2030-11-30 23:00 UTC), one instance probed every 300 s
from two places, always up; the collection finished before the end lacks the last day (coverage
≈ 96.7 % < 99 %), the one finished 10 h after the end has it all, and one 100 h after the end says
the last day was down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from attest.attestation import Result, Verdict
from attest.canonical import utc_iso
from attest.config import LoadedConfig
from collectors.sla.samples import emit_columns
from evidence.log import CheckpointSigner, EvidenceLog, NewRecord
from tests.engine.builder import config_doc, judge, load, period

STEP = 300
INSTANCE = "pbx-acme-1"
END = datetime(2030, 11, 30, 23, 0, tzinfo=UTC)
LATER = END + timedelta(days=10)  # when the month is judged


def _config(tmp_path: Path) -> LoadedConfig:
    doc = config_doc()
    doc["sources"].append({"id": "probes", "type": "sla_file", "path": "probes.csv", "interval_s": STEP})
    for t in doc["tenants"]:
        t["sla_target"] = 99.9
        t["sla_instances"] = {"acme": [INSTANCE]}.get(t["id"], [])
    return load(doc, tmp_path)


def _collect(log: EvidenceLog, signer: CheckpointSigner, *, until: datetime, finished: datetime,
             down_from: datetime | None = None) -> None:
    """One sla_file collection finished at *finished* holding samples from the month's start to *until*."""
    t = np.arange(period().start.timestamp(), until.timestamp(), STEP)
    up = np.ones(t.size, dtype=int) if down_from is None else (t < down_from.timestamp()).astype(int)
    series = {(INSTANCE, v): {"t": t.tolist(), "up": up.tolist()} for v in ("mil", "fra")}
    run_id = log.begin_run("collect", signer)
    new: list[NewRecord] = []

    def record(kind: str, subject: str, payload: dict[str, Any], artifacts: tuple[str, ...] = ()) -> None:
        new.append(NewRecord(source="probes", kind=kind, subject=subject, payload=payload, collected_at=finished,
                             artifacts=artifacts))

    emit_columns(record, log.put_artifact, "probes", series, interval_s=STEP)
    log.append(run_id, new)
    log.finish_run(run_id, "ok", signer, {"sources": [{
        "source": "probes", "type": "sla_file", "status": "ok", "error": None,
        "started_at": utc_iso(finished - timedelta(minutes=1)), "finished_at": utc_iso(finished),
        "records": len(new), "sections": ["samples"], "failures": []}]})


def _sla01(config: LoadedConfig, log: EvidenceLog, signer: CheckpointSigner, now: datetime) -> Result:
    return judge(config, log, signer, "SLA-01", END, now=now)["acme"]


def test_before_the_samples_arrive_the_month_lacks_coverage(tmp_path: Path, log: EvidenceLog,
                                                              signer: CheckpointSigner) -> None:
    config = _config(tmp_path)
    _collect(log, signer, until=END - timedelta(days=1), finished=END - timedelta(days=1))
    result = _sla01(config, log, signer, now=END + timedelta(hours=1))
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "Coverage is below" in result.reason["en"]


def test_samples_collected_within_the_settle_window_complete_the_month(tmp_path: Path, log: EvidenceLog,
                                                                        signer: CheckpointSigner) -> None:
    config = _config(tmp_path)
    _collect(log, signer, until=END - timedelta(days=1), finished=END - timedelta(days=1))
    _collect(log, signer, until=END + timedelta(hours=6), finished=END + timedelta(hours=10))
    result = _sla01(config, log, signer, now=LATER)
    assert result.verdict == Verdict.PASS, result.reason
    assert "coverage 100.000 %" in result.reason["en"]
    settled = [f["en"] for f in result.facts if f["en"].startswith("The month is over")]
    assert settled and "72 h after its end at most" in settled[0]


def test_a_collection_after_the_settle_window_is_not_read(tmp_path: Path, log: EvidenceLog,
                                                           signer: CheckpointSigner) -> None:
    config = _config(tmp_path)
    _collect(log, signer, until=END + timedelta(hours=6), finished=END + timedelta(hours=10))
    # 100 h after the end, a re-import claims the last day was down: too late to change the month.
    _collect(log, signer, until=END + timedelta(hours=6), finished=END + timedelta(hours=100),
             down_from=END - timedelta(days=1))
    result = _sla01(config, log, signer, now=LATER)
    assert result.verdict == Verdict.PASS, result.reason
    assert "0 outage(s)" in result.reason["en"]


def test_while_the_settle_window_is_open_only_what_has_arrived_counts(tmp_path: Path, log: EvidenceLog,
                                                                       signer: CheckpointSigner) -> None:
    config = _config(tmp_path)
    _collect(log, signer, until=END - timedelta(days=1), finished=END - timedelta(days=1))
    _collect(log, signer, until=END + timedelta(hours=6), finished=END + timedelta(hours=10))
    # Judged 5 h after the end: the collection of 10 h after has not happened yet.
    result = _sla01(config, log, signer, now=END + timedelta(hours=5))
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE
