"""Shared fixtures for signing/verification tests: one demo PKI, one PDF/A-3b, one signed copy.

Session-scoped because each piece costs tens of milliseconds (pyHanko's first import ~0.4 s);
tests copy the bytes they tamper with, never the shared files.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from attest.pki import DemoPki, create_demo_pki
from attest.signing import PDF_PRODUCER, ProviderSigner

PASSWORD = b"correct horse battery staple"
# A stand-in attachment: not an attestation (its schema differs), so `attest verify` checks the
# PDF's signature mechanics here, not evidence proofs (tests/cli covers those on real documents).
ATTESTATION = {"document_id": "AT-7K3M9QX2D4F8HJ6TNV1R", "schema": "attest.test-stub/v1", "overall": "pass"}
ATTESTATION_BYTES = json.dumps(ATTESTATION, sort_keys=True, separators=(",", ":")).encode()

HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Attestation</title></head>
<body><h1>Attestation AT-7K3M9QX2D4F8HJ6TNV1R</h1>
<p>Voce Cloud S.r.l. attests that the PBX of ACME S.p.A. was run as agreed in 2026-10.</p>
<p><a href="https://attest.example.com/d/AT-7K3M9QX2D4F8HJ6TNV1R">Verify</a></p></body></html>"""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def render_pdf(attachment: bytes | None = ATTESTATION_BYTES, producer: str | None = PDF_PRODUCER) -> bytes:
    """A one-page PDF/A-3b the way the renderer makes it: JSON attached as Data, only data: URLs,
    Info /Producer set for signing. WeasyPrint warnings (hidden by default) fail the test."""
    import pydyf
    import weasyprint
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"})
    attachments = []
    if attachment is not None:
        attachments.append(
            weasyprint.Attachment(
                string=attachment.decode(), name="attestation.json", relationship="Data", url_fetcher=fetcher
            )
        )

    def finisher(_document: object, pdf: pydyf.PDF) -> None:
        if producer is not None:
            pdf.info["Producer"] = pydyf.String(producer)

    handler = _Collect()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        data: bytes = weasyprint.HTML(string=HTML, url_fetcher=fetcher).write_pdf(
            pdf_variant="pdf/a-3b", attachments=attachments, finisher=finisher
        )
    finally:
        logger.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]
    return data


@dataclass(frozen=True)
class Material:
    pki: DemoPki
    other_pki: DemoPki  # a second, unrelated demo CA: "someone else's" anchor
    signer: ProviderSigner
    unsigned_pdf: bytes
    signed_pdf: bytes


@pytest.fixture(scope="session")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    base = tmp_path_factory.mktemp("pki")
    pki = create_demo_pki(base / "demo", "Voce Cloud S.r.l.", PASSWORD)
    other = create_demo_pki(base / "other", "Someone Else Ltd", b"other password")
    signer = ProviderSigner.load(pki.signer_p12, PASSWORD)
    unsigned = render_pdf()
    signed = signer.sign_pdf(unsigned, reason="Monthly attestation", location="Rome, IT")
    return Material(pki=pki, other_pki=other, signer=signer, unsigned_pdf=unsigned, signed_pdf=signed)


@pytest.fixture
def signed_pdf_path(material: Material, tmp_path: Path) -> Path:
    path = tmp_path / "AT-7K3M9QX2D4F8HJ6TNV1R.pdf"
    path.write_bytes(material.signed_pdf)
    return path


def flip_byte_in_signed_range(pdf: bytes) -> bytes:
    """Flip one bit inside the binary comment on line 2: covered by the signature, yet the file
    still parses, so the verdict is about the digest and not about a broken file."""
    assert pdf[9:10] == b"%"
    data = bytearray(pdf)
    data[11] ^= 0x01
    return bytes(data)


Change = Callable[[Any, Any, Any], None]


def incremental_update(pdf: bytes, change: Change) -> bytes:
    """Apply *change(writer, page, page_ref)* to page 1 in a pyHanko incremental update."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    page_ref, _resources = writer.find_page_for_modification(0)
    change(writer, page_ref.get_object(), page_ref)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def add_annotation(subtype: str = "/FreeText", contents: str = "Received by ACME S.p.A.") -> Change:
    """A recipient's stamp: a new annotation appended to page 1's /Annots."""
    from pyhanko.pdf_utils import generic

    def change(writer: Any, page: Any, page_ref: Any) -> None:
        annot = generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                generic.pdf_name("/Subtype"): generic.pdf_name(subtype),
                generic.pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (36, 36, 300, 80)]
                ),
                generic.pdf_name("/Contents"): generic.pdf_string(contents),
                generic.pdf_name("/DA"): generic.pdf_string("/Helv 12 Tf 0 g"),
                generic.pdf_name("/P"): page_ref,
            }
        )
        annot_ref = writer.add_object(annot)
        raw = page.raw_get("/Annots") if "/Annots" in page else None
        if isinstance(raw, generic.IndirectObject):
            raw.get_object().append(annot_ref)
            writer.mark_update(raw)
        else:
            page["/Annots"] = generic.ArrayObject([*(raw or []), annot_ref])
        writer.update_container(page)

    return change


def append_page_content(writer: Any, page: Any, page_ref: Any) -> None:
    """A forger's change: draw extra text on page 1 through a new content stream."""
    from pyhanko.pdf_utils import generic

    assert isinstance(page, generic.DictionaryObject)
    stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 700 Td (ALL CONTROLS PASSED) Tj ET")
    stream_ref = writer.add_object(stream)
    contents = page.raw_get("/Contents")
    existing = contents.get_object()
    items = list(existing) if isinstance(existing, generic.ArrayObject) else [contents]
    page["/Contents"] = generic.ArrayObject([*items, stream_ref])
    writer.update_container(page)


# --- poppler pdfsig ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nss_db(material: Material, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An NSS database that trusts the demo CA, for pdfsig."""
    if not (shutil.which("pdfsig") and shutil.which("certutil")):
        pytest.skip("pdfsig/certutil not installed (apt: poppler-utils, libnss3-tools)")
    db = tmp_path_factory.mktemp("nssdb")
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{db}", "-n", "demo-ca", "-t", "C,C,C", "-i", material.pki.ca_cert],
        check=True,
        capture_output=True,
    )
    yield db


def pdfsig_lines(db: Path, pdf: Path) -> list[str]:
    """pdfsig's lines, stripped. Its exit code is 0 even for a digest mismatch, so callers read
    the "Signature Validation:" / "Certificate Validation:" lines instead."""
    proc = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{db}", str(pdf)], capture_output=True, text=True, timeout=30, check=False
    )
    return [line.strip(" -") for line in proc.stdout.splitlines()]
