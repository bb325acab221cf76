"""SLA-01 judged from probe samples collected into the log (CSV import): a pass, a fail with the
numbers, insufficient coverage, announced and late maintenance, several instances (the worst one
decides). Outages are sized as fractions of the month so far, so the verdicts hold on any day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attest.attestation import Result, Verdict
from attest.collect import run_collection
from attest.config import LoadedConfig, load_config
from attest.engine import evaluate
from attest.lab.world import demo_world
from attest.period import current_period
from attest.signing import ProviderSigner
from attest.workspace import config_document, init_workspace, write_config
from evidence.log import EvidenceLog

STEP = 60


def _signer(ws: LoadedConfig) -> ProviderSigner:
    return ProviderSigner.load(ws.resolve(ws.model.provider.signing.pkcs12_file), ws.signing_password())


def _csv(rows: list[tuple[int, str, str, int]]) -> str:
    return "timestamp,vantage,instance,up\n" + "".join(f"{t},{v},{i},{u}\n" for t, v, i, u in rows)


@pytest.fixture
def month(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    period = current_period("Europe/Rome")
    t0 = int(period.start.timestamp())
    t1 = int(datetime.now(UTC).timestamp()) // STEP * STEP - STEP
    elapsed = t1 - t0
    if elapsed < 86400:
        pytest.skip("less than a day of the month has passed: outages cannot be sized")
    big = elapsed // 50 // STEP * STEP  # 2 % of the month so far
    gap_from = t0 + elapsed // 3 // STEP * STEP
    outage = (t0 + elapsed // 2 // STEP * STEP, None)
    rows: list[tuple[int, str, str, int]] = []
    for t in range(t0, t1, STEP):
        for vantage in ("mil", "fra"):
            rows.append((t, vantage, "pbx-acme-1", 1))
            # acme-2: one 2-minute outage seen from both places, plus a single failed probe from one
            rows.append((t, vantage, "pbx-acme-2", 0 if outage[0] <= t < outage[0] + 120 or
                         (vantage == "mil" and t == t0 + 600) else 1))
            rows.append((t, vantage, "pbx-bellini", 0 if outage[0] <= t < outage[0] + big else 1))
            if not gap_from <= t < gap_from + 5 * big // 2:  # 5 % of the month without data
                rows.append((t, vantage, "pbx-conti", 1))
            rows.append((t, vantage, "pbx-delta", 0 if gap_from <= t < gap_from + big else 1))
    directory = tmp_path / "ws"
    init_workspace(directory)
    (directory / "probes.csv").write_text(_csv(rows))
    doc: dict[str, Any] = config_document(demo_world(), "https://127.0.0.1:9", False)
    doc["database_url"] = db_url
    doc["sources"] = [{"id": "probes", "type": "sla_file", "path": "probes.csv", "interval_s": STEP}]
    instances = {"acme": ["pbx-acme-1", "pbx-acme-2"], "bellini": ["pbx-bellini"], "conti": ["pbx-conti"],
                 "delta": ["pbx-delta"]}
    for t in doc["tenants"]:
        t["sla_target"] = 99.0
        t["sla_instances"] = instances.get(t["id"], [])
    # delta's outage is planned maintenance, announced in time; bellini's is announced too late
    start = datetime.fromtimestamp(gap_from, UTC)
    doc["maintenance"] = [
        {"instances": ["pbx-delta"], "start": start.isoformat(), "end": (start + timedelta(seconds=big)).isoformat(),
         "announced_at": (start - timedelta(days=3)).isoformat(), "reason": "upgrade"},
        {"instances": ["pbx-bellini"], "start": datetime.fromtimestamp(outage[0], UTC).isoformat(),
         "end": datetime.fromtimestamp(outage[0] + big, UTC).isoformat(),
         "announced_at": datetime.fromtimestamp(outage[0] - 3600, UTC).isoformat()},
    ]
    ws = load_config(write_config(directory, doc))
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    assert run_collection(ws, log, _signer(ws)).all_ok
    ev = evaluate(ws, log, _signer(ws), period)
    results: dict[str, Result] = {t: next(r for r in rs if r.control_id == "SLA-01") for t, rs in ev.results.items()}
    yield results, big
    log.close()


def test_worst_instance_decides_and_a_single_failed_probe_does_not_count(month) -> None:  # type: ignore[no-untyped-def]
    results, _ = month
    acme = results["acme"]
    assert acme.verdict == Verdict.PASS, acme.reason
    assert "worst instance pbx-acme-2" in acme.reason["en"] and "1 outage(s)" in acme.reason["en"]
    [table] = acme.tables
    assert [row[0] for row in table.rows] == ["pbx-acme-2"] and table.rows[0][3] == "2 min"
    text = " ".join(f["en"] for f in acme.facts)
    assert "Availability = time up ÷ (time up + time down)" in text and "Europe/Rome" in text


def test_under_target_fails_with_the_numbers(month) -> None:  # type: ignore[no-untyped-def]
    results, _ = month
    bellini = results["bellini"]
    assert bellini.verdict == Verdict.FAIL
    assert "< the contracted 99 %" in bellini.reason["en"] and "98.0" in bellini.reason["en"]
    assert any("less than 48 h ahead" in f["en"] for f in bellini.facts)  # announced too late: not excluded


def test_low_coverage_is_insufficient_never_a_pass(month) -> None:  # type: ignore[no-untyped-def]
    results, _ = month
    conti = results["conti"]
    assert conti.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "Coverage is below the required 99 %" in conti.reason["en"] and "pbx-conti 9" in conti.reason["en"]


def test_announced_maintenance_is_excluded(month) -> None:  # type: ignore[no-untyped-def]
    results, _ = month
    delta = results["delta"]
    assert delta.verdict == Verdict.PASS, delta.reason
    assert "0 outage(s)" in delta.reason["en"] and any(": excluded." in f["en"] for f in delta.facts)


def test_tenant_without_instances_is_insufficient(month) -> None:  # type: ignore[no-untyped-def]
    results, _ = month
    assert results["esposito"].verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "sla_instances" in results["esposito"].reason["en"]
