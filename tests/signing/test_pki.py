from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from attest.pki import ID_KP_DOCUMENT_SIGNING, create_demo_pki

from .conftest import PASSWORD, Material


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_files_and_modes(material: Material) -> None:
    pki = material.pki
    assert pki.ca_cert.is_file() and pki.signer_cert.is_file() and pki.signer_p12.is_file()
    assert stat.S_IMODE(pki.signer_p12.stat().st_mode) == 0o600
    # the CA key is never written anywhere
    assert sorted(p.name for p in pki.ca_cert.parent.iterdir()) == sorted(
        [pki.ca_cert.name, pki.signer_cert.name, pki.signer_p12.name]
    )


def test_ca_certificate(material: Material) -> None:
    ca = _load(material.pki.ca_cert)
    assert _cn(ca) == "Voce Cloud S.r.l. DEMO Root CA – not trusted"
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert timedelta(days=3650) <= lifetime <= timedelta(days=3660)
    ca.verify_directly_issued_by(ca)


def test_signer_certificate(material: Material) -> None:
    ca, signer = _load(material.pki.ca_cert), _load(material.pki.signer_cert)
    assert _cn(signer) == "Voce Cloud S.r.l. DEMO attestation signer – not trusted"
    signer.verify_directly_issued_by(ca)
    assert not signer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ku = signer.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.content_commitment and not ku.key_cert_sign
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku and ID_KP_DOCUMENT_SIGNING in eku
    aki = signer.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    signer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    lifetime = signer.not_valid_after_utc - signer.not_valid_before_utc
    assert timedelta(days=1095) <= lifetime <= timedelta(days=1100)
    assert signer.not_valid_before_utc <= datetime.now(UTC)


def test_p12_holds_key_signer_and_ca(material: Material) -> None:
    key, cert, extra = pkcs12.load_key_and_certificates(material.pki.signer_p12.read_bytes(), PASSWORD)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert cert == _load(material.pki.signer_cert)
    assert extra == [_load(material.pki.ca_cert)]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(material.pki.signer_p12.read_bytes(), b"wrong")


def test_long_organisation_is_shortened_but_keeps_demo_marker(tmp_path: Path) -> None:
    organisation = "A Very Long Cloud Telephony Provider Company Name S.r.l. Società Benefit"
    pki = create_demo_pki(tmp_path, organisation, b"pw")
    for path in (pki.ca_cert, pki.signer_cert):
        cn = _cn(_load(path))
        assert len(cn.encode()) <= 64 and cn.endswith("– not trusted") and "DEMO" in cn
        assert cn.startswith("A Very Long")


@pytest.mark.parametrize(("organisation", "password"), [("Voce", b""), ("  ", b"pw")])
def test_rejects_empty_inputs(tmp_path: Path, organisation: str, password: bytes) -> None:
    with pytest.raises(ValueError):
        create_demo_pki(tmp_path, organisation, password)
