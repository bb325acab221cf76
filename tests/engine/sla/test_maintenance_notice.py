"""SLA-01 and the maintenance notices in the log (`attest evidence add --kind maintenance-notice`):
a window announced at least `notice_hours` ahead is excluded, one announced later is not, a notice
added after the as-of instant changes nothing, and a window declared both in the configuration and
by a notice (or by overlapping windows) is excluded once.

The month (2030-11) has one 2-hour outage seen from both vantage points: 0.28 % of the month, so
the 99.9 % target is missed unless the outage falls in an excluded window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attest.attestation import Result, Verdict
from attest.canonical import utc_iso
from attest.config import LoadedConfig
from attest.controls.sla_evidence import Window, describe_window, maintenance, notice_records
from attest.engine import CheckContext
from collectors.manual import NoticeWindow, add_manual_evidence
from collectors.sla.samples import emit_columns
from evidence.log import CheckpointSigner, EvidenceLog, NewRecord
from tests.engine.builder import AS_OF, config_doc, judge, load, period

STEP = 300
INSTANCE = "pbx-acme-1"
OUT_FROM = datetime(2030, 11, 15, 2, 0, tzinfo=UTC)
OUT_TO = OUT_FROM + timedelta(hours=2)


def _config(tmp_path: Path, maintenance: list[dict[str, Any]] | None = None) -> LoadedConfig:
    doc = config_doc()
    doc["sources"].append({"id": "probes", "type": "sla_file", "path": "probes.csv", "interval_s": STEP})
    for t in doc["tenants"]:
        t["sla_target"] = 99.9
        t["sla_instances"] = {"acme": [INSTANCE], "bellini": ["pbx-bellini"]}[t["id"]]
    doc["maintenance"] = maintenance or []
    return load(doc, tmp_path)


def _collect_samples(log: EvidenceLog, signer: CheckpointSigner) -> None:
    """One sla_file collection finishing at the as-of instant: every STEP from the period's start,
    both instances, two vantage points; pbx-acme-1 down from OUT_FROM to OUT_TO."""
    p = period()
    t = np.arange(p.start.timestamp(), AS_OF.timestamp(), STEP)
    down = (t >= OUT_FROM.timestamp()) & (t < OUT_TO.timestamp())
    series = {(inst, v): {"t": t.tolist(), "up": (~down if inst == INSTANCE else np.ones_like(down)).astype(int)
                          .tolist()}
              for inst in (INSTANCE, "pbx-bellini") for v in ("mil", "fra")}
    run_id = log.begin_run("collect", signer)
    new: list[NewRecord] = []

    def record(kind: str, subject: str, payload: dict[str, Any], artifacts: tuple[str, ...] = ()) -> None:
        new.append(NewRecord(source="probes", kind=kind, subject=subject, payload=payload, collected_at=AS_OF,
                             artifacts=artifacts))

    emit_columns(record, log.put_artifact, "probes", series, interval_s=STEP)
    log.append(run_id, new)
    log.finish_run(run_id, "ok", signer, {"sources": [{
        "source": "probes", "type": "sla_file", "status": "ok", "error": None,
        "started_at": utc_iso(AS_OF - timedelta(minutes=1)), "finished_at": utc_iso(AS_OF), "records": len(new),
        "sections": ["samples"], "failures": []}]})


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "notice-2030-11.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    return path


@pytest.fixture
def add_notice(log: EvidenceLog, signer: CheckpointSigner, pdf: Path, monkeypatch: pytest.MonkeyPatch
               ):  # type: ignore[no-untyped-def]
    """Add a notice as `attest evidence add` does, as if at *at* (the log's clock included)."""
    def add(config: LoadedConfig, *, announced: datetime, at: datetime, subject: str = "tenant/acme",
            start: datetime = OUT_FROM, end: datetime = OUT_TO, title: str = "PBX upgrade") -> None:
        with monkeypatch.context() as m:
            m.setattr("evidence.log._now", lambda: utc_iso(at))
            add_manual_evidence(config, log, signer, kind="maintenance-notice", path=pdf, subject=subject,
                                title=title, window=NoticeWindow(start, end, announced), now=at)
    return add


@pytest.fixture
def samples(log: EvidenceLog, signer: CheckpointSigner) -> Iterator[None]:
    _collect_samples(log, signer)
    yield


def _sla01(config: LoadedConfig, log: EvidenceLog, signer: CheckpointSigner, as_of: datetime = AS_OF) -> Result:
    return judge(config, log, signer, "SLA-01", as_of)["acme"]


def _windows(config: LoadedConfig, log: EvidenceLog, as_of: datetime = AS_OF) -> list[Window]:
    p = period()
    ctx = CheckContext(config, log, as_of, p, None, {})  # type: ignore[arg-type]  # maintenance() reads neither
    return maintenance(ctx, INSTANCE, p.start, min(p.end, as_of), 48)


def _maintenance_facts(result: Result) -> list[str]:
    return [f["en"] for f in result.facts if f["en"].startswith("Maintenance")]


@pytest.mark.usefixtures("samples")
def test_without_a_notice_the_outage_counts(tmp_path: Path, log: EvidenceLog, signer: CheckpointSigner) -> None:
    result = _sla01(_config(tmp_path), log, signer)
    assert result.verdict == Verdict.FAIL, result.reason
    assert "1 outage(s)" in result.reason["en"] and not _maintenance_facts(result)


@pytest.mark.usefixtures("samples")
def test_a_notice_72_h_ahead_excludes_the_window(tmp_path: Path, log: EvidenceLog, signer: CheckpointSigner,
                                                 add_notice) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path)
    add_notice(config, announced=OUT_FROM - timedelta(hours=72), at=OUT_FROM - timedelta(hours=71))
    result = _sla01(config, log, signer)
    assert result.verdict == Verdict.PASS, result.reason
    assert "0 outage(s)" in result.reason["en"]
    (fact,) = _maintenance_facts(result)
    assert "(PBX upgrade), announced 2030-11-12 02:00 UTC: excluded." in fact
    assert "Source: the notice document notice-2030-11.pdf, SHA-256 " in fact
    assert "for tenant/acme" in fact and "after the fact" not in fact
    assert any("excluded 2 h;" in f["en"] for f in result.facts)
    (w,) = _windows(config, log)
    assert w.source == "tenant/acme" and w.excluded and w.evidence is not None
    assert w.recorded_at == OUT_FROM - timedelta(hours=71) and not w.recorded_late
    assert w.evidence.kind == "manual.maintenance_notice" and notice_records([w, w]) == [w.evidence]
    assert "documento di avviso notice-2030-11.pdf" in describe_window(w, 48)["it"]


