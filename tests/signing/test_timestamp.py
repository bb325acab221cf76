"""PAdES B-T: RFC 3161 signature timestamps from a real timestamp authority on loopback.

The TSA (`attest.lab.tsa`) speaks DER over HTTP like a production one; fixtures: ``ts_pki`` (a demo
PKI whose CA also issued a TSA certificate), ``tsa`` (that TSA serving on 127.0.0.1, a fresh
server per test so faults can be switched on), ``bt_pdf`` (one document signed B-T).
No test asserts a duration: the "slow" TSA is only ever slower than a short ``timeout_s``.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos, cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from attest.config import ConfigError, LoadedConfig, load_config
from attest.lab.server import LabProcess
from attest.lab.tsa import LAB_POLICY_OID, QUERY_TYPE, REPLY_TYPE, TimestampAuthority, TsaServer
from attest.lab.world import demo_world
from attest.pki import DemoPki, create_demo_pki
from attest.signing import ProviderSigner, SigningError, TimestampSettings, signature_timestamp_tokens
from attest.verify import load_trust_anchors, verify_file, verify_pdf
from attest.workspace import config_document, init_workspace, signing_document, write_config

from .conftest import PASSWORD, pdfsig_lines, render_pdf

ID_AA_SIGNATURE_TIME_STAMP_TOKEN = "1.2.840.113549.1.9.16.2.14"  # RFC 3161 Appendix A


@dataclass(frozen=True)
class TsPki:
    pki: DemoPki
    authority: TimestampAuthority  # issued by pki's CA
    foreign_pki: DemoPki  # another CA with its own TSA: "someone else's" timestamp authority
    foreign_authority: TimestampAuthority
    unsigned_pdf: bytes

    def anchors(self) -> list[x509.Certificate]:
        return load_trust_anchors([self.pki.ca_cert])

    def signer(self, url: str | None = None, **settings: Any) -> ProviderSigner:
        timestamp = TimestampSettings(url, **settings) if url else None
        return ProviderSigner.load(self.pki.signer_p12, PASSWORD, timestamp=timestamp)


@pytest.fixture(scope="session")
def ts_pki(tmp_path_factory: pytest.TempPathFactory) -> TsPki:
    base = tmp_path_factory.mktemp("ts-pki")
    pki = create_demo_pki(base / "demo", "Voce Cloud S.r.l.", PASSWORD, tsa=True)
    foreign = create_demo_pki(base / "foreign", "Public Time Ltd", b"foreign", tsa=True)
    assert pki.tsa_p12 is not None and foreign.tsa_p12 is not None
    return TsPki(
        pki=pki,
        authority=TimestampAuthority.from_pkcs12(pki.tsa_p12, PASSWORD),
        foreign_pki=foreign,
        foreign_authority=TimestampAuthority.from_pkcs12(foreign.tsa_p12, b"foreign"),
        unsigned_pdf=render_pdf(),
    )


@pytest.fixture
def tsa(ts_pki: TsPki) -> Iterator[TsaServer]:
    """The lab TSA on 127.0.0.1 (any free port), stopped after the test."""
    with TsaServer(ts_pki.authority) as server:
        yield server


@pytest.fixture(scope="session")
def bt_pdf(ts_pki: TsPki) -> bytes:
    with TsaServer(ts_pki.authority) as server:
        return ts_pki.signer(server.url).sign_pdf(ts_pki.unsigned_pdf, reason="Monthly attestation")


def _write(tmp_path: Path, data: bytes, name: str = "AT-7K3M9QX2D4F8HJ6TNV1R.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the signature is B-T ------------------------------------------------------------------------


def _signer_info(pdf: bytes) -> cms.SignerInfo:
    [sig] = PdfFileReader(BytesIO(pdf)).embedded_signatures
    info: cms.SignerInfo = sig.signer_info
    return info


def test_bt_token_is_in_the_cms_unsigned_attributes(bt_pdf: bytes) -> None:
    """pdfsig does not show timestamps: read the CMS itself."""
    attrs = _signer_info(bt_pdf)["unsigned_attrs"]
    assert [a["type"].dotted for a in attrs] == [ID_AA_SIGNATURE_TIME_STAMP_TOKEN]
    [token] = attrs[0]["values"]
    assert token["content_type"].native == "signed_data"
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert tst_info["policy"].dotted == LAB_POLICY_OID
    # the imprint is the digest of the signature value: it stamps *this* signature
    signature = _signer_info(bt_pdf)["signature"].native
    assert tst_info["message_imprint"]["hashed_message"].native == hashlib.sha256(signature).digest()


def test_pyhanko_reports_a_valid_trusted_timestamp_of_now(ts_pki: TsPki, bt_pdf: bytes) -> None:
    from asn1crypto import x509 as asn1_x509

    [sig] = PdfFileReader(BytesIO(bt_pdf)).embedded_signatures
    root = asn1_x509.Certificate.load(ts_pki.anchors()[0].public_bytes(Encoding.DER))
    status = validate_pdf_signature(sig, ValidationContext(trust_roots=[root], allow_fetching=False))
    ts = status.timestamp_validity
    assert ts is not None and ts.intact and ts.valid and ts.trusted
    assert abs(ts.timestamp - datetime.now(UTC)) < timedelta(minutes=2)  # a clock reading, not a duration
    assert status.bottom_line
    assert "TIMESTAMP_TOKEN<INTACT:TRUSTED>" in status.summary()


def test_bt_keeps_certification_and_pdfa(bt_pdf: bytes) -> None:
    import pikepdf

    with pikepdf.open(BytesIO(bt_pdf)) as doc:
        sig = doc.Root.Perms.DocMDP
        assert sig.SubFilter == "/ETSI.CAdES.detached"
        assert int(sig.Reference[0].TransformParams.P) == 3
        with doc.open_metadata(set_pikepdf_as_editor=False) as xmp:
            assert xmp["{http://www.aiim.org/pdfa/ns/id/}part"] == "3"
        assert doc.pdf_version == "1.7"
        assert "attestation.json" in doc.attachments


def test_pdfsig_still_says_valid_and_trusted(ts_pki: TsPki, bt_pdf: bytes, tmp_path: Path) -> None:
    import shutil
    import subprocess

    if not (shutil.which("pdfsig") and shutil.which("certutil")):
        pytest.skip("pdfsig/certutil not installed (apt: poppler-utils, libnss3-tools)")
    db = tmp_path / "nssdb"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-n", "demo-ca", "-t", "C,C,C", "-i", ts_pki.pki.ca_cert],
                   check=True, capture_output=True)
    lines = pdfsig_lines(db, _write(tmp_path, bt_pdf))
    assert "Total document signed" in lines
    assert "Signature Validation: Signature is Valid." in lines
    assert "Certificate Validation: Certificate is Trusted." in lines


# --- attest verify ---------------------------------------------------------------------------------


def test_verify_reports_the_timestamp(ts_pki: TsPki, bt_pdf: bytes, tmp_path: Path) -> None:
    report = verify_file(_write(tmp_path, bt_pdf), ts_pki.anchors())
    assert report.ok, report.reasons
    assert report.signer == "Voce Cloud S.r.l. DEMO attestation signer – not trusted"
    assert report.details["signer_fingerprint"] == ts_pki.signer().fingerprint
    assert report.signing_time is not None and report.details["signing_time_claimed"]
    assert report.details["pades_level"] == "B-T"
    ts = report.details["timestamp"]
    assert ts["present"] and ts["trusted"] and ts["signature_valid"] and ts["token_intact"] and ts["imprint_matches"]
    assert ts["tsa"] == "Voce Cloud S.r.l. DEMO timestamp authority – not trusted"
    tsa_cert = ts_pki.authority.certificate
    assert ts["tsa_fingerprint"] == hashlib.sha256(tsa_cert.public_bytes(Encoding.DER)).hexdigest()
    assert ts["policy"] == LAB_POLICY_OID and ts["serial_number"] in ts_pki.authority.issued
    assert report.timestamp is not None and ts["time"] == report.timestamp.isoformat().replace("+00:00", "Z")
    assert abs(report.timestamp - report.signing_time) < timedelta(minutes=2)


def test_without_tsa_url_the_document_is_bb_and_verify_says_no_timestamp(ts_pki: TsPki, tmp_path: Path) -> None:
    signer = ts_pki.signer()
    assert signer.pades_level == "B-B"
    pdf = signer.sign_pdf(ts_pki.unsigned_pdf)
    assert not _signer_info(pdf)["unsigned_attrs"]
    report = verify_pdf(_write(tmp_path, pdf), ts_pki.anchors())
    assert report.ok, report.reasons  # no timestamp is not a failure
    assert report.details["pades_level"] == "B-B"
    assert report.details["timestamp"]["present"] is False
    assert "no timestamp" in report.details["timestamp"]["summary"]
    assert report.timestamp is None and report.signing_time is not None


def test_tsa_of_another_ca_is_untrusted_unless_its_ca_is_given(ts_pki: TsPki, tmp_path: Path) -> None:
    with TsaServer(ts_pki.foreign_authority) as foreign:
        pdf = ts_pki.signer(foreign.url).sign_pdf(ts_pki.unsigned_pdf)
    path = _write(tmp_path, pdf)
    report = verify_pdf(path, ts_pki.anchors())
    assert report.valid and not report.trusted and not report.ok
    assert report.details["timestamp"]["trusted"] is False
    [reason] = report.reasons
    assert "timestamp authority 'Public Time Ltd DEMO timestamp authority – not trusted' is not trusted" in reason
    assert "tsa_ca_file" in reason
    foreign_ca = load_trust_anchors([ts_pki.foreign_pki.ca_cert])
    report = verify_pdf(path, ts_pki.anchors(), tsa_trust_anchors=foreign_ca)
    assert report.ok, report.reasons
    # the TSA's CA is trusted for the timestamp only, never for the signer
    assert not verify_pdf(path, foreign_ca, tsa_trust_anchors=foreign_ca).trusted


# --- tampered timestamp tokens -------------------------------------------------------------------------


def _replace_cms(pdf: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """Rewrite the signature's CMS (/Contents, outside the signed byte range) with *change*,
    padded to the same size, so that the document bytes the signature covers stay the same."""
    [sig] = PdfFileReader(BytesIO(pdf)).embedded_signatures
    _, first_end, second_start, _ = sig.byte_range
    hex_start, hex_end = first_end + 1, second_start - 1  # inside < >
    old_hex = pdf[hex_start:hex_end]
    der = cms.ContentInfo.load(bytes.fromhex(old_hex.decode()), strict=False).dump()
    new_hex = change(der).hex().encode()
    assert len(new_hex) <= len(old_hex)
    return pdf[:hex_start] + new_hex.ljust(len(old_hex), b"0") + pdf[hex_end:]


def test_altered_timestamp_token_fails_verification(ts_pki: TsPki, bt_pdf: bytes, tmp_path: Path) -> None:
    token = signature_timestamp_tokens(_signer_info(bt_pdf))[0]
    tsa_signature = token["content"]["signer_infos"][0]["signature"].native

    def flip_tsa_signature(der: bytes) -> bytes:
        at = der.index(tsa_signature) + len(tsa_signature) - 1
        return der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]

    report = verify_pdf(_write(tmp_path, _replace_cms(bt_pdf, flip_tsa_signature)), ts_pki.anchors())
    assert not report.valid and not report.ok
    assert report.details["pyhanko_summary"].startswith("INTACT:")  # the signature itself is untouched
    assert report.details["timestamp"]["signature_valid"] is False
    assert any("timestamp token of signature 'AttestSignature' does not verify" in r for r in report.reasons), (
        report.reasons
    )
    assert report.timestamp is None


def test_altered_gen_time_fails_verification(ts_pki: TsPki, bt_pdf: bytes, tmp_path: Path) -> None:
    tst_info = signature_timestamp_tokens(_signer_info(bt_pdf))[0]["content"]["encap_content_info"]["content"]
    gen_time = tst_info.parsed["gen_time"].dump()

    def move_clock(der: bytes) -> bytes:  # one digit of genTime's year: "2026" becomes "2027" (or so)
        at = der.index(gen_time) + 5
        return der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]

    report = verify_pdf(_write(tmp_path, _replace_cms(bt_pdf, move_clock)), ts_pki.anchors())
    assert not report.valid
    assert any("timestamp token of signature 'AttestSignature' was altered" in r for r in report.reasons), (
        report.reasons
    )


def test_timestamp_token_of_another_signature_fails_verification(
    ts_pki: TsPki, bt_pdf: bytes, tsa: TsaServer, tmp_path: Path
) -> None:
    """A genuine, well-signed token transplanted from another document: its imprint is wrong."""
    other = ts_pki.signer(tsa.url).sign_pdf(ts_pki.unsigned_pdf)
    foreign_token = signature_timestamp_tokens(_signer_info(other))[0]

    def transplant(der: bytes) -> bytes:
        content_info = cms.ContentInfo.load(der)
        signed_data = content_info["content"]
        signer_infos = signed_data["signer_infos"]
        signer_info = signer_infos[0]
        signer_info["unsigned_attrs"] = cms.CMSAttributes(
            [cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [foreign_token]})]
        )
        # Re-set each parent so it re-encodes from its children as they are now (asn1crypto's
        # dump(force=True) would re-encode every value, which is slow and could change bytes).
        signer_infos[0] = signer_info
        signed_data["signer_infos"] = signer_infos
        content_info["content"] = signed_data
        new: bytes = content_info.dump()
        return new

    report = verify_pdf(_write(tmp_path, _replace_cms(bt_pdf, transplant)), ts_pki.anchors())
    assert not report.valid
    assert report.details["pyhanko_summary"].startswith("INTACT:")
    assert report.details["timestamp"]["imprint_matches"] is False
    assert any("does not stamp this signature" in r for r in report.reasons), report.reasons


# --- a TSA that fails: SigningError, nothing signed, never B-B -------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("http500", "answered HTTP 500"),
        ("refuse", 'refused the request: PKIStatus rejection, statusString "lab TSA refuses all requests", '
                   "failInfo system_failure"),
        ("garbage", "answered with a body that is not a DER TimeStampResp"),
        ("slow", "did not answer within tsa_timeout_s = 0.5 s"),
        ("bad_imprint", "sent back a token that stamps another digest than the one we sent"),
    ],
    ids=["http500", "refuse", "garbage", "slow", "bad_imprint"],
)
def test_tsa_faults_raise_signing_error_and_write_nothing(
    ts_pki: TsPki, tsa: TsaServer, tmp_path: Path, fault: str, message: str
) -> None:
    from attest.issue import Rendered, write_documents
    from tests.render.conftest import build_attestation

    tsa.fault = fault  # type: ignore[assignment]
    signer = ts_pki.signer(tsa.url, timeout_s=0.5)
    with pytest.raises(SigningError) as err:
        signer.sign_pdf(ts_pki.unsigned_pdf)
    text = str(err.value)
    assert f"the timestamp authority at {tsa.url} {message}" in text, text
    assert "PAdES B-T or not at all" in text
    # where documents are written, nothing is: the PDF is signed before any file is
    out = tmp_path / "documents"
    rendered = Rendered(html="<html></html>", pdf=ts_pki.unsigned_pdf, layout_s=0, write_s=0, warnings=0)
    with pytest.raises(SigningError):
        write_documents(build_attestation(), signer, out, rendered)
    assert not out.exists() or list(out.iterdir()) == []


def test_tsa_down_raises_signing_error(ts_pki: TsPki, tsa: TsaServer) -> None:
    url = tsa.url
    tsa.stop()
    signer = ts_pki.signer(url, timeout_s=5)
    with pytest.raises(SigningError, match=r"at http://127\.0\.0\.1:\d+/tsa cannot be reached"):
        signer.sign_pdf(ts_pki.unsigned_pdf)
    with pytest.raises(SigningError, match="cannot be reached"):
        signer.check_timestamp_authority()  # what a caller can run before rendering anything


def test_tsa_not_issued_by_tsa_ca_file_is_refused_at_signing(ts_pki: TsPki) -> None:
    with TsaServer(ts_pki.foreign_authority) as foreign:
        signer = ts_pki.signer(foreign.url, ca_certs=tuple(ts_pki.anchors()))
        with pytest.raises(SigningError, match="does not chain to tsa_ca_file"):
            signer.sign_pdf(ts_pki.unsigned_pdf)
        ok = ts_pki.signer(foreign.url, ca_certs=tuple(load_trust_anchors([ts_pki.foreign_pki.ca_cert])))
        assert signature_timestamp_tokens(_signer_info(ok.sign_pdf(ts_pki.unsigned_pdf)))


def test_tsa_certificate_without_timestamping_usage_is_refused(ts_pki: TsPki) -> None:
    """A token signed with a certificate that may not stamp time (here: the document signer's)."""
    impostor = TimestampAuthority.from_pkcs12(ts_pki.pki.signer_p12, PASSWORD)
    with TsaServer(impostor) as server, pytest.raises(SigningError, match="extended key usage lacks timeStamping"):
        ts_pki.signer(server.url).sign_pdf(ts_pki.unsigned_pdf)


def test_basic_auth(ts_pki: TsPki) -> None:
    with TsaServer(ts_pki.authority, auth=("attest", "s3cret-tsa")) as server:
        with pytest.raises(SigningError, match=r"refused our credentials \(HTTP 401"):
            ts_pki.signer(server.url).sign_pdf(ts_pki.unsigned_pdf)
        wrong = ts_pki.signer(server.url, auth=("attest", "nope"))
        with pytest.raises(SigningError) as err:
            wrong.sign_pdf(ts_pki.unsigned_pdf)
        assert "nope" not in str(err.value) and "nope" not in repr(wrong.timestamp_settings)
        pdf = ts_pki.signer(server.url, auth=("attest", "s3cret-tsa")).sign_pdf(ts_pki.unsigned_pdf)
        assert signature_timestamp_tokens(_signer_info(pdf))


# --- the lab TSA on the wire -------------------------------------------------------------------------


def _post(url: str, body: bytes, content_type: str = QUERY_TYPE) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def _request(digest: bytes = bytes(32), algorithm: str = "sha256", **extra: Any) -> bytes:
    req = {"version": "v1",
           "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                               "hashed_message": digest},
           **extra}
    return tsp.TimeStampReq(req).dump()


def test_lab_tsa_speaks_rfc3161(ts_pki: TsPki, tsa: TsaServer) -> None:
    digest = hashlib.sha256(b"attestation").digest()
    serials = []
    for nonce in (0x0123456789ABCDEF, 42):
        status, content_type, body = _post(tsa.url, _request(digest, nonce=nonce, cert_req=True))
        assert (status, content_type) == (200, REPLY_TYPE)
        response = tsp.TimeStampResp.load(body)
        assert response["status"]["status"].native == "granted"
        signed_data = response["time_stamp_token"]["content"]
        info = signed_data["encap_content_info"]["content"].parsed
        assert info["nonce"].native == nonce  # echoed
        assert info["policy"].dotted == LAB_POLICY_OID
        assert info["message_imprint"]["hashed_message"].native == digest
        [tsa_der] = [c.chosen for c in signed_data["certificates"] if c.chosen.subject == info["tsa"].chosen.untag()]
        assert tsa_der.subject.native["common_name"] == "Voce Cloud S.r.l. DEMO timestamp authority – not trusted"
        serials.append(info["serial_number"].native)
        tsa_cert = x509.load_der_x509_certificate(tsa_der.dump())
        eku = tsa_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert serials[0] < serials[1]  # serial numbers only grow
    # without certReq the token carries no certificates
    _, _, body = _post(tsa.url, _request(digest))
    assert not tsp.TimeStampResp.load(body)["time_stamp_token"]["content"]["certificates"]


@pytest.mark.parametrize(
    ("body", "fail_info"),
    [
        (b"\x30\x03\x02\x01\x01", "bad_data_format"),
        (_request(bytes(20)), "bad_data_format"),  # a sha256 imprint of 20 bytes
        (_request(bytes(16), algorithm="md5"), "bad_alg"),
        (_request(req_policy="1.2.3.4"), "unaccepted_policy"),
    ],
    ids=["not-a-request", "short-digest", "md5", "other-policy"],
)
def test_lab_tsa_rejects_what_a_tsa_rejects(tsa: TsaServer, body: bytes, fail_info: str) -> None:
    from attest.signing import _status_only_response

    status, content_type, reply = _post(tsa.url, body)
    assert (status, content_type) == (200, REPLY_TYPE)
    info = _status_only_response().load(reply)["status"]
    assert info["status"].native == "rejection" and info["fail_info"].native == {fail_info}


def test_lab_tsa_http_errors(tsa: TsaServer) -> None:
    assert _post(tsa.url, _request(), content_type="application/octet-stream")[0] == 415
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(tsa.url, timeout=10)
    assert err.value.code == 405


# --- configuration ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ws") / "ws"
    init_workspace(directory)
    assert (directory / "keys" / "demo-tsa.p12").is_file()  # `attest init` issues a demo TSA too
    return directory


def _load(workspace: Path, **signing: Any) -> LoadedConfig:
    doc = config_document(demo_world(), "https://127.0.0.1:9", False)
    doc["provider"]["signing"] = {**signing_document(), **signing}
    return load_config(write_config(workspace, doc))


def test_signing_defaults(workspace: Path) -> None:
    s = _load(workspace).model.provider.signing
    assert s.tsa_url is None and s.tsa_timeout_s == 10
    s = _load(workspace, tsa_url="https://tsa.example.com/rfc3161").model.provider.signing
    assert s.tsa_url == "https://tsa.example.com/rfc3161" and s.tsa_timeout_s == 10 and s.tsa_ca_file is None


@pytest.mark.parametrize(
    ("signing", "message"),
    [
        ({"tsa_url": "ftp://tsa.example.com"}, "tsa_url must be an http:// or https:// URL with a host"),
        ({"tsa_url": "https:///tsa"}, "with a host"),
        ({"tsa_url": "https://user:pw@tsa.example.com/"}, "tsa_url must not carry credentials"),
        ({"tsa_url": "https://tsa.example.com:http/"}, "is not a valid URL"),
        ({"tsa_url": "https://tsa.example.com", "tsa_timeout_s": 0}, "tsa_timeout_s"),
        ({"tsa_timeout_s": 5}, "tsa_timeout_s given without tsa_url"),
        ({"tsa_ca_file": "keys/demo-ca.pem"}, "tsa_ca_file given without tsa_url"),
        ({"tsa_url": "https://tsa.example.com", "tsa_password": "hunter2-tsa"},
         "tsa_password: secrets are not written in the config; use tsa_password_env or tsa_password_file"),
        ({"tsa_url": "https://tsa.example.com", "tsa_password_env": "TSA_PW"}, "needs both tsa_username"),
        ({"tsa_url": "https://tsa.example.com", "tsa_username": "u"}, "needs both tsa_username"),
        ({"tsa_url": "https://tsa.example.com", "tsa_username": "u", "tsa_password_env": "A",
          "tsa_password_file": "b"}, "at most one of tsa_password_env or tsa_password_file"),
        ({"tsa_url": "http://tsa.example.com", "tsa_username": "u", "tsa_password_env": "A"},
         "would travel in clear text"),
    ],
)
def test_bad_signing_settings_are_refused_at_load(workspace: Path, signing: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(workspace, **signing)
    assert "provider.signing" in str(err.value) and message in str(err.value), str(err.value)
    assert "hunter2-tsa" not in str(err.value)


def test_from_config_signs_bt_with_credentials_by_reference(workspace: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    password = (workspace / "secrets" / "signing-password").read_text().strip().encode()
    authority = TimestampAuthority.from_pkcs12(workspace / "keys" / "demo-tsa.p12", password)
    monkeypatch.setenv("ATTEST_TEST_TSA_PASSWORD", "tsa-pass-1")
    with TsaServer(authority, auth=("attest", "tsa-pass-1")) as server:
        loaded = _load(workspace, tsa_url=server.url, tsa_timeout_s=5, tsa_ca_file="keys/demo-ca.pem",
                       tsa_username="attest", tsa_password_env="ATTEST_TEST_TSA_PASSWORD")
        assert "tsa-pass-1" not in (workspace / "attest.yaml").read_text()
        signer = ProviderSigner.from_config(loaded)
        assert signer.pades_level == "B-T" and signer.timestamp_settings is not None
        assert signer.timestamp_settings.timeout_s == 5 and len(signer.timestamp_settings.ca_certs) == 1
        pdf = signer.sign_pdf(render_pdf())
    anchors = load_trust_anchors([loaded.resolve(p) for p in loaded.model.provider.trust_anchors])
    report = verify_pdf(_write(tmp_path, pdf), anchors, tsa_trust_anchors=loaded.tsa_ca_certificates())
    assert report.ok and report.details["pades_level"] == "B-T", report.reasons


def test_missing_tsa_password_env_names_the_variable(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTEST_TEST_TSA_UNSET", raising=False)
    loaded = _load(workspace, tsa_url="https://tsa.example.com", tsa_username="u",
                   tsa_password_env="ATTEST_TEST_TSA_UNSET")
    with pytest.raises(ConfigError, match=r"provider\.signing\.tsa_password: environment variable "
                                          r"ATTEST_TEST_TSA_UNSET is not set"):
        ProviderSigner.from_config(loaded)


def test_demo_config_and_lab_process_serve_a_tsa(workspace: Path, tmp_path: Path) -> None:
    """What `attest demo` needs: the lab process serves the demo TSA, the workspace's signing
    settings point at it, and the signer the config describes signs B-T."""
    with LabProcess(tmp_path / "lab", tsa_p12=workspace / "keys" / "demo-tsa.p12",
                    tsa_password_file=workspace / "secrets" / "signing-password") as lab:
        doc = config_document(demo_world(), lab.url, False, tsa_url=lab.tsa_url)
        assert doc["provider"]["signing"]["tsa_url"] == lab.tsa_url
        loaded = load_config(write_config(workspace, doc))
        pdf = ProviderSigner.from_config(loaded).sign_pdf(render_pdf())
    anchors = load_trust_anchors([loaded.resolve(p) for p in loaded.model.provider.trust_anchors])
    report = verify_pdf(_write(tmp_path, pdf), anchors)
    assert report.ok and report.details["timestamp"]["tsa"].startswith("Esempio Cloud PBX DEMO timestamp"), (
        report.reasons
    )


def test_a_dumped_config_loads_again(workspace: Path) -> None:
    """Tools and tests re-validate `model_dump()` output, which carries every key with its default."""
    from attest.config import AttestConfig

    for signing in ({}, {"tsa_url": "https://tsa.example.com/", "tsa_ca_file": "keys/demo-ca.pem"}):
        model = _load(workspace, **signing).model
        assert AttestConfig.model_validate(model.model_dump(mode="json")) == model
