"""SLA-01's month timeline as an inline SVG chart, drawn with ReportLab (no browser, no matplotlib).

One lane per instance across the month, days marked in the period's time zone: up time light
green, outages red, time without data grey, excluded maintenance blue, time not yet judged (after
the as-of instant) left blank with a dashed outline. Colour is never the only signal: every
outage also gets a black marker above its lane, and an outage too short to see at this scale is
still drawn at least `MIN_DOWN_PT` wide.

ReportLab's ``renderSVG`` writes a standalone document (XML declaration, DOCTYPE, a clip path with
the fixed id ``clip``); inline in HTML that id could clash, so the output is parsed and rebuilt as
one ``<svg>`` without it, with an accessible name and the document's own font. The same Timeline
always gives the same string.
"""

from __future__ import annotations

import calendar
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from reportlab.graphics import renderSVG
from reportlab.graphics.shapes import Drawing, Group, Line, Polygon, Rect, String
from reportlab.lib.colors import Color, HexColor

from attest.attestation import Timeline, TimelineLane

SVG_NS = "http://www.w3.org/2000/svg"

WIDTH = 510.0  # points; the chart scales to the text width (170 mm on A4)
LABEL_W = 96.0  # the instance names' column
RIGHT_PAD = 6.0
AXIS_H = 14.0  # day numbers above the lanes
LANE_H = 13.0
LANE_GAP = 7.0  # room for the outage markers above each lane
LEGEND_ROW_H = 12.0
FONT = 7.0
MIN_DOWN_PT = 1.2  # a 4-minute outage is 0.05 pt wide on a 30-day axis: draw it visibly anyway
MAX_LABEL = 20  # characters of an instance name before it is shortened

COLORS: Mapping[str, Color] = {
    "up": HexColor("#a5d6a7"),
    "down": HexColor("#c62828"),
    "unknown": HexColor("#9e9e9e"),
    "excluded": HexColor("#64b5f6"),
    "future": HexColor("#ffffff"),
}
INK = HexColor("#1a1a1a")
GRID = HexColor("#d0d0d0")
FONT_FAMILY = "'DejaVu Sans', Verdana, sans-serif"  # as attestation.css; ReportLab only names Helvetica


def _x(ts: float, t0: float, t1: float) -> float:
    span = t1 - t0
    frac = 0.0 if span <= 0 else min(max((ts - t0) / span, 0.0), 1.0)
    # Hundredths of a point are far below what print or screen can show and keep the SVG short.
    return round(LABEL_W + frac * (WIDTH - LABEL_W - RIGHT_PAD), 2)


def _local_midnights(tl: Timeline) -> list[tuple[int, float]]:
    """(day of month, Unix time of its local midnight) for each day the period holds, in its zone
    (a DST change makes one day 23 or 25 hours long, and the chart shows it so)."""
    tz = ZoneInfo(tl.time_zone)
    first = tl.start.astimezone(tz)
    days = calendar.monthrange(first.year, first.month)[1]
    out = []
    for day in range(1, days + 1):
        ts = datetime(first.year, first.month, day, tzinfo=tz).timestamp()
        if tl.start.timestamp() <= ts < tl.end.timestamp():
            out.append((day, ts))
    return out


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


def _lane(g: Group, lane: TimelineLane, y: float, t0: float, t1: float, measured: float) -> None:
    x_measured = _x(measured, t0, t1)
    g.add(String(2, y + 3.5, _label(lane.label), fontName="Helvetica", fontSize=FONT, fillColor=INK))
    g.add(Rect(LABEL_W, y, x_measured - LABEL_W, LANE_H, fillColor=COLORS["up"], strokeColor=None))
    if x_measured < WIDTH - RIGHT_PAD:
        g.add(Rect(x_measured, y, WIDTH - RIGHT_PAD - x_measured, LANE_H, fillColor=COLORS["future"],
                   strokeColor=GRID, strokeWidth=0.5, strokeDashArray=[2, 2]))
    # Draw down last so that no grey or blue sliver ever covers an outage.
    for state in ("excluded", "unknown", "down"):
        for span in lane.spans:
            if span.state != state:
                continue
            a, b = _x(span.start.timestamp(), t0, t1), _x(span.end.timestamp(), t0, t1)
            if state == "down" and b - a < MIN_DOWN_PT:
                a, b = (a + b) / 2 - MIN_DOWN_PT / 2, (a + b) / 2 + MIN_DOWN_PT / 2
            g.add(Rect(a, y, max(b - a, 0.3), LANE_H, fillColor=COLORS[state], strokeColor=None))
            if state == "down":
                top = y + LANE_H + 0.8
                g.add(Polygon([a - 2.2, top + 4.2, a + 2.2, top + 4.2, a, top], fillColor=INK, strokeColor=None))
    g.add(Rect(LABEL_W, y, WIDTH - RIGHT_PAD - LABEL_W, LANE_H, fillColor=None, strokeColor=INK, strokeWidth=0.4))


