"""Each result shows the terms it was judged with (overrides first, with their origin) and the
standards it maps to, in the tenant's language."""

from __future__ import annotations

from attest.attestation import Term
from attest.render.html import render_html
from tests.render.conftest import build_attestation


def _att(lang: str):  # type: ignore[no-untyped-def]
    base = build_attestation().results
    bk = base[1].model_copy(update={
        "terms": [Term(name="max_failed_runs", value="0", source="catalog"),
                  Term(name="rpo_hours", value="12", source="contract", contract="premium")],
        "mappings": {"iso27001_2022": ["A.8.13"], "iso27017": ["12.3.1"], "gdpr": ["Art. 32(1)(c)"]}})
    return build_attestation(lang, results=[base[0], bk, base[2]])  # type: ignore[arg-type]


def test_terms_overrides_first_and_mappings_in_english() -> None:
    html = render_html(_att("en"))
    assert "Terms applied" in html and "Maps to" in html
    assert "rpo_hours = 12 (contract premium); max_failed_runs = 0 (catalog default)" in html
    assert "ISO/IEC 27001:2022 A.8.13 · ISO/IEC 27017 12.3.1 · GDPR Art. 32(1)(c)" in html


def test_terms_in_italian() -> None:
    html = render_html(_att("it"))
    assert "Parametri applicati" in html and "rpo_hours = 12 (contratto premium)" in html
    assert "(valore di catalogo)" in html and "Corrisponde a" in html


def test_validity_dates_in_the_tenants_locale() -> None:
    from datetime import UTC, datetime

    att = build_attestation("it").model_copy(update={"valid_until": datetime(2027, 1, 14, 23, tzinfo=UTC)})
    html = render_html(att)
    assert "Validità" in html and "dal 26 novembre 2026 al 14 gennaio 2027, salvo sostituzione o revoca" in html
    en = render_html(build_attestation("en").model_copy(update={"valid_until": datetime(2027, 1, 14, 23, tzinfo=UTC)}))
    assert "from 26 November 2026 until 14 January 2027, unless replaced or revoked" in en
    assert "Valid</dt>" not in render_html(build_attestation("en"))  # older documents stated none


def test_numbers_and_months_follow_the_locale() -> None:
    it = render_html(build_attestation("it"))
    assert "novembre 2026" in it and "43.200 minuti" in it
    en = render_html(build_attestation("en"))
    assert "November 2026" in en and "43,200 minutes" in en


def test_the_first_page_says_each_areas_result_in_plain_words() -> None:
    en = render_html(build_attestation("en"))
    assert "<strong>Backups</strong>" in en and "not met (BK-02 failed)" in en
    assert "could not be assessed (SLA-01 not assessed)" in en
    it = render_html(build_attestation("it"))
    assert "non rispettato (BK-02 non superato)" in it and ">rispettato</span>" in it
