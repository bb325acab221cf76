"""SLA-01's month chart: the Timeline data drawn by ReportLab as inline SVG, in HTML and PDF."""

from __future__ import annotations

import itertools
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attest.attestation import Result, Timeline, TimelineLane, TimelineSpan, Verdict
from attest.render.html import render_html, translations
from attest.render.pdf import render_pdf
from attest.render.timeline import COLORS, MIN_DOWN_PT, WIDTH, timeline_svg
from attest.sla.engine import evaluate
from attest.sla.timeline import MAX_SPANS, coalesce, lane, month_timeline
from tests.render.conftest import build_attestation

NS = {"s": "http://www.w3.org/2000/svg"}
START = datetime(2026, 10, 31, 23, tzinfo=UTC)  # November 2026 in Europe/Rome
END = datetime(2026, 11, 30, 23, tzinfo=UTC)
WORDS = translations("en")["timeline"]["legend"]


def _timeline(lanes: list[TimelineLane], measured_until: datetime = END, start: datetime = START,
              end: datetime = END) -> Timeline:
    return Timeline(title={"en": "The month at a glance", "it": "Il mese in sintesi"}, start=start, end=end,
                    measured_until=measured_until, time_zone="Europe/Rome", lanes=lanes)


def _span(day: int, hour: int, minutes: int, state: str) -> TimelineSpan:
    a = START + timedelta(days=day, hours=hour)
    return TimelineSpan(start=a, end=a + timedelta(minutes=minutes), state=state)  # type: ignore[arg-type]


def _svg(tl: Timeline) -> ET.Element:
    return ET.fromstring(timeline_svg(tl, WORDS, "chart"))


def _rects(root: ET.Element, color: str) -> list[ET.Element]:
    hexes = COLORS[color].hexval()[2:].lower()  # "0x…" → "…"
    rgb = tuple(int(hexes[i:i + 2], 16) for i in (0, 2, 4))
    return [el for el in root.iter(f"{{{NS['s']}}}rect") if _fill_is(el.get("fill", ""), rgb)]


def _fill_is(fill: str, rgb: tuple[int, ...]) -> bool:
    """ReportLab writes colours as whole percentages: rgb(78%,16%,16%)."""
    if not fill.startswith("rgb("):
        return False
    parts = [float(p.strip().rstrip("%")) for p in fill[4:-1].split(",")]
    return all(abs(p * 2.55 - c) < 3 for p, c in zip(parts, rgb, strict=True))


def test_svg_is_one_inline_element_with_a_name_and_no_css() -> None:
    text = timeline_svg(_timeline([TimelineLane(label="pbx-a", spans=[_span(3, 4, 90, "down")])]), WORDS,
                        "November at a glance")
    assert text.startswith("<svg ") and "<?xml" not in text and "DOCTYPE" not in text
    root = ET.fromstring(text)
    assert root.get("role") == "img" and root.get("aria-label") == "November at a glance"
    assert root.find("s:title", NS) is not None
    # No style attributes (read as CSS inline in HTML) and no fixed ids that could clash.
    assert not [el for el in root.iter() if el.get("style") is not None or el.get("id") is not None]
    assert "Helvetica" not in text


def test_same_timeline_same_bytes() -> None:
    tl = _timeline([TimelineLane(label="pbx-a", spans=[_span(3, 4, 90, "down"), _span(9, 0, 360, "unknown")])])
    assert timeline_svg(tl, WORDS, "x") == timeline_svg(tl, WORDS, "x")


def test_each_outage_is_drawn_red_with_a_marker_even_when_tiny() -> None:
    spans = [_span(3, 4, 4, "down"), _span(20, 1, 180, "down"), _span(10, 0, 120, "excluded")]
    root = _svg(_timeline([TimelineLane(label="pbx-a", spans=spans)]))
    red = [r for r in _rects(root, "down") if float(r.get("height", "0")) > 10]  # not the legend's square
    assert len(red) == 2
    assert min(float(r.get("width", "0")) for r in red) >= MIN_DOWN_PT - 1e-9
    markers = list(root.iter(f"{{{NS['s']}}}polygon"))
    assert len(markers) == 2  # one black marker per outage: colour is not the only signal
    assert len(_rects(root, "excluded")) >= 2  # the window and its legend square


def test_no_outage_no_red_and_no_marker() -> None:
    root = _svg(_timeline([TimelineLane(label="pbx-a", spans=[_span(9, 0, 360, "unknown")])]))
    assert len(_rects(root, "down")) == 1  # the legend's square only
    assert not list(root.iter(f"{{{NS['s']}}}polygon"))


def test_a_month_not_over_shows_its_unjudged_rest_and_says_so_in_the_legend() -> None:
    until = START + timedelta(days=25, hours=16)
    text = timeline_svg(_timeline([TimelineLane(label="pbx-a")], measured_until=until), WORDS, "x")
    assert WORDS["future"] in text
    closed = timeline_svg(_timeline([TimelineLane(label="pbx-a")]), WORDS, "x")
    assert WORDS["future"] not in closed
    # The up bar stops where judging stopped: 25 d 16 h of 30 days.
    root = ET.fromstring(text)
    up = [r for r in _rects(root, "up") if float(r.get("height", "0")) > 10]
    width = WIDTH - 96.0 - 6.0
    assert float(up[0].get("width", "0")) == pytest.approx(width * (25 + 16 / 24) / 30, abs=0.02)