@pytest.mark.usefixtures("samples")
def test_a_notice_1_h_ahead_does_not(tmp_path: Path, log: EvidenceLog, signer: CheckpointSigner,
                                     add_notice) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path)
    add_notice(config, announced=OUT_FROM - timedelta(hours=1), at=OUT_FROM - timedelta(minutes=30))
    result = _sla01(config, log, signer)
    assert result.verdict == Verdict.FAIL, result.reason
    (fact,) = _maintenance_facts(result)
    assert "less than 48 h ahead" in fact and "notice-2030-11.pdf" in fact
    assert any("excluded 0 s;" in f["en"] for f in result.facts)


@pytest.mark.usefixtures("samples")
def test_a_notice_added_after_the_as_of_instant_is_ignored(tmp_path: Path, log: EvidenceLog,
                                                           signer: CheckpointSigner,
                                                           add_notice) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path)
    added = AS_OF + timedelta(minutes=30)  # within the period, after the assessment instant
    add_notice(config, announced=OUT_FROM - timedelta(hours=72), at=added)
    result = _sla01(config, log, signer)
    assert result.verdict == Verdict.FAIL, result.reason
    assert not _maintenance_facts(result) and _windows(config, log) == []
    # judged later, the notice counts -- but it was recorded after the window had started, so it says so
    later = _sla01(config, log, signer, as_of=period().end)
    assert later.verdict == Verdict.PASS, later.reason
    (fact,) = _maintenance_facts(later)
    assert f"recorded after the fact on {added:%Y-%m-%d %H:%M} UTC" in fact and ": excluded." in fact


@pytest.mark.usefixtures("samples")
def test_config_and_identical_notice_count_once(tmp_path: Path, log: EvidenceLog, signer: CheckpointSigner,
                                                add_notice) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, [{"instances": [INSTANCE], "start": OUT_FROM.isoformat(), "end": OUT_TO.isoformat(),
                                 "announced_at": (OUT_FROM - timedelta(hours=96)).isoformat(), "reason": "upgrade"}])
    add_notice(config, announced=OUT_FROM - timedelta(hours=72), at=OUT_FROM - timedelta(hours=70))
    add_notice(config, announced=OUT_FROM - timedelta(hours=60), at=OUT_FROM - timedelta(hours=50),
               subject=f"sla/{INSTANCE}")  # the same window, noticed again
    result = _sla01(config, log, signer)
    assert result.verdict == Verdict.PASS, result.reason
    (fact,) = _maintenance_facts(result)
    assert "also in the configuration" in fact and "for tenant/acme" in fact  # the earliest notice
    assert any("excluded 2 h;" in f["en"] for f in result.facts)


@pytest.mark.usefixtures("samples")
def test_overlapping_windows_are_not_excluded_twice(tmp_path: Path, log: EvidenceLog, signer: CheckpointSigner,
                                                    add_notice) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, [{"instances": [INSTANCE], "start": OUT_FROM.isoformat(),
                                 "end": (OUT_FROM + timedelta(hours=1)).isoformat(),
                                 "announced_at": (OUT_FROM - timedelta(days=5)).isoformat()}])
    add_notice(config, announced=OUT_FROM - timedelta(hours=72), at=OUT_FROM - timedelta(hours=70),
               start=OUT_FROM + timedelta(minutes=30), end=OUT_TO)
    result = _sla01(config, log, signer)
    assert result.verdict == Verdict.PASS, result.reason
    assert len(_maintenance_facts(result)) == 2
    assert any("excluded 2 h;" in f["en"] for f in result.facts)  # 02:00-03:00 ∪ 02:30-04:00
    assert [w.source for w in _windows(config, log)] == ["config", "tenant/acme"]


@pytest.mark.usefixtures("samples")
def test_a_notice_about_another_instance_does_not_apply(tmp_path: Path, log: EvidenceLog, signer: CheckpointSigner,
                                                        add_notice) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path)
    add_notice(config, announced=OUT_FROM - timedelta(hours=72), at=OUT_FROM - timedelta(hours=70),
               subject="tenant/bellini")
    result = _sla01(config, log, signer)
    assert result.verdict == Verdict.FAIL and not _maintenance_facts(result)



@pytest.mark.usefixtures("samples")
def test_a_notice_announced_after_the_start_is_shown_never_excluded(tmp_path: Path, log: EvidenceLog,
                                                                    signer: CheckpointSigner,
                                                                    add_notice) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path)
    add_notice(config, announced=OUT_FROM + timedelta(minutes=10), at=OUT_FROM + timedelta(hours=1))
    result = _sla01(config, log, signer)
    assert result.verdict == Verdict.FAIL, result.reason
    (fact,) = _maintenance_facts(result)
    assert "after it had started: it counts like any other time" in fact and "recorded after the fact" in fact
