"""The fleet figures from synthetic per-tenant results: what each count counts, that a tenant that
could not be assessed (or is waived) is never counted as passed, the availability buckets, and the
anonymised exceptions."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from attest.attestation import Measure, Result, Verdict
from attest.engine import Evaluation
from attest.fleet.aggregate import GENERIC_REASONS, availability, combined, exceptions, figures
from attest.fleet.model import VerdictCounts

P, F, IE, NA, W = (Verdict.PASS, Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE, Verdict.NOT_APPLICABLE,
                   Verdict.WAIVED)
DUTY = {"ISO-01": "dedicated", "FW-01": "firewall", "FW-02": "firewall", "BK-02": "backups", "SLA-01": "sla"}


def _result(control: str, verdict: Verdict, measures: list[Measure] | None = None) -> Result:
    return Result(control_id=control, title={"en": control}, duty=DUTY[control], verdict=verdict,
                  reason={"en": f"instance pbx-secret-{control} of a tenant"}, measures=measures or [])


def _evaluation(results: dict[str, list[Result]]) -> Evaluation:
    # Only `results` is read by the aggregation functions under test.
    return Evaluation(run_id=0, checkpoint=None, config_record=None, period=None, as_of=None,  # type: ignore[arg-type]
                      results=results)


def _by_area(evaluation: Evaluation, instances: dict[str, int]) -> dict[str, Any]:
    return {f.area: f for f in figures(evaluation, instances, ["dedicated", "firewall"])}


def test_a_tenant_passes_an_area_only_when_every_control_of_it_passed() -> None:
    ev = _evaluation({
        "a": [_result("ISO-01", P), _result("FW-01", P), _result("FW-02", P)],
        "b": [_result("ISO-01", P), _result("FW-01", P), _result("FW-02", IE)],
        "c": [_result("ISO-01", F), _result("FW-01", W), _result("FW-02", P)],
        "d": [_result("ISO-01", NA), _result("FW-01", NA), _result("FW-02", NA)],
    })
    areas = _by_area(ev, {"a": 2, "b": 1, "c": 3, "d": 0})
    fw = areas["firewall"]
    assert fw.controls == ["FW-01", "FW-02"]
    assert fw.tenants == VerdictCounts(denominator=4, passed=1, failed=0, insufficient_evidence=1, waived=1,
                                       not_applicable=1)
    # Instances are counted under their tenant's verdict: 2 (a) passed of 6.
    assert fw.instances == VerdictCounts(denominator=6, passed=2, failed=0, insufficient_evidence=1, waived=3,
                                         not_applicable=0)
    iso = areas["dedicated"]
    assert (iso.tenants.passed, iso.tenants.failed, iso.tenants.not_applicable) == (2, 1, 1)
    every = areas["all"]
    assert every.controls == ["FW-01", "FW-02", "ISO-01"]
    assert (every.tenants.passed, every.tenants.failed, every.tenants.insufficient_evidence) == (1, 1, 1)


def test_insufficient_evidence_and_missing_results_are_never_a_pass() -> None:
    ev = _evaluation({
        "a": [_result("ISO-01", IE), _result("FW-01", P), _result("FW-02", P)],
        "b": [_result("ISO-01", P), _result("FW-01", P)],  # FW-02 was not judged for b
    })
    areas = _by_area(ev, {"a": 1, "b": 1})
    assert areas["dedicated"].tenants.passed == 1 and areas["dedicated"].tenants.insufficient_evidence == 1
    assert areas["firewall"].tenants.passed == 1 and areas["firewall"].tenants.insufficient_evidence == 1
    assert combined([]) == NA and combined([P, NA]) == P and combined([P, W]) == W and combined([W, IE]) == IE


def test_counts_must_add_up_to_their_denominator() -> None:
    with pytest.raises(ValidationError):
        VerdictCounts(denominator=3, passed=1, failed=1, insufficient_evidence=0, waived=0, not_applicable=0)


def _sla(instance: str, value: float | None, target: float, covered: bool = True) -> list[Measure]:
    met = None if value is None or not covered else value >= target
    return [Measure(name="availability", subject=instance, value=value, target=target, met=met),
            Measure(name="coverage", subject=instance, value=99.0 if covered else 50.0, target=90.0, met=covered)]


def test_availability_buckets_count_every_instance_with_a_target() -> None:
    config = SimpleNamespace(tenant=lambda tid: SimpleNamespace(sla_instances={
        "a": ["a1", "a2"], "b": ["b1"], "c": ["c1", "c2"], "d": [], "e": ["e1"]}[tid]))
    ev = _evaluation({
        "a": [_result("SLA-01", F, _sla("a1", 99.95, 99.9) + _sla("a2", 99.87, 99.9))],
        "b": [_result("SLA-01", F, _sla("b1", 99.5, 99.9))],
        "c": [_result("SLA-01", IE, _sla("c1", 98.0, 99.9) + _sla("c2", 99.99, 99.9, covered=False))],
        "d": [_result("SLA-01", IE)],
        "e": [_result("SLA-01", IE)],  # configured, but SLA-01 measured nothing
    })
    dist = availability(config, ev)  # type: ignore[arg-type]
    buckets = {b.key: b.count for b in dist.buckets}
    assert buckets == {"met": 1, "below_lt_0_05pp": 1, "below_0_05_to_0_5pp": 1, "below_gt_0_5pp": 1,
                       "not_measured": 2}
    assert (dist.with_target, dist.measured, dist.tenants_without_sla_instances) == (6, 4, 1)
    assert dist.min_availability == 98.0 and dist.median_availability == pytest.approx((99.5 + 99.87) / 2)
    assert dist.min_margin_pp == pytest.approx(-1.9)


def test_exceptions_are_anonymised_and_generic() -> None:
    ev = _evaluation({f"tenant-{i:02d}": [_result("ISO-01", F if i % 2 else P), _result("FW-01", IE if i < 3 else P),
                                          _result("FW-02", W if i == 4 else P)] for i in range(10)})
    found = exceptions(ev, b"k" * 32)
    labels = sorted({e.tenant for e in found}, key=lambda s: int(s.split()[1]))
    assert labels == [f"tenant {n}" for n in range(1, len(labels) + 1)]
    flagged = {t for t, rs in ev.results.items() if any(r.verdict in (F, IE, W) for r in rs)}
    assert len(labels) == len(flagged)
    assert len(found) == sum(r.verdict in (F, IE, W) for rs in ev.results.values() for r in rs)
    assert all(e.reason == GENERIC_REASONS[e.verdict] for e in found)
    text = repr(found)
    assert "tenant-0" not in text and "pbx-secret" not in text
    # A different (secret, per-document) key numbers the tenants differently: the order is not the ids'.
    orders = {tuple(e.control_id + e.verdict for e in exceptions(ev, bytes([k]) * 32)) for k in range(8)}
    assert len(orders) > 1
