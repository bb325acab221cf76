"""Render a FleetAttestation: one HTML document (templates/fleet.html.j2) and a PDF/A-3b with the
fleet JSON attached, laid out from the same template.

The stylesheet, Jinja environment, date and number formatting and the PDF finishing steps are
the attestation's (attest/render/), so both kinds of document look and verify alike. The fixed
texts are in templates/translations/fleet-<lang>.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from time import perf_counter
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from weasyprint import HTML, Attachment
from weasyprint.urls import FatalURLFetchingError

from attest.fleet.model import FleetAttestation, FleetFigure, VerdictCounts
from attest.render import pdf as attestation_pdf
from attest.render.html import (
    PHONE_MEDIA,
    QR_SIZE_MM,
    environment,
    format_date,
    format_instant,
    format_int,
    format_period,
    localized,
    stylesheets,
    translations,
    w3c_datetime,
)
from attest.render.qr import qr_svg

TEMPLATE = "fleet.html.j2"
# Exception rows in print: WeasyPrint spends ~5 ms and much memory per table row
# (reference/rendering.md); the HTML and the attached JSON list every exception.
PDF_EXCEPTION_LIMIT = 60
# The attachment keeps the attestation's name, so `attest verify` finds the signed data the same way.
ATTACHMENT_NAME = attestation_pdf.ATTACHMENT_NAME


def fleet_translations(lang: str) -> dict[str, Any]:
    return translations(lang, "fleet")


def _pct(n: int, d: int, lang: str) -> str:
    if d == 0:
        return "—"
    share = n / d * 100
    text = f"{share:.1f}".replace(".", "," if lang == "it" else ".")
    return f"{text} %"


def _num(value: float | None, lang: str, decimals: int = 3, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:.{decimals}f}"
    return (text.replace(".", ",") if lang == "it" else text) + unit


@dataclass(frozen=True)
class FigureView:
    title: str
    controls: str
    tenants: str  # "10 of 12 (83.3 %)" passed
    tenants_rest: str  # the other verdicts' counts
    instances: str
    instances_rest: str


@dataclass(frozen=True)
class BucketView:
    label: str
    value: str


@dataclass(frozen=True)
class ExceptionView:
    tenant: str
    control: str
    verdict: str
    css: str
    reason: str


def _fraction(counts: VerdictCounts, n: int, lang: str) -> str:
    labels = fleet_translations(lang)["labels"]
    return labels["fraction"].format(n=format_int(n, lang), d=format_int(counts.denominator, lang),
                                     pct=_pct(n, counts.denominator, lang))


def _rest(counts: VerdictCounts, lang: str) -> str:
    words = fleet_translations(lang)["labels"]["rest"]
    return words.format(failed=format_int(counts.failed, lang),
                        insufficient=format_int(counts.insufficient_evidence, lang),
                        waived=format_int(counts.waived, lang), na=format_int(counts.not_applicable, lang))


def figure_view(fig: FleetFigure, lang: str) -> FigureView:
    t, i = fig.tenants, fig.instances
    return FigureView(
        title=localized(fig.title, lang), controls=", ".join(fig.controls),
        tenants=_fraction(t, t.passed, lang), tenants_rest=_rest(t, lang),
        instances=_fraction(i, i.passed, lang), instances_rest=_rest(i, lang))


def verification_url(doc: FleetAttestation) -> str:
    return f"{doc.provider.verification_url.rstrip('/')}/d/{quote(doc.document_id, safe='')}"


def fleet_context(doc: FleetAttestation, lang: str, for_print: bool = False) -> dict[str, Any]:
    """Everything the template shows, translated and formatted; *for_print* caps the exceptions."""
    tr = fleet_translations(lang)
    labels, verdicts = tr["labels"], tr["verdicts"]
    period = format_period(doc.period, lang)
    as_of = format_instant(doc.as_of, lang)
    dist = doc.availability
    shown = doc.exceptions[:PDF_EXCEPTION_LIMIT] if for_print else doc.exceptions
    hidden = len(doc.exceptions) - len(shown)
    seconds = (doc.period_end - doc.period_start).total_seconds()
    url = verification_url(doc)
    fill = {"provider": doc.provider.name, "period": period, "as_of": as_of}
    counts = {"tenants": format_int(doc.tenant_count, lang), "instances": format_int(doc.instance_count, lang)}
    return {
        "doc": doc,
        "lang": lang,
        "t": labels,
        "css": stylesheets()[0],
        "css_phone": stylesheets()[1],
        "phone_media": PHONE_MEDIA,
        "doc_title": f"{labels['title']} {doc.document_id} – {doc.provider.name} – {period}",
        "created_w3c": w3c_datetime(doc.generated_at),
        "period_label": f"{period} ({doc.time_zone})",
        "period_bounds": labels["period_bounds"].format(start=format_instant(doc.period_start, lang),
                                                        end=format_instant(doc.period_end, lang), tz=doc.time_zone),
        "denominator": labels["denominator"].format(days=format_int(round(seconds / 86400), lang),
                                                    minutes=format_int(int(seconds // 60), lang)),
        "generated_at": format_instant(doc.generated_at, lang),
        "as_of": as_of,
        "validity": labels["validity"].format(start=format_date(doc.generated_at, lang),
                                              end=format_date(doc.valid_until, lang)) if doc.valid_until else "",
        "summary": labels["summary_text"].format(period=period, **counts),
        "figures": [figure_view(f, lang) for f in doc.figures],
        "how_counted": [item.format(**counts) for item in labels["how_counted_items"]],
        "availability_intro": labels["availability_intro"].format(with_target=format_int(dist.with_target, lang),
                                                                  measured=format_int(dist.measured, lang)),
        "buckets": [BucketView(labels["buckets"][b.key], _fraction_plain(b.count, dist.with_target, lang))
                    for b in dist.buckets] if dist.with_target else [],
        "min_median": labels["min_median"].format(
            measured=format_int(dist.measured, lang), min=_num(dist.min_availability, lang, unit=" %"),
            median=_num(dist.median_availability, lang, unit=" %"), min_margin=_num(dist.min_margin_pp, lang),
            median_margin=_num(dist.median_margin_pp, lang)) if dist.measured else labels["none_measured"],
        "without_sla": labels["without_sla"].format(n=format_int(dist.tenants_without_sla_instances, lang),
                                                    tenants=counts["tenants"])
        if dist.tenants_without_sla_instances else "",
        "exceptions": [ExceptionView(tenant=e.tenant, control=e.control_id, verdict=verdicts[e.verdict.value],
                                     css=f"v-{e.verdict.value}", reason=localized(e.reason, lang)) for e in shown],
        "more_exceptions": labels["more_rows"].format(n=format_int(hidden, lang)) if hidden > 0 else "",
        "proves": [item.format(**fill) for item in labels["proves_items"]],
        "not_proves": [item.format(**fill) for item in labels["not_proves_items"]],
        "verify_url": url,
        "verify_portal": labels["verify_portal"].format(url=url),
        "qr": Markup(qr_svg(url, QR_SIZE_MM, label=f"QR: {url}")),
        "tree_size": format_int(doc.checkpoint.tree_size, lang),
        "checkpoint_signed_at": format_instant(doc.checkpoint.signed_at, lang),
        "tool_line": labels["tool"].format(version=doc.tool_version),
    }


def _fraction_plain(n: int, d: int, lang: str) -> str:
    labels = fleet_translations(lang)["labels"]
    return labels["fraction"].format(n=format_int(n, lang), d=format_int(d, lang), pct=_pct(n, d, lang))


def render_fleet_html(doc: FleetAttestation, lang: str = "en", for_print: bool = False) -> str:
    """The fleet attestation as one self-contained HTML document (inline CSS and SVG, no script)."""
    return environment().get_template(TEMPLATE).render(fleet_context(doc, lang, for_print))


def render_fleet_pdf(doc: FleetAttestation, lang: str = "en", *, producer: str = attestation_pdf.DEFAULT_PRODUCER,
                     strict: bool = False) -> bytes:
    """PDF/A-3b with the fleet JSON attached as attestation.json, laid out from the print HTML
    (exceptions capped at PDF_EXCEPTION_LIMIT rows)."""
    source = render_fleet_html(doc, lang, for_print=True)
    fetcher = attestation_pdf.data_only_fetcher()
    options: dict[str, Any] = {"pdf_variant": attestation_pdf.PDF_VARIANT}
    stamp = doc.generated_at.astimezone(UTC).replace(tzinfo=None)  # WeasyPrint writes a literal "Z"
    attachment = Attachment(string=doc.to_json_bytes(), name=ATTACHMENT_NAME, relationship="Data",
                            description="Provider-wide attestation data, canonical JSON (RFC 8785)",
                            created=stamp, modified=stamp, url_fetcher=fetcher)
    with attestation_pdf._captured_warnings() as records:
        try:
            started = perf_counter()
            document = HTML(string=source, url_fetcher=fetcher).render(**options)
            laid_out = perf_counter()
            pdf = document.write_pdf(finisher=attestation_pdf._finisher(producer), attachments=[attachment],
                                     **options)
            written = perf_counter()
        except FatalURLFetchingError as exc:  # a BaseException: keep it from escaping as one
            raise attestation_pdf.RenderError(f"refused to fetch an external resource: {exc}") from exc
    attestation_pdf.stats.add(laid_out - started, written - laid_out, len(records))
    attestation_pdf._report(records, strict)
    if not isinstance(pdf, bytes):
        raise attestation_pdf.RenderError("WeasyPrint returned no PDF bytes")
    return pdf
