"""The provider key: PAdES certification signatures on PDFs, DSSE envelopes on HTML/JSON, and raw
signatures on evidence-log checkpoints.

One PKCS#12 file holds the key, its certificate and the chain; nothing here logs or repeats the
password. pyHanko is imported lazily in ``sign_pdf``: it costs ~0.3 s, and checkpoint signing and
DSSE do not need it.

PDF/A note for the renderer: pyHanko *replaces* XMP pdf:Producer with its own name but *appends*
to Info /Producer, which leaves a signed PDF/A with Info and XMP disagreeing. Render with Info
/Producer = ``PDF_PRODUCER`` (e.g. a WeasyPrint finisher setting ``pdf.info['Producer']``);
``sign_pdf`` also sets it in the signing revision if the renderer did not, so both agree.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.version import __version__ as _PYHANKO_VERSION

from attest.canonical import canonical_json

if TYPE_CHECKING:
    from pyhanko.sign.signers import Signer

# What pyHanko writes into XMP pdf:Producer when it signs (pyhanko.pdf_utils.metadata.model.VENDOR,
# e.g. "pyHanko 0.38.0"; spelled out because importing that module costs ~0.1 s). The renderer sets
# Info /Producer to this so PDF/A's "Info and XMP agree" rule still holds after signing.
PDF_PRODUCER: str = "pyHanko " + _PYHANKO_VERSION

DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
DSSE_SUFFIX = ".dsse.json"

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class SigningError(Exception):
    """The provider key cannot be loaded or cannot sign. Messages name files, never secrets."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``
    (lengths in ASCII decimal bytes). Signing this, not the bare payload, binds the type too."""
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 (hex) of the certificate's DER: the key id in envelopes and checkpoints."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _sign_with(key: SigningKey, data: bytes, hash_algorithm: hashes.HashAlgorithm) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hash_algorithm))
    return key.sign(data, padding.PKCS1v15(), hash_algorithm)


def verify_bytes(cert: x509.Certificate, data: bytes, signature: bytes) -> bool:
    """True if *signature* (ECDSA-SHA256 DER or RSA PKCS#1 v1.5 SHA-256) over *data* verifies
    with *cert*'s public key. Says nothing about whether *cert* is trusted."""
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class _KeyMaterial:
    key: SigningKey
    certificate: x509.Certificate
    chain: list[x509.Certificate]


def _read_pkcs12(p12_path: Path, password: bytes) -> _KeyMaterial:
    try:
        data = p12_path.read_bytes()
    except OSError as e:
        raise SigningError(f"cannot read the signing key file {p12_path}: {e.strerror}") from None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        # cryptography does not tell a wrong password from a damaged file; neither can we.
        raise SigningError(
            f"cannot open the signing key file {p12_path}: wrong password, or not a PKCS#12 file"
        ) from None
    if key is None or cert is None:
        raise SigningError(f"the signing key file {p12_path} must hold a private key and its certificate")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SigningError(f"the key in {p12_path} is {type(key).__name__}; use EC (P-256) or RSA")
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise SigningError(f"the certificate in {p12_path} does not belong to its private key")
    return _KeyMaterial(key=key, certificate=cert, chain=list(extra))


def _spki(public_key: Any) -> bytes:
    return bytes(
        public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


class ProviderSigner:
    """The provider's signing key with its certificate chain, loaded from PKCS#12."""

    def __init__(self, material: _KeyMaterial) -> None:
        self._material = material
        self._pdf_signer: Signer | None = None  # built on first sign_pdf

    @classmethod
    def load(cls, p12_path: Path, password: bytes) -> ProviderSigner:
        return cls(_read_pkcs12(Path(p12_path), password))

    @property
    def certificate(self) -> x509.Certificate:
        return self._material.certificate

    @property
    def chain(self) -> list[x509.Certificate]:
        """The other certificates in the PKCS#12 (CA, intermediates), in file order."""
        return list(self._material.chain)

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self._material.certificate)

    def __repr__(self) -> str:  # never show key material, even in a debugger or traceback
        return f"ProviderSigner(subject={self.certificate.subject.rfc4514_string()!r})"

    # --- raw signatures (evidence-log checkpoints, DSSE) --------------------------------------

    def sign_bytes(self, data: bytes) -> bytes:
        """ECDSA-SHA256 (DER) or RSA PKCS#1 v1.5 SHA-256 over *data*."""
        return _sign_with(self._material.key, data, hashes.SHA256())

    # --- DSSE over an in-toto Statement -------------------------------------------------------

    def dsse_envelope(
        self, subject_name: str, subject_bytes: bytes, predicate_type: str, predicate: dict[str, Any]
    ) -> bytes:
        """A DSSE envelope (canonical JSON bytes) over an in-toto Statement v1 whose one subject
        is *subject_name* with the SHA-256 of *subject_bytes*. The signer's certificate chain
        travels in ``certificates`` (leaf first) so a verifier needs only a trust anchor."""
        digest = hashlib.sha256(subject_bytes).hexdigest()
        statement = {
            "_type": IN_TOTO_STATEMENT_TYPE,
            "subject": [{"name": subject_name, "digest": {"sha256": digest}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        }
        payload = canonical_json(statement)
        signature = self.sign_bytes(pae(DSSE_PAYLOAD_TYPE, payload))
        envelope = {
            "payloadType": DSSE_PAYLOAD_TYPE,
            "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [{"keyid": self.fingerprint, "sig": base64.b64encode(signature).decode("ascii")}],
            "certificates": [_pem(c) for c in [self.certificate, *self.chain]],
        }
        return canonical_json(envelope)

    # --- PAdES -------------------------------------------------------------------------------

    def sign_pdf(
        self,
        pdf: bytes,
        *,
        field_name: str = "AttestSignature",
        reason: str | None = None,
        location: str | None = None,
    ) -> bytes:
        """Add a PAdES B-B certification signature (DocMDP P=3: forms and annotations allowed,
        so a recipient's stamp added later keeps it valid). Invisible: an appearance would need a
        font, and pyHanko's default one is not embedded, which breaks PDF/A."""
        from pyhanko.pdf_utils.misc import PdfError
        from pyhanko.sign import signers
        from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
        from pyhanko.sign.general import SigningError as PyHankoSigningError

        try:
            writer = _pdfa3_writer(BytesIO(pdf))
        except (PdfError, ValueError) as e:
            raise SigningError(f"cannot sign: the input is not a readable PDF ({e})") from None
        _align_info_producer(writer)
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.PADES,
            certify=True,
            docmdp_permissions=MDPPerm.ANNOTATE,
            reason=reason,
            location=location,
        )
        try:
            out = signers.sign_pdf(writer, meta, signer=self._pyhanko_signer())
        except (PdfError, PyHankoSigningError) as e:  # e.g. already signed, or encrypted
            raise SigningError(f"cannot sign the PDF: {e}") from None
        data: bytes = out.getvalue()
        return data

    def _pyhanko_signer(self) -> Signer:
        if self._pdf_signer is None:
            self._pdf_signer = _make_pyhanko_signer(self._material)
        return self._pdf_signer


def _pdfa3_writer(stream: BytesIO) -> Any:
    """An incremental writer that keeps the document at PDF 1.7.

    pyHanko declares the ISO/TS 32002 extension for ECDSA signatures, which raises the catalog
    /Version to 2.0; PDF/A-3 is built on PDF 1.7 (ISO 32000-1), so that would break the PDF/A-3b
    conformance the document claims. ECDSA in a PAdES signature is already allowed by ETSI EN
    319 142 for PDF 1.7, and pdfsig and pyHanko validate it either way."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    class PdfA3Writer(IncrementalPdfFileWriter):
        def ensure_output_version(self, version: tuple[int, int]) -> None:
            super().ensure_output_version(min(version, (1, 7)))

        def register_extension(self, ext: Any) -> None:
            if str(getattr(ext, "prefix_name", "")) == "/ISO_":
                return  # ISO 32000-2 extensions (32001/32002) presuppose PDF 2.0
            super().register_extension(ext)

    return PdfA3Writer(stream)


def _align_info_producer(writer: Any) -> None:
    """Set Info /Producer to pyHanko's name in the revision being signed, because pyHanko will
    set XMP pdf:Producer to exactly that (see the module docstring). No-op if already so."""
    from pyhanko.pdf_utils import generic

    try:
        info_ref = writer.trailer.raw_get("/Info")
    except KeyError:
        return  # no Info dictionary: nothing can disagree with the XMP
    info = info_ref.get_object()
    if info.get("/Producer") != PDF_PRODUCER:
        info["/Producer"] = generic.TextStringObject(PDF_PRODUCER)
        writer.update_container(info)


def _make_pyhanko_signer(material: _KeyMaterial) -> Signer:
    """A pyHanko Signer that keeps the parsed key. pyHanko's SimpleSigner re-parses its key on
    every raw signature (twice per PDF; ~33 ms each for RSA), and SimpleSigner.load ignores
    subclasses, so we implement the one async method ourselves."""
    from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1
    from pyhanko.sign.signers import Signer
    from pyhanko_certvalidator.registry import SimpleCertificateStore
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    class _CachedKeySigner(Signer):
        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            return _sign_with(material.key, data, get_pyca_cryptography_hash(digest_algorithm))

    store = SimpleCertificateStore()
    store.register_multiple([translate_pyca_cryptography_cert_to_asn1(c) for c in material.chain])
    return _CachedKeySigner(
        signing_cert=translate_pyca_cryptography_cert_to_asn1(material.certificate),
        cert_registry=store,
        embed_roots=True,  # the CA travels in the CMS too, so any verifier can build the path
    )
