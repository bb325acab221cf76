"""The HTML document: escaped, self-contained, accessible, translated."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from attest.attestation import Attestation, Verdict
from attest.render.html import (
    LANGUAGES,
    PDF_EVIDENCE_LIMIT,
    format_date,
    format_duration,
    format_instant,
    format_int,
    format_period,
    render_html,
    render_template_context,
    stylesheets,
    translations,
    verification_url,
)

from .conftest import DOC_ID, TENANT

VOID = {"meta", "br", "img", "link", "input", "hr", "wbr", "source", "col", "area", "base", "rect"}


class _Outline(HTMLParser):
    """Collects headings, <th> attributes and tag balance problems."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.headings: list[int] = []
        self.th_scopes: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "th":
            self.th_scopes.append(dict(attrs).get("scope"))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # self-closing (<rect/>): nothing to balance

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()


@pytest.fixture(scope="module")
def html_en(att_en: Attestation) -> str:
    return render_html(att_en)


@pytest.fixture(scope="module")
def html_it(att_it: Attestation) -> str:
    return render_html(att_it)


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("<h2", start)
    return html[start : end if end != -1 else len(html)]


def test_tenant_name_is_escaped(html_en: str) -> None:
    assert "Rossi &amp; Figli &lt;S.p.A.&gt;" in html_en
    assert TENANT not in html_en


def test_contains_identity_verdicts_and_qr(html_en: str) -> None:
    assert DOC_ID in html_en
    for word in ("Pass", "Fail", "Not assessed (insufficient evidence)"):
        assert word in html_en
    for symbol in ("✓", "✗", "?"):
        assert symbol in html_en
    assert "<svg" in html_en and 'role="img"' in html_en
    assert "https://attest.nuvolavoce.example/d/" + DOC_ID in html_en
    assert "example//d/" not in html_en  # trailing slash of the configured URL stripped
    assert "DEMO – not trusted" in html_en


def test_not_assessed_section_lists_only_insufficient_evidence(html_en: str) -> None:
    section = _section(html_en, "h-not-assessed")
    assert "SLA-01" in section
    assert "DED-01" not in section and "BK-02" not in section


def test_everything_assessed_sentence(make_attestation: Callable[..., Attestation], att_en: Attestation) -> None:
    assessed = [r for r in att_en.results if r.verdict != Verdict.INSUFFICIENT_EVIDENCE]
    html = render_html(make_attestation(results=assessed))
    assert "Every control listed in this attestation was assessed." in _section(html, "h-not-assessed")


def test_self_contained(html_en: str) -> None:
    assert "<script" not in html_en.lower()
    assert "<link" not in html_en.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)""", html_en, re.I)
    assert not re.search(r"url\(\s*['\"]?(?!#)", html_en), "no CSS url() may reach outside the document"
    assert "<style>" in html_en
    assert '<style media="screen and (max-width: 40rem)">' in html_en  # phone rules, skipped by WeasyPrint


def test_structure_and_accessibility(html_en: str) -> None:
    outline = _Outline()
    outline.feed(html_en)
    outline.close()
    assert outline.problems == []
    assert outline.stack == []
    assert outline.headings.count(1) == 1 and outline.headings[0] == 1
    assert all(b - a <= 1 for a, b in zip(outline.headings, outline.headings[1:], strict=False))
    assert outline.th_scopes and all(scope in {"col", "row"} for scope in outline.th_scopes)
    assert '<html lang="en">' in html_en
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html_en


def test_hashes_short_with_full_value_available(html_en: str, att_en: Attestation) -> None:
    full = att_en.results[0].evidence[0]
    assert f'title="{full}">{full[:16]}<span class="hash-rest visually-hidden">{full[16:]}</span>' in html_en


def test_print_limit_on_evidence(make_attestation: Callable[..., Attestation]) -> None:
    html = render_html(make_attestation(n_evidence=PDF_EVIDENCE_LIMIT + 5))
    assert html.count('class="beyond-print-limit"') == 5
    assert "… and 5 more, listed in full in attestation.json" in html


def test_italian_labels(html_it: str) -> None:
    assert '<html lang="it">' in html_it
    for label in ("Attestazione", "Sintesi", "Superato", "Non superato", "Non valutati", "Come verificare"):
        assert label in html_it
    assert "novembre 2026" in html_it
    assert "Istanza PBX dedicata" in html_it
    assert "Last successful backup" in html_it  # a fact without Italian text falls back to English
    assert "DEMO" not in html_it


def test_injection_through_tenant_name_is_text(make_attestation: Callable[..., Attestation]) -> None:
    evil = '<img src="file:///etc/passwd"><script>alert(1)</script>'
    html = render_html(make_attestation(legal_name=evil))
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html


def test_context_is_ready_for_template(att_en: Attestation) -> None:
    ctx = render_template_context(att_en)
    assert ctx["lang"] == "en"
    assert ctx["overall"].word == "Fail"
    assert [r.control_id for r in ctx["not_assessed"]] == ["SLA-01"]
    assert verification_url(att_en) == f"https://attest.nuvolavoce.example/d/{DOC_ID}"


def test_date_and_number_helpers() -> None:
    moment = datetime(2026, 11, 26, 9, 30, 12, tzinfo=UTC)
    assert format_date(moment, "en") == "26 November 2026"
    assert format_date(moment, "it") == "26 novembre 2026"
    assert format_instant(moment, "en") == "26 November 2026, 09:30:12 UTC"
    assert format_date(datetime(2026, 11, 30, 23, 30), "en") == "30 November 2026"  # naive = UTC
    assert format_period("2026-11", "en") == "November 2026"
    assert format_period("2026-11", "it") == "novembre 2026"
    assert format_period("2026-13", "en") == "2026-13"
    assert format_duration("36h", "en") == "36 hours"
    assert format_duration("1d", "it") == "1 giorno"
    assert format_duration("P1D", "en") == "P1D"
    assert format_int(43200, "en") == "43,200"
    assert format_int(43200, "it") == "43.200"


def _keys(tree: object, prefix: str = "") -> set[str]:
    if isinstance(tree, dict):
        return {k for key, value in tree.items() for k in _keys(value, f"{prefix}{key}.")} | {prefix}
    if isinstance(tree, list):
        return {f"{prefix}[{len(tree)}]"}
    return {prefix}


def test_translations_have_the_same_keys() -> None:
    english = _keys(translations("en"))
    for lang in LANGUAGES:
        assert _keys(translations(lang)) == english, lang


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_meet_wcag_aa() -> None:
    css = stylesheets()[0]
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    pairs = [("ink", None), ("muted", None)] + [(f"{v}-ink", f"{v}-bg") for v in ("pass", "fail", "ie", "na")]
    for fg, bg in pairs:
        ratio = _contrast(colours[fg], colours[bg] if bg else "#ffffff")
        assert ratio >= 4.5, (fg, bg, ratio)
