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
