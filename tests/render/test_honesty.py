"""What the document must say so that silence is never read as a pass."""

from __future__ import annotations

from collections.abc import Callable

from attest.attestation import Attestation, Verdict, overall_verdict
from attest.render.html import render_html


def test_duties_without_controls_are_named_as_not_covered(att_en: Attestation, att_it: Attestation) -> None:
    html = render_html(att_en)
    # the sample judges dedicated, backups and sla: the other duties are declared not covered
    assert "Not covered by this attestation" in html
    for duty in ("Datacenter", "Firewall"):
        assert duty in html.split("Not covered by this attestation")[1].split("</p>")[0]
    assert "Nothing is stated about these here." in html
    assert "Non coperti da questa attestazione" in render_html(att_it)


def test_the_period_states_its_denominator(att_en: Attestation, att_it: Attestation) -> None:
    assert "30 days = 43,200 minutes" in render_html(att_en)
    assert "30 giorni = 43.200 minuti" in render_html(att_it)


def test_nothing_passed_is_never_an_overall_pass(make_attestation: Callable[..., Attestation],
                                                 att_en: Attestation) -> None:
    waived = [r.model_copy(update={"verdict": Verdict.WAIVED}) for r in att_en.results]
    not_applicable = [r.model_copy(update={"verdict": Verdict.NOT_APPLICABLE}) for r in att_en.results]
    assert overall_verdict(waived) == Verdict.INSUFFICIENT_EVIDENCE
    assert overall_verdict(not_applicable) == Verdict.INSUFFICIENT_EVIDENCE
    assert overall_verdict([]) == Verdict.INSUFFICIENT_EVIDENCE
    mixed = [*not_applicable[:1], att_en.results[0].model_copy(update={"verdict": Verdict.PASS})]
    assert overall_verdict(mixed) == Verdict.PASS
    assert make_attestation("en", results=waived).overall == Verdict.INSUFFICIENT_EVIDENCE
