"""What may follow the certified revision of a PDF: markup annotations (a recipient's stamp) and,
for a later B-T/B-LTA feature, document timestamps with DSS data. Nothing else: not a changed
/Title, not bytes appended outside an incremental update, not an update that adds nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from attest.verify import VerifyReport, load_trust_anchors, verify_pdf

from .conftest import PASSWORD, Material, add_annotation, incremental_update

TITLE_FORGERY = "All controls PASSED"


def _verify(material: Material, tmp_path: Path, data: bytes, name: str = "doc.pdf") -> VerifyReport:
    path = tmp_path / name
    path.write_bytes(data)
    return verify_pdf(path, load_trust_anchors([material.pki.ca_cert]))


def _write(writer: IncrementalPdfFileWriter) -> bytes:
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _set_title(writer: Any, page: Any = None, page_ref: Any = None) -> None:
    info = writer.trailer["/Info"]
    info["/Title"] = generic.TextStringObject(TITLE_FORGERY)
    writer.update_container(info)


def _stamp_and(*changes: Any) -> Any:
    def change(writer: Any, page: Any, page_ref: Any) -> None:
        add_annotation()(writer, page, page_ref)
        for extra in changes:
            extra(writer, page, page_ref)

    return change


# --- the document information and XMP metadata -------------------------------------------------


def test_changed_title_is_invalid_and_named(material: Material, tmp_path: Path) -> None:
    report = _verify(material, tmp_path, incremental_update(material.signed_pdf, _set_title))
    assert not report.valid and report.trusted and not report.ok
    assert report.reasons == ["the document information (Title) was changed after signing"]
    assert report.details["modification_level"] == "other"


def test_changed_title_next_to_a_stamp_is_invalid(material: Material, tmp_path: Path) -> None:
    """pyHanko rates an Info change LTA_UPDATES, which a stamp's level ANNOTATIONS would hide."""
    report = _verify(material, tmp_path, incremental_update(material.signed_pdf, _stamp_and(_set_title)))
    assert not report.valid
    assert report.reasons == ["the document information (Title) was changed after signing"]


def test_changed_title_in_an_earlier_update_is_invalid_even_if_restored(material: Material, tmp_path: Path) -> None:
    forged = incremental_update(material.signed_pdf, _set_title)

    def restore(writer: Any, page: Any, page_ref: Any) -> None:
        info = writer.trailer["/Info"]
        info["/Title"] = generic.TextStringObject("Attestation")
        writer.update_container(info)

    report = _verify(material, tmp_path, incremental_update(forged, _stamp_and(restore)))
    assert not report.valid
    assert "the document information (Title) was changed after signing" in report.reasons


def test_changed_xmp_description_is_invalid(material: Material, tmp_path: Path) -> None:
    def describe(writer: Any, page: Any, page_ref: Any) -> None:
        writer.document_meta.subject = TITLE_FORGERY  # no /Subject in Info: only XMP dc:description

    report = _verify(material, tmp_path, incremental_update(material.signed_pdf, _stamp_and(describe)))
    assert not report.valid
    assert report.reasons == ["the XMP metadata (dc:description) was changed after signing"]


# --- bytes after the signed content ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (b"garbage\n", "8 bytes were appended after the signed content, outside any revision"),
        (b"\n", "1 byte was appended after the signed content, outside any revision"),
        # past the 1024 bytes in which pyHanko looks for %%EOF: invalid, not unusable
        (b"G" * 3000, "3000 bytes were appended after the signed content, outside any revision"),
    ],
)
def test_appended_bytes_are_invalid(material: Material, tmp_path: Path, tail: bytes, reason: str) -> None:
    report = _verify(material, tmp_path, material.signed_pdf + tail)
    assert not report.valid and report.trusted and not report.ok
    assert reason in report.reasons, report.reasons