def _legend_items(words: Mapping[str, str], show_future: bool) -> list[list[tuple[str, float]]]:
    """The legend's entries (key, x) laid out in rows that fit the width. Text widths are
    estimated (DejaVu Sans averages about 0.6 em), generously, since the browser sets the text."""
    keys = ["up", "down", "unknown", "excluded"] + (["future"] if show_future else [])
    rows: list[list[tuple[str, float]]] = [[]]
    x = 2.0
    for key in keys:
        width = 11 + len(words[key]) * FONT * 0.6 + 12
        if rows[-1] and x + width > WIDTH:
            rows.append([])
            x = 2.0
        rows[-1].append((key, x))
        x += width
    return rows


def _legend(g: Group, words: Mapping[str, str], rows: list[list[tuple[str, float]]]) -> None:
    for i, row in enumerate(reversed(rows)):
        y = 5 + i * LEGEND_ROW_H
        for key, x in row:
            g.add(Rect(x, y, 8, 7, fillColor=COLORS[key], strokeColor=INK, strokeWidth=0.4,
                       strokeDashArray=[1.5, 1.5] if key == "future" else None))
            g.add(String(x + 11, y + 1, words[key], fontName="Helvetica", fontSize=FONT, fillColor=INK))


def _drawing(tl: Timeline, words: Mapping[str, str]) -> Drawing:
    t0, t1 = tl.start.timestamp(), tl.end.timestamp()
    measured = tl.measured_until.timestamp()
    lanes_h = len(tl.lanes) * (LANE_H + LANE_GAP)
    rows = _legend_items(words, measured < t1)
    legend_h = 6 + len(rows) * LEGEND_ROW_H
    height = legend_h + lanes_h + AXIS_H
    d = Drawing(WIDTH, height)
    g = Group()
    top = legend_h + lanes_h
    midnights = _local_midnights(tl)
    for day, ts in midnights:
        x = _x(ts, t0, t1)
        g.add(Line(x, legend_h, x, top + 2, strokeColor=GRID, strokeWidth=0.4))
        # Day numbers every few days (all fit only on a wide screen): the 1st, then multiples of 5.
        if day == 1 or (day % 5 == 0 and day <= len(midnights) - 2) or day == len(midnights):
            g.add(String(x + 1.2, top + 4, str(day), fontName="Helvetica", fontSize=FONT, fillColor=INK))
    for i, lane in enumerate(tl.lanes):
        y = top - (i + 1) * (LANE_H + LANE_GAP) + 1
        _lane(g, lane, y, t0, t1, measured)
    _legend(g, words, rows)
    d.add(g)
    return d


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def timeline_svg(tl: Timeline, words: Mapping[str, str], label: str) -> str:
    """The chart as an inline ``<svg>`` element. *words* names the legend's states (keys up, down,
    unknown, excluded, future) in the document's language; *label* is its accessible name."""
    drawing = _drawing(tl, words)
    raw = renderSVG.drawToString(drawing)
    root = ET.fromstring(raw.encode("utf-8"))  # expat never fetches the DOCTYPE's external DTD
    group = next(el for el in root if _local(el.tag) == "g")
    svg = ET.Element("svg", {
        "xmlns": SVG_NS,
        "class": "timeline",
        "role": "img",
        "aria-label": label,
        "viewBox": f"0 0 {WIDTH:g} {drawing.height:g}",
        "preserveAspectRatio": "xMinYMin meet",
    })
    ET.SubElement(svg, "title").text = label
    del group.attrib["style"]  # the clip-path to the fixed id "clip"
    group.attrib.pop("id", None)
    for el in group.iter():
        el.tag = _local(el.tag)
        if el.tag != "text":
            el.text = None  # ReportLab's indentation
        el.tail = None
        # Inline in HTML a style attribute is read as CSS, where fill, stroke… are unknown
        # properties (WeasyPrint warns about each): SVG presentation attributes say the same.
        for declaration in el.attrib.pop("style", "").split(";"):
            name, _, value = declaration.partition(":")
            if name.strip() and value.strip():
                el.set(name.strip(), value.strip())
        if el.get("font-family") == "Helvetica":
            el.set("font-family", FONT_FAMILY)
    svg.append(group)
    return ET.tostring(svg, encoding="unicode")
