"""The QR code SVG: deterministic, accessible, and module-for-module the encoder's matrix."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reportlab.graphics.barcode import qrencoder

from attest.render.qr import ERROR_LEVEL, QUIET_ZONE, qr_svg

URL = "https://attest.nuvolavoce.example/d/AT-7K3M9QX2D4F8HJ6TNV1R"
NS = "{http://www.w3.org/2000/svg}"


def _grid_from_svg(svg: str) -> list[list[bool]]:
    """Read the dark modules back out of the SVG (undoing ReportLab's y-up flip)."""
    root = ET.fromstring(svg)
    side = int(root.get("viewBox", "").split()[2])
    grid = [[False] * side for _ in range(side)]
    group = root.find(f"{NS}g")
    assert group is not None
    for rect in group.iter(f"{NS}rect"):
        x, y, w, h = (int(rect.get(k, "")) for k in ("x", "y", "width", "height"))
        assert h == 1
        row = side - 1 - y
        for col in range(x, x + w):
            grid[row][col] = True
    return grid


def _expected_grid(data: str) -> list[list[bool]]:
    qr = qrencoder.QRCode(None, getattr(qrencoder.QRErrorCorrectLevel, ERROR_LEVEL))
    qr.addData(data)
    qr.make()
    count = qr.getModuleCount()
    side = count + 2 * QUIET_ZONE
    grid = [[False] * side for _ in range(side)]
    for r in range(count):
        for c in range(count):
            grid[r + QUIET_ZONE][c + QUIET_ZONE] = bool(qr.isDark(r, c))
    return grid


def test_svg_is_inline_and_accessible() -> None:
    svg = qr_svg(URL)
    assert svg.startswith("<svg ")
    assert "<?xml" not in svg and "DOCTYPE" not in svg
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == URL
    assert root.get("width") == "30mm" and root.get("height") == "30mm"
    assert ' id="' not in svg, "ids would clash when several SVGs are inlined"


def test_svg_holds_exactly_the_encoders_modules() -> None:
    grid = _grid_from_svg(qr_svg(URL))
    assert grid == _expected_grid(URL)
    # Top-left finder pattern: a dark 7×7 ring right after the quiet zone.
    q = QUIET_ZONE
    assert all(grid[q][q + i] and grid[q + 6][q + i] and grid[q + i][q] for i in range(7))
    assert not grid[q + 1][q + 1]


def test_deterministic_and_data_dependent() -> None:
    assert qr_svg(URL) == qr_svg(URL)
    assert qr_svg(URL) != qr_svg(URL + "X")
    assert qr_svg(URL, size_mm=20) != qr_svg(URL)
    assert 'width="20mm"' in qr_svg(URL, size_mm=20)


def test_label_is_escaped() -> None:
    svg = qr_svg("x", label='<script>"&')
    root = ET.fromstring(svg)  # still well-formed
    assert root.get("aria-label") == '<script>"&'
    assert "<script>" not in svg
