"""The provider key: PAdES certification signatures on PDFs, DSSE envelopes on HTML/JSON, and raw
signatures on evidence-log checkpoints.

One PKCS#12 file holds the key, its certificate and the chain; nothing here logs or repeats the
password. pyHanko is imported lazily in ``sign_pdf``: it costs ~0.3 s, and checkpoint signing and
DSSE do not need it.

PAdES level: B-B by default; B-T (an RFC 3161 signature timestamp token in the CMS unsigned
attributes, from the timestamp authority in ``provider.signing.tsa_url``) when the signer is given
``TimestampSettings``. A timestamp authority that cannot be reached, times out, answers anything
but a granted, well-formed token for exactly our signature, or (with ``tsa_ca_file``) is not
issued by that CA makes ``sign_pdf`` raise ``SigningError`` naming the URL and the problem:
there is no silent fall-back to B-B, since a document without the timestamp the configuration
promises would claim less than the provider intends. DSSE envelopes and checkpoints are never
timestamped.

PDF/A note for the renderer: pyHanko *replaces* XMP pdf:Producer with its own name but *appends*
to Info /Producer, which leaves a signed PDF/A with Info and XMP disagreeing. Render with Info
/Producer = ``PDF_PRODUCER`` (e.g. a WeasyPrint finisher setting ``pdf.info['Producer']``);
``sign_pdf`` also sets it in the signing revision if the renderer did not, so both agree.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.version import __version__ as _PYHANKO_VERSION

from attest.canonical import canonical_json
from attest.errors import AttestError

if TYPE_CHECKING:
    from asn1crypto import cms
    from pyhanko.sign.signers import Signer
    from pyhanko.sign.timestamps import TimeStamper

    from attest.config import LoadedConfig

# What pyHanko writes into XMP pdf:Producer when it signs (pyhanko.pdf_utils.metadata.model.VENDOR,
# e.g. "pyHanko 0.38.0"; spelled out because importing that module costs ~0.1 s). The renderer sets
# Info /Producer to this so PDF/A's "Info and XMP agree" rule still holds after signing.
PDF_PRODUCER: str = "pyHanko " + _PYHANKO_VERSION

DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
DSSE_SUFFIX = ".dsse.json"

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class SigningError(AttestError):
    """The provider key cannot be loaded or cannot sign, or the timestamp authority failed.
    Messages name files and URLs, never secrets. The CLI prints it and exits 2."""


@dataclass(frozen=True)
class TimestampSettings:
    """Where signature timestamps come from (``provider.signing.tsa_*``)."""

    url: str
    timeout_s: float = 10.0
    # Trust anchors for the TSA's certificate. Empty: the token is checked for integrity (it
    # stamps our signature, its signature verifies) but its chain is not judged at signing.
    ca_certs: tuple[x509.Certificate, ...] = ()
    auth: tuple[str, str] | None = field(default=None, repr=False)  # HTTP basic (user, password)

    @property
    def where(self) -> str:
        """The URL without any query string (which could carry an API key)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def load_certificates(path: Path, what: str) -> list[x509.Certificate]:
    """Certificates from a PEM file (several allowed) or one DER certificate."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise SigningError(f"cannot read {what} {path}: {e.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise SigningError(f"{what} {path} holds no readable X.509 certificate") from None
    return certs


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``
    (lengths in ASCII decimal bytes). Signing this, not the bare payload, binds the type too."""
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 (hex) of the certificate's DER: the key id in envelopes and checkpoints."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _sign_with(key: SigningKey, data: bytes, hash_algorithm: hashes.HashAlgorithm,
               deterministic: bool = False) -> bytes:
    """*deterministic*: ECDSA nonces per RFC 6979, so the same bytes give the same signature
    (RSA PKCS#1 v1.5 always does); an evidence pack built twice is then identical."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hash_algorithm, deterministic_signing=deterministic))
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

    def __init__(self, material: _KeyMaterial, timestamp: TimestampSettings | None = None) -> None:
        self._material = material
        self._timestamp = timestamp
        self._pdf_signer: Signer | None = None  # built on first sign_pdf
        self._timestamper: TimeStamper | None = None  # built on first sign_pdf, if configured

    @classmethod
    def load(cls, p12_path: Path, password: bytes, *, timestamp: TimestampSettings | None = None) -> ProviderSigner:
        """The key from PKCS#12; with *timestamp*, PDFs are signed PAdES B-T, else B-B."""
        return cls(_read_pkcs12(Path(p12_path), password), timestamp)

    @classmethod
    def from_config(cls, loaded: LoadedConfig) -> ProviderSigner:
        """The signer ``provider.signing`` describes: the PKCS#12 key and, when ``tsa_url`` is
        set, its timestamp authority (credentials and ``tsa_ca_file`` resolved now)."""
        s = loaded.model.provider.signing
        timestamp = None
        if s.tsa_url:
            timestamp = TimestampSettings(url=s.tsa_url, timeout_s=s.tsa_timeout_s,
                                          ca_certs=tuple(loaded.tsa_ca_certificates()),
                                          auth=loaded.tsa_credentials())
        return cls.load(loaded.resolve(s.pkcs12_file), loaded.signing_password(), timestamp=timestamp)

    @property
    def timestamp_settings(self) -> TimestampSettings | None:
        return self._timestamp

    @property
    def pades_level(self) -> str:
        """"B-T" when PDFs get a signature timestamp, else "B-B"."""
        return "B-T" if self._timestamp is not None else "B-B"

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

    def sign_bytes(self, data: bytes, *, deterministic: bool = False) -> bytes:
        """ECDSA-SHA256 (DER) or RSA PKCS#1 v1.5 SHA-256 over *data* (RFC 6979 nonces when
        *deterministic*)."""
        return _sign_with(self._material.key, data, hashes.SHA256(), deterministic)

    # --- DSSE over an in-toto Statement -------------------------------------------------------

    def dsse_envelope(
        self, subject_name: str, subject_bytes: bytes, predicate_type: str, predicate: dict[str, Any],
        *, deterministic: bool = False,
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
        signature = self.sign_bytes(pae(DSSE_PAYLOAD_TYPE, payload), deterministic=deterministic)
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
        """Add a PAdES certification signature (DocMDP P=3: forms and annotations allowed, so a
        recipient's stamp added later keeps it valid): B-T with a signature timestamp token when
        a timestamp authority is configured, else B-B. Invisible: an appearance would need a
        font, and pyHanko's default one is not embedded, which breaks PDF/A.

        Raises ``SigningError`` (and returns nothing) if the timestamp authority fails."""
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
            out = signers.sign_pdf(writer, meta, signer=self._pyhanko_signer(), timestamper=self._pyhanko_timestamper())
        except _TimestampFailure as e:
            raise SigningError(self._timestamp_problem(str(e))) from None
        except (PdfError, PyHankoSigningError) as e:  # e.g. already signed, or encrypted
            raise SigningError(f"cannot sign the PDF: {e}") from None
        data: bytes = out.getvalue()
        return data

    def check_timestamp_authority(self) -> None:
        """Ask the timestamp authority for one token now (over a dummy digest; pyHanko needs
        one anyway to size the first signature, and keeps it for this signer's life), so that a
        TSA that is down or misconfigured is found before anything is evaluated or rendered.
        No-op without a TSA, or once a token was obtained. Raises ``SigningError``."""
        import asyncio

        from pyhanko.sign import DEFAULT_MD

        timestamper = self._pyhanko_timestamper()
        if timestamper is None:
            return
        try:
            asyncio.run(timestamper.async_dummy_response(DEFAULT_MD))
        except _TimestampFailure as e:
            raise SigningError(self._timestamp_problem(str(e))) from None

    def _timestamp_problem(self, problem: str) -> str:
        assert self._timestamp is not None
        return (f"cannot timestamp the PDF signature: the timestamp authority at {self._timestamp.where} "
                f"{problem}. Nothing was signed: with provider.signing.tsa_url set, a PDF is signed "
                "PAdES B-T or not at all")

    def _pyhanko_signer(self) -> Signer:
        if self._pdf_signer is None:
            self._pdf_signer = _make_pyhanko_signer(self._material)
        return self._pdf_signer

    def _pyhanko_timestamper(self) -> TimeStamper | None:
        if self._timestamp is not None and self._timestamper is None:
            self._timestamper = _make_timestamper(self._timestamp)
        return self._timestamper


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


# --- RFC 3161 signature timestamps -------------------------------------------------------------


class _TimestampFailure(Exception):
    """The TSA failed; the message completes "the timestamp authority at URL …"."""


def _make_timestamper(settings: TimestampSettings) -> TimeStamper:
    """pyHanko's HTTPTimeStamper (aiohttp), checking every token before pyHanko embeds it.

    pyHanko's own handling checks the PKIStatus and the nonce only; it would embed a token over
    another digest or with a broken signature, and reports a token-less rejection (which
    asn1crypto cannot parse), a non-DER body or an HTTP error without saying which. Each of
    these becomes a ``_TimestampFailure`` with a plain-English reason here."""
    from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError

    class _CheckedTimeStamper(HTTPTimeStamper):
        async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
            nonce, request = self.request_cms(message_digest, md_algorithm)
            try:
                response = await self.async_request_tsa_response(request)
                raw = response.dump()
            except TimestampRequestError as e:
                raise _TimestampFailure(_transport_problem(e, settings)) from None
            except (ValueError, TypeError):  # asn1crypto could not even read the outer header
                raise _TimestampFailure("answered with a body that is not a DER TimeStampResp") from None
            token = _granted_token(raw, nonce)
            await _check_token(token, message_digest, md_algorithm, settings)
            return token

    # Basic authentication as a header: aiohttp deprecates its auth= parameter (and pyHanko's
    # auth= uses it). The header dict is the timestamper's own, never logged.
    headers = {"Authorization": _basic_auth(*settings.auth)} if settings.auth else None
    return _CheckedTimeStamper(settings.url, timeout=settings.timeout_s, headers=headers)


def _basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _transport_problem(error: BaseException, settings: TimestampSettings) -> str:
    """What went wrong on the wire, from the exception chain pyHanko/aiohttp raise."""
    import aiohttp

    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, aiohttp.ClientResponseError) and not isinstance(cause, aiohttp.ContentTypeError):
            if cause.status in (401, 403):
                return f"refused our credentials (HTTP {cause.status} {cause.message})"
            return f"answered HTTP {cause.status} {cause.message}".rstrip()
        if isinstance(cause, aiohttp.ContentTypeError):
            return f"answered with something other than a timestamp reply ({cause.message})"
        if isinstance(cause, TimeoutError):
            return f"did not answer within tsa_timeout_s = {settings.timeout_s:g} s"
        if isinstance(cause, aiohttp.ClientConnectorError):
            return f"cannot be reached ({cause.os_error.strerror or cause.os_error})"
        if isinstance(cause, aiohttp.ClientError | OSError) and cause.__cause__ is None:
            return f"cannot be reached ({type(cause).__name__}: {cause})"
        cause = cause.__cause__ or cause.__context__
    return f"cannot be reached ({error})"


