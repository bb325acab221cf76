from __future__ import annotations

import hashlib
import re
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils.metadata.model import VENDOR

from attest.signing import PDF_PRODUCER, ProviderSigner, SigningError, verify_bytes
from attest.verify import verify_pdf

from .conftest import PASSWORD, Material, render_pdf

XMP_PRODUCER = "{http://ns.adobe.com/pdf/1.3/}Producer"


def _producers(pdf: bytes) -> tuple[str, str]:
    with pikepdf.open(BytesIO(pdf)) as doc, doc.open_metadata(set_pikepdf_as_editor=False) as xmp:
        return str(doc.docinfo["/Producer"]), str(xmp[XMP_PRODUCER])


# --- loading the key -----------------------------------------------------------------------------


def test_load_exposes_certificate_chain_and_fingerprint(material: Material) -> None:
    signer = material.signer
    assert signer.certificate == x509.load_pem_x509_certificate(material.pki.signer_cert.read_bytes())
    assert signer.chain == [x509.load_pem_x509_certificate(material.pki.ca_cert.read_bytes())]
    der = signer.certificate.public_bytes(serialization.Encoding.DER)
    assert signer.fingerprint == hashlib.sha256(der).hexdigest()
    assert "PRIVATE" not in repr(signer)


def test_wrong_password_names_the_file_not_the_password(material: Material) -> None:
    wrong = b"hunter2-wrong"
    with pytest.raises(SigningError) as err:
        ProviderSigner.load(material.pki.signer_p12, wrong)
    message = str(err.value)
    assert str(material.pki.signer_p12) in message and "password" in message
    assert wrong.decode() not in message and PASSWORD.decode() not in message
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained detail leaks


@pytest.mark.parametrize("content", [None, b"not a pkcs12 file"])
def test_unreadable_or_not_pkcs12(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "key.p12"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SigningError, match=re.escape(str(path))):
        ProviderSigner.load(path, PASSWORD)


# --- raw signatures (checkpoints) ----------------------------------------------------------------


def test_sign_bytes_round_trip(material: Material) -> None:
    sig = material.signer.sign_bytes(b"checkpoint")
    assert verify_bytes(material.signer.certificate, b"checkpoint", sig)
    assert not verify_bytes(material.signer.certificate, b"checkpoinT", sig)
    assert not verify_bytes(material.signer.certificate, b"checkpoint", sig[:-1] + bytes([sig[-1] ^ 1]))


def test_rsa_key_signs_bytes_and_pdf(material: Material, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_key_less_cert = x509.load_pem_x509_certificate(material.pki.signer_cert.read_bytes())
    # a self-issued RSA cert is enough here: this checks the RSA code paths, not trust
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "RSA test signer")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(ca_key_less_cert.not_valid_before_utc)
        .not_valid_after(ca_key_less_cert.not_valid_after_utc)
        .sign(key, hashes.SHA256())
    )
    p12 = tmp_path / "rsa.p12"
    encryption = serialization.BestAvailableEncryption(b"pw")
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"rsa", key, cert, None, encryption))
    signer = ProviderSigner.load(p12, b"pw")
    assert verify_bytes(cert, b"data", signer.sign_bytes(b"data"))
    out = tmp_path / "rsa.pdf"
    out.write_bytes(signer.sign_pdf(material.unsigned_pdf))
    report = verify_pdf(out, [cert])
    assert report.ok, report.reasons


# --- PAdES ---------------------------------------------------------------------------------------


def test_certification_signature_structure(material: Material) -> None:
    with pikepdf.open(BytesIO(material.signed_pdf)) as doc:
        sig = doc.Root.Perms.DocMDP
        assert sig.SubFilter == "/ETSI.CAdES.detached"
        assert sig.Reference[0].TransformMethod == "/DocMDP"
        assert int(sig.Reference[0].TransformParams.P) == 3  # annotations allowed
        assert str(sig.Reason) == "Monthly attestation" and str(sig.Location) == "Rome, IT"
        field = doc.Root.AcroForm.Fields[0]
        assert str(field.T) == "AttestSignature"
        assert [float(v) for v in field.Rect] == [0, 0, 0, 0] and "/AP" not in field  # invisible
        # still PDF/A-3b with the attachment
        with doc.open_metadata(set_pikepdf_as_editor=False) as xmp:
            assert xmp["{http://www.aiim.org/pdfa/ns/id/}part"] == "3"
        assert "attestation.json" in doc.attachments
    assert b"/Courier" not in material.signed_pdf  # no non-embedded stamp font


def test_info_and_xmp_producer_agree_after_signing(material: Material) -> None:
    assert PDF_PRODUCER == VENDOR
    assert _producers(material.signed_pdf) == (VENDOR, VENDOR)


def test_producer_aligned_even_if_renderer_left_its_own(material: Material) -> None:
    unsigned = render_pdf(producer=None)
    assert _producers(unsigned)[0].startswith("WeasyPrint")
    assert _producers(material.signer.sign_pdf(unsigned)) == (VENDOR, VENDOR)


def test_sign_pdf_rejects_non_pdf_and_signed_pdf(material: Material) -> None:
    with pytest.raises(SigningError, match="not a readable PDF"):
        material.signer.sign_pdf(b"<html>not a pdf</html>")
    with pytest.raises(SigningError, match="AttestSignature"):
        material.signer.sign_pdf(material.signed_pdf)


def test_signed_pdfa3_stays_pdf_1_7(signed_pdf_path: Path) -> None:
    """PDF/A-3 is built on PDF 1.7: the ECDSA signature must not raise the catalog to 2.0."""
    import pikepdf

    with pikepdf.open(signed_pdf_path) as pdf:
        assert str(pdf.Root.get("/Version", "/1.7")) in ("/1.7", "1.7")
        assert "/Extensions" not in pdf.Root or "/ISO_" not in pdf.Root.Extensions
        assert pdf.pdf_version == "1.7"
