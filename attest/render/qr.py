"""QR codes as inline SVG, drawn with ReportLab (no image files, nothing fetched).

ReportLab's ``renderSVG`` writes a standalone SVG document: an XML declaration, a DOCTYPE, a
full-size clip path with the fixed id ``clip`` and a verbose ``style`` on every module. Inline
in HTML those ids could clash and the styles make the code ~60 KB, so the output is parsed and
reduced to plain ``<rect>`` modules under one filled group. The drawing is made exactly
``modules + 2 × quiet zone`` points wide, so every coordinate is a whole module number and the
code stays crisp at any ``size_mm``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reportlab.graphics import renderSVG
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing

SVG_NS = "http://www.w3.org/2000/svg"
QUIET_ZONE = 4  # modules of white border the QR standard asks for
ERROR_LEVEL = "M"  # 15 % recovery: survives a smudged printout, still a small code for a URL


def qr_svg(data: str, size_mm: float = 30, label: str | None = None) -> str:
    """An inline ``<svg>`` QR code encoding *data*, *size_mm* millimetres square.

    *label* is the accessible name (``aria-label`` and ``<title>``); it defaults to the data.
    The same input always gives the same string.
    """
    widget = QrCodeWidget(data, barLevel=ERROR_LEVEL, barBorder=QUIET_ZONE)
    # A version-v QR code is 4v + 17 modules wide. Asking the encoder for the version is cheap;
    # calling make() here would run its costly mask selection a second time (draw() runs it).
    side = widget.qr.calculate_version() * 4 + 17 + 2 * QUIET_ZONE
    widget.barWidth = widget.barHeight = side  # one point per module: integer coordinates
    drawing = Drawing(side, side)
    drawing.add(widget)
    raw = renderSVG.drawToString(drawing)
    return _compact(raw, side, size_mm, label if label is not None else data)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _is_dark(rect: ET.Element) -> bool:
    # ReportLab marks the background rect "fill: none" and modules with the bar colour (black).
    return "fill: none" not in rect.get("style", "") and rect.get("width") is not None


def _compact(raw: str, side: int, size_mm: float, label: str) -> str:
    """Rebuild ReportLab's SVG as a small inline element keeping only the dark modules."""
    root = ET.fromstring(raw.encode("utf-8"))  # expat never fetches the DOCTYPE's external DTD
    group = next(el for el in root.iter() if _local(el.tag) == "g" and el.get("transform", "").startswith("scale"))
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "class": "qr",
            "role": "img",
            "aria-label": label,
            "width": f"{size_mm:g}mm",
            "height": f"{size_mm:g}mm",
            "viewBox": f"0 0 {side} {side}",
            "shape-rendering": "crispEdges",
        },
    )
    ET.SubElement(svg, "title").text = label
    # White quiet zone drawn explicitly so the code scans on a tinted or dark background too.
    ET.SubElement(svg, "rect", {"width": str(side), "height": str(side), "fill": "#fff"})
    # ReportLab draws with y pointing up; keep its flip but with the exact (not rounded) height.
    modules = ET.SubElement(svg, "g", {"fill": "#000", "transform": f"matrix(1 0 0 -1 0 {side})"})
    for rect in group.iter():
        if _local(rect.tag) == "rect" and _is_dark(rect):
            attrs = {k: _whole(rect.get(k, "0")) for k in ("x", "y", "width", "height")}
            ET.SubElement(modules, "rect", attrs)
    return ET.tostring(svg, encoding="unicode")


def _whole(number: str) -> str:
    """ReportLab prints floats ("12.0"); the geometry is integral, so print integers."""
    return str(round(float(number)))