def _status_only_response() -> Any:
    """An asn1crypto class for a token-less TimeStampResp (RFC 3161 allows it; asn1crypto's
    TimeStampResp requires the token, so it cannot read a plain rejection)."""
    from asn1crypto import core, tsp

    class StatusOnly(core.Sequence):
        _fields: ClassVar[list[tuple[str, type]]] = [("status", tsp.PKIStatusInfo)]

    return StatusOnly


def _granted_token(raw: bytes, nonce: int | None) -> cms.ContentInfo:
    from asn1crypto import tsp

    try:
        response = tsp.TimeStampResp.load(raw)
        status = response["status"]
        granted = status["status"].native in ("granted", "granted_with_mods")
    except (ValueError, TypeError, KeyError):
        try:  # a rejection without a token
            status = _status_only_response().load(raw)["status"]
            status.native  # noqa: B018 - parse it all now
            granted = False
        except (ValueError, TypeError, KeyError):
            raise _TimestampFailure("answered with a body that is not a DER TimeStampResp") from None
    if not granted:
        text = "; ".join(status["status_string"].native or []) or "no reason given"
        fail = ", ".join(sorted(status["fail_info"].native or [])) or "none"
        raise _TimestampFailure(
            f"refused the request: PKIStatus {status['status'].native}, statusString \"{text}\", failInfo {fail}"
        )
    try:
        token: cms.ContentInfo = response["time_stamp_token"]
        if token["content_type"].native != "signed_data":
            raise ValueError("not SignedData")
        tst_info = token["content"]["encap_content_info"]["content"].parsed
        nonce_back = tst_info["nonce"].native
    except (ValueError, TypeError, KeyError, AttributeError):
        raise _TimestampFailure("granted the request but sent a malformed timestamp token") from None
    if nonce is not None and nonce_back != nonce:
        raise _TimestampFailure("sent back a token with another nonce (a replayed or misrouted answer)")
    return token


