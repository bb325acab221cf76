from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from cryptography import x509
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

from attest.verify import UnusableInput, load_trust_anchors, verify_file, verify_pdf

from .conftest import (
    ATTESTATION,
    ATTESTATION_BYTES,
    PASSWORD,
    Material,
    add_annotation,
    append_page_content,
    flip_byte_in_signed_range,
    incremental_update,
    pdfsig_lines,
    render_pdf,
)


def _anchors(material: Material, other: bool = False) -> list[x509.Certificate]:
    return load_trust_anchors([(material.other_pki if other else material.pki).ca_cert])


def _write(tmp_path: Path, data: bytes, name: str = "doc.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- pyHanko-based verification -------------------------------------------------------------------


def test_signed_pdf_verifies(material: Material, signed_pdf_path: Path) -> None:
    report = verify_file(signed_pdf_path, _anchors(material))
    assert report.ok and report.kind == "pdf" and report.reasons == []
    assert report.signer == "Voce Cloud S.r.l. DEMO attestation signer – not trusted"
    assert report.signing_time is not None
    assert report.details["document_id"] == ATTESTATION["document_id"]
    assert report.details["modification_level"] == "none"
    assert report.details["coverage"] == "entire_file"
    assert report.details["docmdp"] == "annotate"
    assert report.details["signer_fingerprint"] == material.signer.fingerprint


def test_other_ca_is_untrusted(material: Material, signed_pdf_path: Path) -> None:
    report = verify_pdf(signed_pdf_path, _anchors(material, other=True))
    assert report.valid and not report.trusted and not report.ok
    assert any("does not chain to a trusted anchor" in r for r in report.reasons), report.reasons


def test_flipped_byte_is_invalid_and_names_the_field(material: Material, tmp_path: Path) -> None:
    path = _write(tmp_path, flip_byte_in_signed_range(material.signed_pdf))
    report = verify_pdf(path, _anchors(material))
    assert not report.valid and not report.ok
    named = [r for r in report.reasons if "'AttestSignature'" in r and "changed after signing" in r]
    assert named, report.reasons


def test_tampered_signature_value_is_invalid(material: Material, tmp_path: Path) -> None:
    data = material.signed_pdf
    start = data.index(b"/Contents <") + len(b"/Contents <")
    der_hex_end = start + len(data[start : data.index(b">", start)].rstrip(b"0"))
    tampered = bytearray(data)
    tampered[der_hex_end - 10] = ord("1") if tampered[der_hex_end - 10] == ord("0") else ord("0")
    report = verify_pdf(_write(tmp_path, bytes(tampered)), _anchors(material))
    assert not report.valid and not report.trusted
    assert any("'AttestSignature' is cryptographically invalid" in r for r in report.reasons), report.reasons


def test_recipient_annotation_keeps_it_valid(material: Material, tmp_path: Path) -> None:
    path = _write(tmp_path, incremental_update(material.signed_pdf, add_annotation()))
    report = verify_pdf(path, _anchors(material))
    assert report.ok, report.reasons
    assert report.details["modification_level"] == "annotations"
    assert report.details["coverage"] == "entire_revision"
    assert report.details["annotations_added"] == [
        {"page": 1, "subtype": "FreeText", "contents": "Received by ACME S.p.A."}
    ]
    # a second stamp in a further revision is still fine
    stamped_twice = incremental_update(path.read_bytes(), add_annotation("/Stamp", "PAID"))
    path2 = _write(tmp_path, stamped_twice, "two.pdf")
    assert verify_pdf(path2, _anchors(material)).ok


def test_changed_page_content_is_invalid(material: Material, tmp_path: Path) -> None:
    path = _write(tmp_path, incremental_update(material.signed_pdf, append_page_content))
    report = verify_pdf(path, _anchors(material))
    assert not report.valid and not report.ok
    assert report.details["modification_level"] == "other"
    assert any("changed after signature 'AttestSignature'" in r for r in report.reasons), report.reasons


@pytest.mark.parametrize("subtype", ["/Link", "/FileAttachment", "/Widget"])
def test_non_markup_annotations_are_not_allowed(material: Material, tmp_path: Path, subtype: str) -> None:
    """Stricter than DocMDP P=3 on purpose: a Link could redirect the verification URL, a file
    attachment could carry a second attestation.json."""
    path = _write(tmp_path, incremental_update(material.signed_pdf, add_annotation(subtype)))
    assert not verify_pdf(path, _anchors(material)).valid


def test_sibling_json_must_match_the_attachment(material: Material, signed_pdf_path: Path) -> None:
    sibling = signed_pdf_path.with_suffix(".json")
    sibling.write_bytes(ATTESTATION_BYTES)
    report = verify_pdf(signed_pdf_path, _anchors(material))
    assert report.ok and report.details["sibling_json_matches"] is True
    sibling.write_bytes(ATTESTATION_BYTES.replace(b"pass", b"fail"))
    report = verify_pdf(signed_pdf_path, _anchors(material))
    assert not report.valid
    assert any(sibling.name in r and "differs" in r for r in report.reasons), report.reasons


def test_missing_attachment_is_invalid(material: Material, tmp_path: Path) -> None:
    path = _write(tmp_path, material.signer.sign_pdf(render_pdf(attachment=None)))
    report = verify_pdf(path, _anchors(material))
    assert not report.valid
    assert any("no attached attestation.json" in r for r in report.reasons), report.reasons


def test_attachment_must_be_json(material: Material, tmp_path: Path) -> None:
    path = _write(tmp_path, material.signer.sign_pdf(render_pdf(attachment=b"not json {")))
    report = verify_pdf(path, _anchors(material))
    assert not report.valid
    assert any("not valid JSON" in r for r in report.reasons), report.reasons


def test_approval_signature_without_certification_is_invalid(material: Material, tmp_path: Path) -> None:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    simple = signers.SimpleSigner.load_pkcs12(str(material.pki.signer_p12), passphrase=PASSWORD)
    assert simple is not None
    meta = signers.PdfSignatureMetadata(field_name="Approval", subfilter=SigSeedSubFilter.PADES)
    out = signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(material.unsigned_pdf)), meta, signer=simple)
    report = verify_pdf(_write(tmp_path, out.getvalue()), _anchors(material))
    assert report.trusted and not report.valid
    assert any("not certified" in r for r in report.reasons), report.reasons