def test_appended_fake_file_end_is_invalid(material: Material, tmp_path: Path) -> None:
    """Junk, then a startxref pointing back at the signed cross-reference stream."""
    signed_startxref = re.findall(rb"startxref\s+(\d+)", material.signed_pdf)[-1]
    tail = b"junk\nstartxref\n" + signed_startxref + b"\n%%EOF\n"
    report = _verify(material, tmp_path, material.signed_pdf + tail)
    assert not report.valid
    assert f"{len(tail)} bytes were appended after the signed content, outside any revision" in report.reasons


def test_bytes_appended_after_a_stamp_are_invalid(material: Material, tmp_path: Path) -> None:
    stamped = incremental_update(material.signed_pdf, add_annotation())
    assert _verify(material, tmp_path, stamped).ok
    report = _verify(material, tmp_path, stamped + b"%junk\n", "junk.pdf")
    assert not report.valid
    assert report.reasons == ["6 bytes were appended after the last incremental update, outside any revision"]


def test_stamp_update_is_valid_and_described(material: Material, tmp_path: Path) -> None:
    report = _verify(material, tmp_path, incremental_update(material.signed_pdf, add_annotation()))
    assert report.ok, report.reasons
    assert report.details["updates_after_signing"] == [
        {"revision": 3, "kind": "annotations", "annotations": 1, "document_timestamps": [], "dss": False}
    ]
    assert "ltv_updates" not in report.details


def test_update_that_adds_nothing_is_invalid(material: Material, tmp_path: Path) -> None:
    """A well-formed incremental update with no object at all, and one that only rewrites the
    catalog and metadata (what "save" does in many tools): neither is a permitted annotation."""
    pdf = material.signed_pdf
    trailer = PdfFileReader(BytesIO(pdf)).trailer
    startxref = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    empty = pdf + (
        b"xref\n0 0\ntrailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
        % (
            int(trailer["/Size"]),
            trailer.raw_get("/Root").idnum,
            trailer.raw_get("/Info").idnum,
            startxref,
            len(pdf),
        )
    )
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    writer.update_root()
    for i, data in enumerate([empty, _write(writer)]):
        report = _verify(material, tmp_path, data, f"nothing{i}.pdf")
        assert not report.valid
        assert report.reasons == [
            "the update after signing (revision 3 of 3) adds no annotation, document timestamp or DSS data"
        ]


def test_hidden_object_in_a_stamp_update_is_invalid(material: Material, tmp_path: Path) -> None:
    """An object the cross-reference section does not list: invisible to pyHanko, but a viewer
    that rebuilds a damaged cross-reference table would use it (here: new page content)."""
    stamped = incremental_update(material.signed_pdf, add_annotation())
    xref_at = int(re.findall(rb"startxref\s+(\d+)", stamped)[-1])
    content_id = PdfFileReader(BytesIO(stamped)).root["/Pages"]["/Kids"][0].raw_get("/Contents").idnum
    content = b"BT /F1 24 Tf 72 700 Td (PASSED) Tj ET"
    hidden = b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (content_id, len(content), content)
    forged = stamped[:xref_at] + hidden + stamped[xref_at:]
    forged = re.sub(rb"startxref\s+\d+\s+%%EOF\s*$", b"startxref\n%d\n%%%%EOF\n" % (xref_at + len(hidden)), forged)
    report = _verify(material, tmp_path, forged)
    assert not report.valid
    expected = (
        f"the update after signing (revision 3 of 3) contains object {content_id} 0 that its cross-reference "
        "section does not list (hidden content)"
    )
    assert expected in report.reasons, report.reasons


# --- form filling and signature fields --------------------------------------------------------------


def test_approval_signature_after_certification_is_invalid(material: Material, tmp_path: Path) -> None:
    """DocMDP P=3 would allow it (level FORM_FILLING); the issue allows annotations only."""
    simple = signers.SimpleSigner.load_pkcs12(str(material.pki.signer_p12), passphrase=PASSWORD)
    assert simple is not None
    meta = signers.PdfSignatureMetadata(field_name="Countersign", subfilter=SigSeedSubFilter.PADES)
    out = signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(material.signed_pdf)), meta, signer=simple)
    report = _verify(material, tmp_path, out.getvalue())
    assert not report.valid
    assert any("changed after signature 'AttestSignature' beyond what is permitted" in r for r in report.reasons)


