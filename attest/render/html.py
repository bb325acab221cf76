"""Render an Attestation to one self-contained HTML document (also the input of the PDF).

The template, stylesheet and translations live in the ``templates`` package and are read with
``importlib.resources``, so an installed (non-editable, even zipped) package works. Everything a
template shows is prepared here as plain strings, so the template only lays things out and every
value passes through Jinja's autoescaping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

import yaml
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import Environment, FunctionLoader, StrictUndefined
from markupsafe import Markup

from attest.attestation import Attestation, FactTable, LocalizedText, Result, Timeline, Verdict, overall_verdict
from attest.render.qr import qr_svg
from attest.render.timeline import timeline_svg

TEMPLATE = "attestation.html.j2"
STYLESHEET = "attestation.css"
LANGUAGES = ("en", "it")
FALLBACK_LANGUAGE = "en"
HASH_SHORT = 16  # hex chars shown for a leaf hash: 64 bits, plenty to tell records apart by eye
PDF_EVIDENCE_LIMIT = 12  # hashes listed per result in print; the rest are in attestation.json
# Table rows per fact table in print: WeasyPrint spends ~5 ms and much memory per row
# (reference/rendering.md); the HTML and the JSON carry every row.
PDF_TABLE_ROW_LIMIT = 40
QR_SIZE_MM = 30
PHONE_MARKER = "/* ==== phone ===="
PHONE_MEDIA = "screen and (max-width: 40rem)"

# Symbols repeat the verdict word for a quick scan; they are never the only signal.
SYMBOLS: dict[Verdict, str] = {
    Verdict.PASS: "✓",
    Verdict.FAIL: "✗",
    Verdict.INSUFFICIENT_EVIDENCE: "?",
    Verdict.NOT_APPLICABLE: "–",
    Verdict.WAIVED: "○",
}

_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


# ---------------------------------------------------------------- resources and translations


def _template_file(name: str) -> str:
    return resources.files("templates").joinpath(name).read_text(encoding="utf-8")


@cache
def translations(lang: str, document: str = "") -> dict[str, Any]:
    """The fixed texts for *lang* (unknown languages fall back to English) of the attestation, or
    of another *document* ("fleet", "audit": templates/translations/<document>-<lang>.yaml)."""
    if lang not in LANGUAGES:
        lang = FALLBACK_LANGUAGE
    name = f"translations/{document + '-' if document else ''}{lang}.yaml"
    data = yaml.safe_load(_template_file(name))
    if not isinstance(data, dict):
        raise ValueError(f"{name} is not a mapping")
    return data


@cache
def stylesheets() -> tuple[Markup, Markup]:
    """The stylesheet split at its phone marker: (all media, phones only).

    WeasyPrint 70 cannot parse media features, so the phone rules go in their own
    ``<style media="screen and (max-width: …)">``, which WeasyPrint skips without a warning.
    """
    css = _template_file(STYLESHEET)
    # Inlined verbatim inside <style>: a closing tag in it would end the element early.
    if "</" in css:
        raise ValueError(f"{STYLESHEET} must not contain '</'")
    main, marker, phone = css.partition(PHONE_MARKER)
    if not marker:
        raise ValueError(f"{STYLESHEET} lacks the marker {PHONE_MARKER!r}")
    return Markup(main), Markup(marker + phone)


@cache
def environment() -> Environment:
    # autoescape=True for every template whatever its suffix (".html.j2" is not in Jinja's
    # default list); StrictUndefined turns a misspelt label into an error, not a blank.
    return Environment(
        loader=FunctionLoader(_template_file),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


# ---------------------------------------------------------------- small formatting helpers


def localized(text: LocalizedText, lang: str) -> str:
    """*text* in *lang*, else English, else any language given, else ""."""
    return text.get(lang) or text.get(FALLBACK_LANGUAGE) or next(iter(text.values()), "")


def _utc(moment: datetime) -> datetime:
    # Naive datetimes in an Attestation are UTC by convention (DESIGN §3 rule 10).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# Babel locales for the document languages: British English keeps "26 November 2026".
LOCALES = {"en": "en_GB", "it": "it_IT"}


def _locale(lang: str) -> str:
    return LOCALES.get(lang, LOCALES[FALLBACK_LANGUAGE])


def format_date(moment: datetime, lang: str) -> str:
    """``26 November 2026`` / ``26 novembre 2026`` (the UTC calendar date), by Babel."""
    return babel_dates.format_date(_utc(moment).date(), format="long", locale=_locale(lang))


def format_instant(moment: datetime, lang: str) -> str:
    """``26 November 2026, 09:30:12 UTC``: readable, and exact to the second."""
    return f"{format_date(moment, lang)}, {_utc(moment):%H:%M:%S} UTC"


def format_period(period: str, lang: str) -> str:
    """``2026-11`` → ``November 2026`` / ``novembre 2026``; anything unexpected is shown as given."""
    match = _PERIOD.match(period)
    if not match or not 1 <= int(match[2]) <= 12:
        return period
    return babel_dates.format_skeleton("yMMMM", datetime(int(match[1]), int(match[2]), 1), locale=_locale(lang))


def format_duration(spec: str, lang: str) -> str:
    """Catalog ages such as ``36h`` → ``36 hours`` / ``36 ore``; other forms as given."""
    match = _DURATION.match(spec)
    if not match:
        return spec
    count = int(match[1])
    singular, plural = translations(lang)["units"][match[2]]
    return f"{count} {singular if count == 1 else plural}"


def format_int(number: int, lang: str) -> str:
    """Thousands grouped the local way: ``43,200`` / ``43.200``, by Babel."""
    return babel_numbers.format_decimal(number, locale=_locale(lang))


def w3c_datetime(moment: datetime) -> str:
    """The form WeasyPrint copies into PDF CreationDate/ModDate and XMP."""
    return f"{_utc(moment):%Y-%m-%dT%H:%M:%S}Z"


def verification_url(att: Attestation) -> str:
    """``<provider verification URL>/d/<document id>``, the target of the QR code."""
    return f"{att.provider.verification_url.rstrip('/')}/d/{quote(att.document_id, safe='')}"


# ---------------------------------------------------------------- view models


@dataclass(frozen=True)
class VerdictView:
    word: str
    symbol: str
    css: str


@dataclass(frozen=True)
class HashView:
    full: str
    short: str
    rest: str
    beyond_print_limit: bool


@dataclass(frozen=True)
class RowView:
    cells: list[str]
    beyond_print_limit: bool


@dataclass(frozen=True)
class TableView:
    title: str
    columns: list[str]
    rows: list[RowView]
    hidden_in_print: str  # "… N more rows" note shown in print only


@dataclass(frozen=True)
class ChartView:
    title: str
    svg: Markup
    notes: list[str]  # what the picture cannot say: drawn resolution, period not over yet


@dataclass(frozen=True)
class ResultView:
    anchor: str
    control_id: str
    title: str
    duty: str
    verdict: VerdictView
    reason: str
    facts: list[str]
    evidence: list[HashView]
    hidden_in_print: str  # "… and N more" when the PDF lists only the first hashes
    max_age: str
    tables: list[TableView]
    charts: list[ChartView]
    waiver: str  # the accepted exception behind a waived result, in words; "" when none
    terms: str  # the parameters used, overrides first, with where each came from; "" when none
    mappings: str  # the standards and articles the control maps to; "" when none


@dataclass(frozen=True)
class DutyView:
    """One duty's section of the details: the controls that judge it, in catalog order."""

    anchor: str
    title: str
    results: list[ResultView]