def test_unsigned_pdf_and_non_pdf_are_unusable(material: Material, tmp_path: Path) -> None:
    with pytest.raises(UnusableInput, match="no signature"):
        verify_file(_write(tmp_path, material.unsigned_pdf), _anchors(material))
    with pytest.raises(UnusableInput):
        verify_file(_write(tmp_path, b"hello", "notes.txt"), _anchors(material))
    with pytest.raises(UnusableInput):
        verify_file(tmp_path / "missing.pdf", _anchors(material))
    with pytest.raises(UnusableInput):
        verify_pdf(_write(tmp_path, b"%PDF-1.7\ngarbage", "broken.pdf"), _anchors(material))


def test_load_trust_anchors(material: Material, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(material.pki.ca_cert.read_bytes() + material.other_pki.ca_cert.read_bytes())
    assert len(load_trust_anchors([bundle])) == 2
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(UnusableInput, match=r"junk\.pem"):
        load_trust_anchors([junk])
    with pytest.raises(UnusableInput, match=r"absent\.pem"):
        load_trust_anchors([tmp_path / "absent.pem"])


# --- cross-check with poppler's pdfsig (NSS) ------------------------------------------------------


def test_pdfsig_valid_and_trusted(nss_db: Path, signed_pdf_path: Path) -> None:
    lines = pdfsig_lines(nss_db, signed_pdf_path)
    assert "Signature Field Name: AttestSignature" in lines
    assert "Total document signed" in lines
    assert "Signature Validation: Signature is Valid." in lines
    assert "Certificate Validation: Certificate is Trusted." in lines


def test_pdfsig_flipped_byte(nss_db: Path, material: Material, tmp_path: Path) -> None:
    lines = pdfsig_lines(nss_db, _write(tmp_path, flip_byte_in_signed_range(material.signed_pdf)))
    assert any(line.startswith("Signature Validation:") for line in lines), lines
    assert "Signature Validation: Signature is Valid." not in lines


def test_pdfsig_sees_annotated_copy_as_partly_signed(
    nss_db: Path, material: Material, tmp_path: Path
) -> None:
    """pdfsig knows nothing of DocMDP: it only says the last revision is unsigned. Our verifier
    is what tells a permitted stamp from a forgery."""
    path = _write(tmp_path, incremental_update(material.signed_pdf, add_annotation()))
    lines = pdfsig_lines(nss_db, path)
    assert "Not total document signed" in lines
    assert "Signature Validation: Signature is Valid." in lines
