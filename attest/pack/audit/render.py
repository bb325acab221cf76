"""The audit report as one self-contained HTML document and as PDF/A-3b (WeasyPrint), in the
tenant's language, with the same machinery as the attestation (attest/render/): the data-only URL
fetcher, captured WeasyPrint warnings, the Producer finisher that keeps PDF/A metadata consistent
after signing. The PDF attaches the attestation the report rests on (``attestation.json``, which
`attest verify` checks: checkpoint signature and inclusion proofs) and the report's own JSON."""

from __future__ import annotations

from typing import Any

from weasyprint import HTML, Attachment
from weasyprint.urls import FatalURLFetchingError

from attest.attestation import Attestation, Verdict
from attest.pack.audit.model import AuditReport
from attest.render.html import (
    SYMBOLS,
    environment,
    format_date,
    format_instant,
    format_period,
    localized,
    stylesheets,
    translations,
    w3c_datetime,
)
from attest.render.pdf import (
    PDF_VARIANT,
    RenderError,
    _attachment,
    _captured_warnings,
    _finisher,
    _report,
    _utc_naive,
    data_only_fetcher,
)
from attest.signing import PDF_PRODUCER

TEMPLATE = "audit.html.j2"
REPORT_ATTACHMENT = "audit-report.json"


def audit_translations(lang: str) -> dict[str, Any]:
    return translations(lang, "audit")


def _records(indexes: list[int]) -> str:
    return ", ".join(str(n) for n in indexes) or "—"


def context(report: AuditReport) -> dict[str, Any]:
    c = report.content
    lang = c.tenant.language
    t = audit_translations(lang)
    words = {**translations(lang)["verdicts"], **t["extra_verdicts"]}

    def verdict(value: str) -> dict[str, str]:
        symbol = SYMBOLS[Verdict(value)] if value in Verdict.__members__.values() else "?"
        return {"word": words.get(value, value), "symbol": symbol, "css": f"v-{value}"}

    period = format_period(c.period, lang)
    fill = {"tenant": c.tenant.legal_name, "period": period, "document": c.document_id}
    measures = [{"ref": m.ref, "title": localized(m.title, lang), "outcome": t["outcomes"][m.outcome],
                 "css": f"v-{m.outcome}",
                 "controls": [{"control_id": x.control_id, "title": localized(x.title, lang),
                               "verdict": words.get(x.verdict, x.verdict), "css": f"v-{x.verdict}",
                               "records": _records(x.records)} for x in m.controls]} for m in c.art32]
    checklist = [{"point": i.point, "title": localized(i.title, lang), "status": t["statuses"][i.status],
                  "text": localized(i.text, lang), "controls": ", ".join(i.controls), "records": _records(i.records)}
                 for i in c.art28]
    yes_no = {True: t["word_yes"], False: t["word_no"]}
    uses = [{"role": t["roles"][u.role], "site": f"{u.name} ({u.kind})", "country": u.country,
             "eu": yes_no[u.eu_eea], "detail": u.detail, "records": _records(u.records)} for u in c.location.uses]
    subs = [{"operator": s.operator, "address": s.address, "country": s.country, "eu": yes_no[s.eu_eea],
             "sites": ", ".join(s.sites),
             "certs": [t["cert_line"].format(**x.model_dump()) for x in s.certifications] or [t["none"]]}
            for s in c.subprocessors]
    history = [{"period": format_period(h.period, lang), "document_id": h.document_id, "state": t["states"][h.state],
                "note": h.note, "cells": [verdict(h.verdicts[cid]) if cid in h.verdicts else None
                                          for cid in c.controls]} for h in c.history]
    legend = " · ".join(f"{SYMBOLS[v]} {words[v.value]}" for v in Verdict)
    return {
        "c": c, "lang": lang, "t": t, "css": stylesheets()[0],
        "doc_title": f"{t['title']} {report.report_id} – {c.tenant.legal_name} – {period}",
        "subject": t["subject"].format(**fill),
        "created_w3c": w3c_datetime(report.issued_at),
        "period": f"{period} ({c.period})",
        "report_id": report.report_id,
        "issued_at": format_instant(report.issued_at, lang),
        "rests_on": t["rests_on_text"].format(document=c.document_id,
                                              generated=format_date(c.evidence_generated_at, lang),
                                              tree_size=c.checkpoint["tree_size"], root=c.checkpoint["root_hash"]),
        "measures": measures, "checklist": checklist, "uses": uses,
        "location_status": t["location_status"].format(status=t["statuses"][c.location.status]),
        "config_record": (t["config_record"].format(n=c.location.config_record)
                          if c.location.config_record is not None else ""),
        "gaps": [localized(g, lang) for g in c.location.gaps],
        "subprocessors": subs, "history": history, "controls": c.controls, "legend": legend,
    }


def render_audit_html(report: AuditReport) -> str:
    return environment().get_template(TEMPLATE).render(context(report))


def render_audit_pdf(report: AuditReport, html: str, att: Attestation) -> bytes:
    """Unsigned PDF/A-3b of *html*, with the attestation and the report's JSON attached; dates come
    from the report's issue time, so the PDF says when the report was made, not when it was laid out."""
    fetcher = data_only_fetcher()
    stamp = _utc_naive(report.issued_at)
    own = Attachment(string=report.to_json_bytes(), name=REPORT_ATTACHMENT,
                     description="Audit report data, canonical JSON (RFC 8785)", relationship="Data",
                     created=stamp, modified=stamp, url_fetcher=fetcher)
    options: dict[str, Any] = {"pdf_variant": PDF_VARIANT}
    with _captured_warnings() as records:
        try:
            document = HTML(string=html, url_fetcher=fetcher).render(**options)
            pdf = document.write_pdf(finisher=_finisher(PDF_PRODUCER), attachments=[_attachment(att, fetcher), own],
                                     **options)
        except FatalURLFetchingError as exc:
            raise RenderError(f"refused to fetch an external resource: {exc}") from exc
    _report(records, strict=False)
    if not isinstance(pdf, bytes):
        raise RenderError("WeasyPrint returned no PDF bytes")
    return pdf