def test_empty_signature_field_is_invalid(material: Material, tmp_path: Path) -> None:
    writer = IncrementalPdfFileWriter(BytesIO(material.signed_pdf))
    fields.append_signature_field(writer, fields.SigFieldSpec("Later"))
    report = _verify(material, tmp_path, _write(writer))
    assert not report.valid


# --- LTV: document timestamps and DSS ------------------------------------------------------------------


def _tsa() -> tuple[DummyTimeStamper, x509.Certificate]:
    """A local TSA (pyHanko's dummy one is RSA-only) under its own root."""
    now = datetime.now(UTC)

    def cert(
        name: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey, ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        return builder.sign(issuer_key, hashes.SHA256())

    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = cert("Test TSA Root", root_key, "Test TSA Root", root_key, ca=True)
    tsa = cert("Test TSA", tsa_key, "Test TSA Root", root_key, ca=False)
    pkcs8 = tsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    stamper = DummyTimeStamper(
        _asn1(tsa),
        asn1_keys.PrivateKeyInfo.load(pkcs8),
        certs_to_embed=SimpleCertificateStore.from_certs([_asn1(root)]),
    )
    return stamper, root


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _add_document_timestamp(material: Material, pdf: bytes) -> bytes:
    """A PAdES document timestamp, then a DSS with the validation data (two updates), as B-LTA
    signing with pyHanko will add them."""
    stamper, tsa_root = _tsa()
    anchors = [_asn1(tsa_root), *(_asn1(c) for c in load_trust_anchors([material.pki.ca_cert]))]
    context = ValidationContext(trust_roots=anchors, allow_fetching=False)
    out = PdfTimeStamper(stamper).timestamp_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)), "sha256", validation_context=context, timestamper=stamper
    )
    data: bytes = out.getvalue()
    return data


@pytest.fixture(scope="module")
def timestamped(material: Material) -> bytes:
    return _add_document_timestamp(material, material.signed_pdf)


def test_document_timestamp_and_dss_are_accepted(material: Material, tmp_path: Path, timestamped: bytes) -> None:
    report = _verify(material, tmp_path, timestamped)
    assert report.ok, report.reasons
    assert report.details["modification_level"] == "lta_updates"
    updates = report.details["updates_after_signing"]
    assert [u["kind"] for u in updates] == ["ltv", "ltv"]
    assert len(updates[0]["document_timestamps"]) == 1 and updates[1]["dss"] is True
    assert report.details["ltv_updates"] == (
        "revision(s) 3, 4 add only document timestamps and DSS data "
        "(DSS dictionary, VRI, certificates and revocation data)"
    )


def test_stamp_after_a_document_timestamp_is_accepted(material: Material, tmp_path: Path, timestamped: bytes) -> None:
    report = _verify(material, tmp_path, incremental_update(timestamped, add_annotation()))
    assert report.ok, report.reasons
    assert [u["kind"] for u in report.details["updates_after_signing"]] == ["ltv", "ltv", "annotations"]
    assert report.details["annotations_added"] == [
        {"page": 1, "subtype": "FreeText", "contents": "Received by ACME S.p.A."}
    ]


def test_document_timestamp_after_a_stamp_is_accepted(material: Material, tmp_path: Path) -> None:
    stamped = incremental_update(material.signed_pdf, add_annotation())
    report = _verify(material, tmp_path, _add_document_timestamp(material, stamped))
    assert report.ok, report.reasons
    assert [u["kind"] for u in report.details["updates_after_signing"]] == ["annotations", "ltv", "ltv"]


def test_title_change_after_a_document_timestamp_is_invalid(
    material: Material, tmp_path: Path, timestamped: bytes
) -> None:
    report = _verify(material, tmp_path, incremental_update(timestamped, _set_title))
    assert not report.valid
    assert "the document information (Title) was changed after signing" in report.reasons
