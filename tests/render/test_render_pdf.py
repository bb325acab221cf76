"""The PDF/A-3b document: metadata, attachment, fonts, text, determinism, safety."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest

from attest.attestation import Attestation
from attest.render.html import render_html
from attest.render.pdf import ATTACHMENT_NAME, RenderError, data_only_fetcher, render_pdf, stats
from attest.signing import PDF_PRODUCER, ProviderSigner

PRODUCER = PDF_PRODUCER  # what the signer passes ("pyHanko x.y.z"), so Info and XMP agree after signing


@pytest.fixture(scope="module")
def pdf_en(att_en: Attestation) -> bytes:
    return render_pdf(att_en, producer=PRODUCER, strict=True)


@pytest.fixture(scope="module")
def pdf_it(att_it: Attestation) -> bytes:
    return render_pdf(att_it, strict=True)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} (poppler-utils) is not installed")
    return path


def _pdftotext(pdf: bytes) -> str:
    out = subprocess.run([_tool("pdftotext"), "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def test_pdfa_3b_identification(pdf_en: bytes) -> None:
    assert pdf_en.startswith(b"%PDF-1.7")
    with pikepdf.open(io.BytesIO(pdf_en)) as pdf:
        meta = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        assert meta["pdfaid:part"] == "3"
        assert meta["pdfaid:conformance"] == "B"
        assert str(pdf.Root.OutputIntents[0].S) == "/GTS_PDFA1"
        assert str(pdf.Root.Lang) == "en"
        assert "/ID" in pdf.trailer


def test_info_and_xmp_agree(pdf_en: bytes, att_en: Attestation) -> None:
    with pikepdf.open(io.BytesIO(pdf_en)) as pdf:
        meta = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        info = pdf.docinfo
        assert str(info.Producer) == meta["pdf:Producer"] == PRODUCER
        assert str(info.Title) == meta["dc:title"]
        assert att_en.document_id in str(info.Title)
        assert str(info.Author) == att_en.provider.name
        assert att_en.tenant.legal_name in str(info.Subject)
        assert str(info.CreationDate) == "D:20261126093012Z"
        assert meta["xmp:CreateDate"] == "2026-11-26T09:30:12Z"


def test_attachment_is_the_attestation_json(pdf_en: bytes, att_en: Attestation) -> None:
    with pikepdf.open(io.BytesIO(pdf_en)) as pdf:
        spec = pdf.attachments[ATTACHMENT_NAME]
        embedded = spec.get_file()
        assert embedded.read_bytes() == att_en.to_json_bytes()
        assert embedded.mime_type == "application/json"
        assert str(spec.obj.AFRelationship) == "/Data"
        assert str(embedded.obj.Params.CreationDate) == "D:20261126093012Z"
        assert len(pdf.Root.AF) == 1, "WeasyPrint 70 lists the file twice; the finisher dedupes it"
    assert Attestation.from_json_bytes(att_en.to_json_bytes()) == att_en


def test_all_fonts_embedded(pdf_en: bytes, tmp_path: Path) -> None:
    target = tmp_path / "doc.pdf"
    target.write_bytes(pdf_en)
    out = subprocess.run([_tool("pdffonts"), str(target)], capture_output=True, text=True, check=True).stdout
    rows = out.splitlines()[2:]
    assert rows, out
    for row in rows:
        emb, sub = row.split()[-5:-3]  # columns end with: emb sub uni object-number generation
        assert (emb, sub) == ("yes", "yes"), row


def test_page_text(pdf_en: bytes, att_en: Attestation) -> None:
    text = _pdftotext(pdf_en)
    assert att_en.document_id in text
    for word in ("Pass", "Fail", "Not assessed"):
        assert word in text
    assert "Page 1 of" in text
    assert "DEMO – not trusted" in text
    assert "Rossi & Figli <S.p.A.>" in text
    assert "SLA-01" in text


def test_italian_page_text(pdf_it: bytes) -> None:
    text = _pdftotext(pdf_it)
    assert "Pagina 1 di" in text
    assert "Superato" in text and "Non superato" in text
    assert "DEMO" not in text


def test_byte_reproducible(pdf_en: bytes, att_en: Attestation) -> None:
    assert render_pdf(att_en, producer=PRODUCER) == pdf_en
    assert render_pdf(att_en, render_html(att_en), producer=PRODUCER) == pdf_en


def test_strict_raises_on_weasyprint_warning(att_en: Attestation) -> None:
    html = render_html(att_en).replace("<style>", "<style>\np { colour: red; }\n", 1)
    with pytest.raises(RenderError, match="colour"):
        render_pdf(att_en, html, strict=True)


def test_warnings_are_surfaced_when_not_strict(att_en: Attestation, caplog: pytest.LogCaptureFixture) -> None:
    html = render_html(att_en).replace("<style>", "<style>\np { colour: red; }\n", 1)
    before = stats.warnings
    with caplog.at_level(logging.WARNING, logger="attest.render.pdf"):
        assert render_pdf(att_en, html).startswith(b"%PDF")
    assert any("colour" in record.getMessage() for record in caplog.records if record.name == "attest.render.pdf")
    assert stats.warnings > before


def test_injection_through_tenant_name_stays_text(make_attestation: Callable[..., Attestation]) -> None:
    evil = '<img src="file:///etc/passwd">'
    pdf = render_pdf(make_attestation(legal_name=evil), strict=True)
    assert evil in _pdftotext(pdf)


def test_non_data_urls_are_refused(att_en: Attestation) -> None:
    fetcher = data_only_fetcher()
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.png", "https://example.com/x.css"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher.fetch(url)
    assert fetcher.fetch("data:text/plain,ok").read() == b"ok"
    # Raw HTML that reaches for a file aborts the render (it never gets silently embedded).
    with pytest.raises(RenderError, match="external resource"):
        render_pdf(att_en, '<html><body><img src="file:///etc/passwd"></body></html>')


def test_stats_split_layout_and_write(att_en: Attestation) -> None:
    before = (stats.documents, stats.layout_s, stats.write_s)
    render_pdf(att_en)
    assert stats.documents == before[0] + 1
    assert stats.layout_s > before[1] and stats.write_s > before[2]
    assert 0 < stats.layout_share < 1


def test_first_page_renders_to_png(pdf_en: bytes, tmp_path: Path) -> None:
    """Produces /tmp/.../page-1.png for a human look at the layout (kept by pytest's tmp_path)."""
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf_en)
    subprocess.run(
        [_tool("pdftoppm"), "-r", "60", "-png", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")],
        check=True,
    )
    pngs = list(tmp_path.glob("page-*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 10_000


def test_still_pdfa_after_signing(pdf_en: bytes, att_en: Attestation, signer: ProviderSigner) -> None:
    """The signer appends a revision; Producer, PDF/A id and the attachment must survive it."""
    signed = signer.sign_pdf(pdf_en)
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        meta = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        assert str(pdf.docinfo.Producer) == meta["pdf:Producer"] == PRODUCER
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("3", "B")
        assert pdf.attachments[ATTACHMENT_NAME].get_file().read_bytes() == att_en.to_json_bytes()