async def _check_token(
    token: cms.ContentInfo, message_digest: bytes, md_algorithm: str, settings: TimestampSettings
) -> None:
    """The token must stamp *message_digest*, verify, carry a TSA certificate for timeStamping
    and, with tsa_ca_file, chain to it."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    signed_data = token["content"]
    imprint = signed_data["encap_content_info"]["content"].parsed["message_imprint"]
    if imprint["hash_algorithm"]["algorithm"].native != md_algorithm or imprint["hashed_message"].native != bytes(
        message_digest
    ):
        raise _TimestampFailure("sent back a token that stamps another digest than the one we sent")
    if settings.ca_certs:
        roots = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in settings.ca_certs]
    else:
        # No CA to judge the TSA by: anchor on the certificates the token carries, so that its
        # signature is still checked (without a path-building failure logged for nothing).
        roots = [c.chosen for c in signed_data["certificates"] or []]
    context = ValidationContext(trust_roots=roots, allow_fetching=False, moment=datetime.now(UTC))
    try:
        status = await validate_tst_signed_data(signed_data, context, lambda _algo: bytes(message_digest))
    except (SignatureValidationError, ValueError, TypeError, KeyError) as e:
        raise _TimestampFailure(f"sent back a token that cannot be validated ({e})") from None
    if not status["intact"]:
        raise _TimestampFailure("sent back a token whose content does not match its own signed digest")
    if not status["valid"]:
        raise _TimestampFailure("sent back a token whose signature does not verify")
    tsa_cert = status["signing_cert"]
    who = f"'{tsa_cert.subject.native.get('common_name', tsa_cert.subject.human_friendly)}'"
    usages = tsa_cert.extended_key_usage_value.native if tsa_cert.extended_key_usage_value else []
    if "time_stamping" not in usages:  # RFC 3161 §2.3; verifiers (pyHanko) refuse such a token
        raise _TimestampFailure(f"signs with certificate {who}, whose extended key usage lacks timeStamping")
    if settings.ca_certs and status["trust_problem_indic"] is not None:
        indic = status["trust_problem_indic"]
        raise _TimestampFailure(
            f"signs with certificate {who}, which does not chain to tsa_ca_file for time stamping "
            f"({getattr(indic, 'standard_name', indic)})"
        )


def signature_timestamp_tokens(signer_info: cms.SignerInfo) -> list[cms.ContentInfo]:
    """The id-aa-signatureTimeStampToken values (RFC 3161 Appendix A) in a SignerInfo's
    unsigned attributes: what makes a PAdES signature B-T."""
    attrs = signer_info["unsigned_attrs"]
    if not attrs:
        return []
    tokens: list[cms.ContentInfo] = []
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            tokens.extend(attr["values"])
    return tokens