def verdict_view(verdict: Verdict, lang: str) -> VerdictView:
    word = translations(lang)["verdicts"][verdict.value]
    return VerdictView(word=word, symbol=SYMBOLS[verdict], css=f"v-{verdict.value}")


def _hashes(leaves: list[str]) -> list[HashView]:
    return [
        HashView(full=h, short=h[:HASH_SHORT], rest=h[HASH_SHORT:], beyond_print_limit=i >= PDF_EVIDENCE_LIMIT)
        for i, h in enumerate(leaves)
    ]


def table_view(table: FactTable, lang: str) -> TableView:
    hidden = len(table.rows) - PDF_TABLE_ROW_LIMIT
    return TableView(
        title=localized(table.title, lang),
        columns=[localized(c, lang) for c in table.columns],
        rows=[RowView([str(c) for c in row], i >= PDF_TABLE_ROW_LIMIT) for i, row in enumerate(table.rows)],
        hidden_in_print=translations(lang)["labels"]["more_rows"].format(n=hidden) if hidden > 0 else "",
    )


def waiver_text(result: Result, lang: str) -> str:
    w = result.waiver
    if w is None:
        return ""
    t = translations(lang)
    day = datetime(w.expires.year, w.expires.month, w.expires.day, 12, tzinfo=UTC)
    return t["labels"]["waiver_text"].format(
        justification=w.justification if w.justification.endswith((".", "!", "?")) else w.justification + ".",
        approver=w.approver, expires=format_date(day, lang),
        reference=f" ({w.reference})" if w.reference else "",
        scope=t["labels"]["waiver_all"] if w.for_all else "",
        without=t["verdicts"][w.verdict_without.value].lower())