def test_days_are_marked_in_the_periods_time_zone_across_a_dst_change() -> None:
    # October 2026 in Europe/Rome: 31 days, the 25th has 25 hours; lines at local midnights.
    start, end = datetime(2026, 9, 30, 22, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC)
    root = _svg(_timeline([TimelineLane(label="pbx-a")], start=start, end=end, measured_until=end))
    xs = sorted({float(p.get("d", "M 0,0").split()[1].split(",")[0]) for p in root.iter(f"{{{NS['s']}}}path")
                 if p.get("stroke-width") == "0.4"})
    assert len(xs) == 31
    steps = [b - a for a, b in itertools.pairwise(xs)]
    day = (WIDTH - 96.0 - 6.0) / (745 / 24)  # 745 hours in that month
    assert steps[24] == pytest.approx(day * 25 / 24, abs=0.02)  # 25 → 26 October
    assert steps[0] == pytest.approx(day, abs=0.02)


def test_long_instance_names_are_shortened() -> None:
    text = timeline_svg(_timeline([TimelineLane(label="pbx-" + "x" * 60)]), WORDS, "x")
    assert "x" * 30 not in text and "…" in text


def test_coalesce_keeps_exact_spans_when_few_and_the_worst_state_when_many() -> None:
    few = [(float(i * 600), float(i * 600 + 60), "unknown") for i in range(10)]
    assert coalesce(few) == (few, 0)  # type: ignore[arg-type]
    many = [(float(i * 120), float(i * 120 + 60), "down" if i == 7 else "unknown") for i in range(2000)]
    spans, resolution = coalesce(many, 100)  # type: ignore[arg-type]
    assert resolution > 0 and len(spans) <= 100
    assert spans[0][0] == 0.0 and spans[-1][1] == many[-1][1]
    assert "down" in {s[2] for s in spans}  # an outage is never hidden by merging


def test_lane_from_the_engine_lists_what_was_not_up() -> None:
    t0 = START.timestamp()
    times = [t0 + 60 * i for i in range(600)]
    up = [not (100 <= i < 110) for i in range(600)]
    result = evaluate({"v1": (times, up)}, interval=60, start=t0, end=t0 + 36000, instance="pbx-a",
                      exclusions=[(t0 + 30000, t0 + 31000)])
    got = lane(result)
    states = [(s.state, (s.end - s.start).total_seconds()) for s in got.spans]
    assert ("down", 600.0) in states and ("excluded", 1000.0) in states
    assert got.resolution_s == 0
    tl = month_timeline([result], START, END, START + timedelta(hours=10), "Europe/Rome", {"en": "x"})
    assert tl.measured_until == START + timedelta(hours=10) and tl.lanes == [got]


def test_a_flapping_instance_is_drawn_coarser_and_says_so() -> None:
    t0 = START.timestamp()
    n = 20000
    times = [t0 + 60 * i for i in range(n)]
    up = [(i // 2) % 3 != 0 for i in range(n)]  # two failed probes every six: confirmed outages
    result = evaluate({"v1": (times, up)}, interval=60, start=t0, end=t0 + 60 * n, instance="pbx-flap")
    assert result.outage_count > MAX_SPANS
    got = lane(result)
    assert got.resolution_s > 0 and len(got.spans) <= MAX_SPANS


def _sla_result(tl: Timeline) -> Result:
    return Result(control_id="SLA-01", title={"en": "Monthly availability", "it": "Disponibilità mensile"},
                  duty="sla", verdict=Verdict.FAIL, reason={"en": "Availability 98 % < 99.9 %."},
                  timelines=[tl], max_evidence_age="2d")


def test_the_chart_is_in_the_html_and_the_pdf_renders_strictly(tmp_path: Path) -> None:
    tl = _timeline([TimelineLane(label="pbx-rossi", spans=[_span(12, 20, 735, "down")]),
                    TimelineLane(label="pbx-rossi-2", spans=[_span(3, 1, 600, "unknown")], resolution_s=240)],
                   measured_until=START + timedelta(days=25, hours=16))
    att = build_attestation("it", results=[_sla_result(tl)])
    html = render_html(att)
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="timeline"') == 1
    assert "Il mese in sintesi" in html and "4 minuti" in html and "non ancora valutato" in html
    pdf = render_pdf(att, html, strict=True)  # strict: any WeasyPrint warning (an SVG it cannot read) fails
    out = tmp_path / "doc.pdf"
    out.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "pbx-rossi" in text and "interruzione" in text


def test_the_chart_is_the_same_for_the_same_attestation() -> None:
    tl = _timeline([TimelineLane(label="pbx-rossi", spans=[_span(12, 20, 735, "down")])])
    att = build_attestation("en", results=[_sla_result(tl)])
    assert render_html(att) == render_html(att)
