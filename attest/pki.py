"""The demo PKI: a throw-away CA and provider signer for `attest init` / `attest demo` and tests.

Everything it issues says "DEMO … – not trusted" in the Common Name, so a demo document can never
be mistaken for a real one, even by someone who imports the demo CA into a PDF reader.

Choices that matter to verifiers (each checked by tests/signing):
- EC P-256 keys: pyHanko signs in ~25 ms with them (RSA keys are re-parsed on every signature).
- Signer key usage digitalSignature + nonRepudiation: pyHanko requires nonRepudiation for PDF
  signatures by default, DSSE verification asks for digitalSignature.
- Signer extended key usage emailProtection + documentSigning (RFC 9336): poppler's pdfsig asks
  NSS to validate the signer as an *email signer*, which rejects an EKU without emailProtection;
  documentSigning states the real purpose for verifiers that know it.
- On request (``tsa=True``), a timestamp authority certificate from the same CA for the lab's RFC
  3161 server (attest.lab.tsa): extended key usage timeStamping only, and critical, as RFC 3161
  §2.3 requires; key usage digitalSignature (+ nonRepudiation, as most TSA certificates carry).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ID_KP_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # RFC 9336
CA_VALIDITY = timedelta(days=3652)  # 10 years
SIGNER_VALIDITY = timedelta(days=1096)  # 3 years
# Backdate notBefore a little: a verifier whose clock runs slightly behind must not see
# a freshly made demo certificate as "not yet valid".
CLOCK_SKEW = timedelta(minutes=5)
# X.520 upper bound for commonName and organizationName, in UTF-8 bytes as cryptography enforces it.
_NAME_MAX = 64

CA_FILE = "demo-ca.pem"
SIGNER_CERT_FILE = "demo-signer.pem"
SIGNER_P12_FILE = "demo-signer.p12"
TSA_CERT_FILE = "demo-tsa.pem"
TSA_P12_FILE = "demo-tsa.p12"
TSA_VALIDITY = SIGNER_VALIDITY


@dataclass(frozen=True)
class DemoPki:
    ca_cert: Path  # PEM, the trust anchor the demo config lists
    signer_p12: Path  # PKCS#12: signer key + signer certificate + CA certificate, mode 0600
    signer_cert: Path  # PEM, for convenience (packs, verification guides)
    tsa_cert: Path | None = None  # PEM of the demo timestamp authority (with ``tsa=True``)
    tsa_p12: Path | None = None  # PKCS#12: TSA key + TSA certificate + CA certificate, mode 0600


def _fit(organisation: str, suffix: str) -> str:
    """``organisation + suffix`` cut to the X.520 limit, keeping the DEMO suffix whole. The limit
    counts UTF-8 bytes (as cryptography checks it), and "–"/"…" take three each."""
    org = organisation.strip()
    if len((org + suffix).encode()) <= _NAME_MAX:
        return org + suffix
    room = _NAME_MAX - len(("…" + suffix).encode())
    while len(org.encode()) > room:
        org = org[:-1]
    return org.rstrip() + "…" + suffix


def _name(organisation: str, suffix: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, _fit(organisation, suffix)),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _fit(organisation, "")),
        ]
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey, organisation: str, now: datetime) -> x509.Certificate:
    name = _name(organisation, " DEMO Root CA – not trusted")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )


def _signer_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    organisation: str,
    now: datetime,
) -> x509.Certificate:
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(organisation, " DEMO attestation signer – not trusted"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + SIGNER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, ID_KP_DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _tsa_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    organisation: str,
    now: datetime,
) -> x509.Certificate:
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(organisation, " DEMO timestamp authority – not trusted"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + TSA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _pkcs12_encryption(password: bytes) -> serialization.KeySerializationEncryption:
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(100_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )


def _write_private(path: Path, data: bytes) -> None:
    """Create *path* with mode 0600 from the start, so the key is never briefly world-readable."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)  # O_CREAT's mode is filtered by the umask; make it exact


def create_demo_pki(directory: Path, organisation: str, password: bytes, *, tsa: bool = False) -> DemoPki:
    """Create a demo CA and a signer issued by it in *directory*; return the file paths. With
    *tsa*, also a timestamp authority certificate and key (``demo-tsa.pem``, ``demo-tsa.p12``,
    same password) for the lab's RFC 3161 server.

    The CA private key is not kept: the demo CA exists to issue these certificates, and a key
    that is never written cannot leak. Existing files with the same names are replaced.
    """
    if not password:
        raise ValueError("the PKCS#12 password must not be empty")
    if not organisation.strip():
        raise ValueError("organisation must not be empty")
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, organisation, now)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = _signer_certificate(signer_key, ca_key, ca_cert, organisation, now)

    p12 = pkcs12.serialize_key_and_certificates(
        name=b"attest demo signer",
        key=signer_key,
        cert=signer_cert,
        cas=[ca_cert],
        encryption_algorithm=_pkcs12_encryption(password),
    )

    pki = DemoPki(
        ca_cert=directory / CA_FILE,
        signer_p12=directory / SIGNER_P12_FILE,
        signer_cert=directory / SIGNER_CERT_FILE,
        tsa_cert=directory / TSA_CERT_FILE if tsa else None,
        tsa_p12=directory / TSA_P12_FILE if tsa else None,
    )
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.signer_cert.write_bytes(signer_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.signer_p12, p12)
    if pki.tsa_cert is not None and pki.tsa_p12 is not None:
        tsa_key = ec.generate_private_key(ec.SECP256R1())
        tsa_cert = _tsa_certificate(tsa_key, ca_key, ca_cert, organisation, now)
        tsa_p12 = pkcs12.serialize_key_and_certificates(
            name=b"attest demo timestamp authority",
            key=tsa_key,
            cert=tsa_cert,
            cas=[ca_cert],
            encryption_algorithm=_pkcs12_encryption(password),
        )
        pki.tsa_cert.write_bytes(tsa_cert.public_bytes(serialization.Encoding.PEM))
        _write_private(pki.tsa_p12, tsa_p12)
    return pki