FRAMEWORKS = {"iso27001_2022": "ISO/IEC 27001:2022", "iso27017": "ISO/IEC 27017", "gdpr": "GDPR"}


def terms_text(result: Result, lang: str) -> str:
    words = translations(lang)["labels"]["term_sources"]
    # Overrides first: what was agreed for this customer is what a reader looks for.
    ordered = sorted(result.terms, key=lambda t: (t.source == "catalog", t.name))
    return "; ".join(f"{t.name} = {t.value} ({words[t.source].format(contract=t.contract or '')})"
                     for t in ordered)


def mappings_text(result: Result, lang: str) -> str:
    return " · ".join(f"{FRAMEWORKS.get(k, k)} {', '.join(v)}" for k, v in result.mappings.items() if v)


def chart_view(tl: Timeline, lang: str) -> ChartView:
    words = translations(lang)["timeline"]
    title = localized(tl.title, lang)
    notes = [words["coarse"].format(lane=lane.label, minutes=format_int(lane.resolution_s // 60, lang))
             for lane in tl.lanes if lane.resolution_s]
    if tl.measured_until < tl.end:
        notes.append(words["until"].format(when=format_instant(tl.measured_until, lang)))
    label = words["label"].format(title=title, tz=tl.time_zone)
    return ChartView(title=title, svg=Markup(timeline_svg(tl, words["legend"], label)), notes=notes)


@dataclass(frozen=True)
class DutySummary:
    title: str
    verdict: VerdictView
    text: str  # the duty's verdict in plain words, naming the controls that did not pass


def duty_summaries(att: Attestation, lang: str) -> list[DutySummary]:
    """One line per duty for the first page: met, not met, not assessed… and which controls say so."""
    t = translations(lang)
    names, plain, short = t["duties"], t["duty_verdicts"], t["verdict_short"]
    order = {duty: i for i, duty in enumerate(names)}
    out = []
    for duty in sorted({r.duty for r in att.results}, key=lambda d: (order.get(d, len(order)), d)):
        results = [r for r in att.results if r.duty == duty]
        verdict = overall_verdict(results)
        others = [f"{r.control_id} {short[r.verdict.value]}" for r in results if r.verdict != Verdict.PASS]
        out.append(DutySummary(title=names.get(duty, duty), verdict=verdict_view(verdict, lang),
                               text=plain[verdict.value] + (f" ({', '.join(others)})" if others else "")))
    return out


def duty_views(results: list[ResultView], att: Attestation, lang: str) -> list[DutyView]:
    """The details grouped by duty, duties in the order the translations list them."""
    names = translations(lang)["duties"]
    order = {duty: i for i, duty in enumerate(names)}
    duties = sorted({r.duty for r in att.results}, key=lambda d: (order.get(d, len(order)), d))
    return [DutyView(anchor=f"duty-{d}", title=names.get(d, d),
                     results=[v for v, r in zip(results, att.results, strict=True) if r.duty == d])
            for d in duties]


def result_view(result: Result, index: int, lang: str) -> ResultView:
    t = translations(lang)
    hidden = len(result.evidence) - PDF_EVIDENCE_LIMIT
    return ResultView(
        anchor=f"result-{index}",  # control ids are free text; an index is always a valid id
        control_id=result.control_id,
        title=localized(result.title, lang),
        duty=t["duties"].get(result.duty, result.duty),
        verdict=verdict_view(result.verdict, lang),
        reason=localized(result.reason, lang),
        facts=[localized(fact, lang) for fact in result.facts],
        evidence=_hashes(result.evidence),
        hidden_in_print=t["labels"]["more_evidence"].format(n=hidden) if hidden > 0 else "",
        max_age=format_duration(result.max_evidence_age, lang) if result.max_evidence_age else "",
        tables=[table_view(table, lang) for table in result.tables],
        charts=[chart_view(tl, lang) for tl in result.timelines],
        waiver=waiver_text(result, lang),
        terms=terms_text(result, lang),
        mappings=mappings_text(result, lang),
    )


def render_template_context(att: Attestation) -> dict[str, Any]:
    """Everything the template shows, already translated and formatted for the tenant."""
    lang = att.tenant.language
    t = translations(lang)
    labels = t["labels"]
    period = format_period(att.period, lang)
    as_of = format_instant(att.as_of, lang)
    results = [result_view(r, i, lang) for i, r in enumerate(att.results, start=1)]
    url = verification_url(att)
    unassessed = {id(r) for r in att.not_assessed}
    fill = {"tenant": att.tenant.legal_name, "provider": att.provider.name, "as_of": as_of, "period": period}
    return {
        "att": att,
        "lang": lang,
        "t": labels,
        "css": stylesheets()[0],
        "css_phone": stylesheets()[1],
        "phone_media": PHONE_MEDIA,
        "doc_title": f"{labels['title']} {att.document_id} – {att.tenant.legal_name} – {period}",
        "subject": labels["subject"].format(**fill),
        "created_w3c": w3c_datetime(att.generated_at),
        "period_label": f"{period} ({att.time_zone})",
        "period_bounds": labels["period_bounds"].format(
            start=format_instant(att.period_start, lang),
            end=format_instant(att.period_end, lang),
            tz=att.time_zone,
        ),
        "generated_at": format_instant(att.generated_at, lang),
        "validity": labels["validity"].format(start=format_date(att.generated_at, lang),
                                              end=format_date(att.valid_until, lang)) if att.valid_until else "",
        "as_of": as_of,
        "overall": verdict_view(att.overall, lang),
        "overall_text": t["overall"][att.overall.value],
        "results": results,
        "duties": duty_views(results, att, lang),
        "duty_summaries": duty_summaries(att, lang),
        "not_assessed": [v for v, r in zip(results, att.results, strict=True) if id(r) in unassessed],
        # Duties this document says nothing about: stated, so silence is never read as a pass.
        "not_covered": labels["not_covered"].format(duties=", ".join(
            t["duties"][d] for d in t["duties"] if d not in {r.duty for r in att.results})),
        "denominator": labels["denominator"].format(
            days=format_int(round((att.period_end - att.period_start).total_seconds() / 86400), lang),
            minutes=format_int(int((att.period_end - att.period_start).total_seconds() // 60), lang)),
        "proves": [item.format(**fill) for item in labels["proves_items"]],
        "not_proves": [item.format(**fill) for item in labels["not_proves_items"]],
        "verify_url": url,
        "verify_portal": labels["verify_portal"].format(url=url),
        "qr": Markup(qr_svg(url, QR_SIZE_MM, label=f"QR: {url}")),
        "tree_size": format_int(att.checkpoint.tree_size, lang),
        "checkpoint_signed_at": format_instant(att.checkpoint.signed_at, lang),
        "tool_line": labels["tool"].format(version=att.tool_version),
    }


def render_html(att: Attestation) -> str:
    """The attestation as one self-contained HTML document (inline CSS and SVG, no script)."""
    return environment().get_template(TEMPLATE).render(render_template_context(att))
