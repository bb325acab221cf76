"""A real RFC 3161 timestamp authority on loopback, for tests and `attest demo`.

It speaks the wire format a production TSA does (RFC 3161 §3.4): an HTTP POST of a DER
``TimeStampReq`` with ``Content-Type: application/timestamp-query``, answered by a DER
``TimeStampResp`` with ``Content-Type: application/timestamp-reply``. The token is a CMS
SignedData over a ``TSTInfo`` (policy OID, the request's message imprint, a serial number that
only grows, genTime, accuracy, the request's nonce echoed, the TSA's name), signed by a TSA
certificate whose extended key usage is timeStamping only, and critical (`attest.pki`,
``create_demo_pki(..., tsa=True)``). The signed attributes carry ESS signingCertificateV2
(RFC 5816), and the certificates travel in the token when the request asks (certReq).

* `TimestampAuthority` is the pure part: DER request in, DER response out. It rejects (with
  PKIStatus rejection and a failInfo) what a real TSA rejects: a request it cannot parse, an
  unknown hash algorithm or a digest of the wrong length, another policy, extensions.
* `TsaServer` serves it with the stdlib HTTP server on a background thread (127.0.0.1, any free
  port): ``with TsaServer(authority) as tsa: tsa.url``. Its ``fault`` makes it misbehave the
  ways a signer must survive: ``"refuse"`` (a PKIStatus rejection), ``"http500"``, ``"slow"``
  (answers only after ``slow_s`` or when stopped), ``"garbage"`` (a 200 timestamp-reply whose
  body is not DER) and ``"bad_imprint"`` (a well-signed token for another digest). With
  ``auth=(user, password)`` it wants HTTP basic authentication (401 otherwise).
* ``python -m attest.lab.tsa --p12 FILE --password-file FILE`` runs it alone and prints one JSON
  line ``{"url": ..., "pid": ...}``; `attest.lab.server` can start one beside the Proxmox lab.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ClassVar, Literal

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
# 2.999 is the ITU-T/ISO arc reserved for examples (X.660): a policy no real TSA can have.
LAB_POLICY_OID = "2.999.3161.1"
_MAX_REQUEST = 64 * 1024  # a TimeStampReq is ~60-200 bytes; anything huge is not one
# Digest lengths of the hash algorithms accepted in a message imprint.
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}

Fault = Literal["refuse", "http500", "slow", "garbage", "bad_imprint"]


class _StatusOnlyResp(core.Sequence):
    """A ``TimeStampResp`` without a token (RFC 3161 §2.4.2: timeStampToken is OPTIONAL, absent
    unless granted); asn1crypto's own class insists on the token."""

    _fields: ClassVar[list[tuple[str, type]]] = [("status", tsp.PKIStatusInfo)]


class _Rejected(Exception):
    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


def _der(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class TimestampAuthority:
    """Turns a DER ``TimeStampReq`` into a DER ``TimeStampResp`` (RFC 3161), signed with *key*.

    Serial numbers start at the current time in microseconds and grow by one per token, so they
    keep growing across restarts too. Thread-safe."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        *,
        policy: str = LAB_POLICY_OID,
    ) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise TypeError("the TSA key must be EC or RSA")
        self._key = key
        self.certificate = certificate
        self._cert = _der(certificate)
        self._chain = [_der(c) for c in chain]
        self.policy = policy
        self._serials = itertools.count(time.time_ns() // 1000)
        self._lock = threading.Lock()
        self.issued: list[int] = []  # serial numbers of the tokens issued, in order

    @classmethod
    def from_pkcs12(cls, path: Path, password: bytes, **kwargs: Any) -> TimestampAuthority:
        key, cert, extra = pkcs12.load_key_and_certificates(Path(path).read_bytes(), password)
        if cert is None or not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{path} must hold an EC or RSA key and its certificate")
        return cls(key, cert, list(extra), **kwargs)

    # --- responses ---------------------------------------------------------------------------

    def respond(self, request: bytes, *, imprint_override: bytes | None = None) -> bytes:
        """The DER ``TimeStampResp`` for the DER *request*: a token, or a rejection saying why.
        *imprint_override* (tests only) stamps that digest instead of the requested one."""
        try:
            req = self._parse(request)
        except _Rejected as e:
            return self.rejection(e.fail_info, e.text)
        imprint = req["message_imprint"]
        if imprint_override is not None:
            imprint = tsp.MessageImprint(
                {"hash_algorithm": imprint["hash_algorithm"], "hashed_message": imprint_override}
            )
        token = self._token(imprint, req["nonce"].native, bool(req["cert_req"].native))
        status = tsp.PKIStatusInfo({"status": "granted"})
        return tsp.TimeStampResp({"status": status, "time_stamp_token": token}).dump()

    @staticmethod
    def rejection(fail_info: str, text: str) -> bytes:
        status = tsp.PKIStatusInfo(
            {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({fail_info})}
        )
        return _StatusOnlyResp({"status": status}).dump()

    def _parse(self, request: bytes) -> tsp.TimeStampReq:
        try:
            req = tsp.TimeStampReq.load(request, strict=True)
            req.native  # noqa: B018 - asn1crypto parses lazily: force it to find malformed input here
        except (ValueError, TypeError, KeyError) as e:
            raise _Rejected("bad_data_format", f"not a DER TimeStampReq: {e}") from None
        if req["version"].native != "v1":
            raise _Rejected("bad_request", "only TimeStampReq version 1 is supported")
        algo = req["message_imprint"]["hash_algorithm"]["algorithm"].native
        digest = req["message_imprint"]["hashed_message"].native
        if algo not in _DIGEST_SIZES:
            raise _Rejected("bad_alg", f"hash algorithm {algo} is not accepted (sha256, sha384, sha512)")
        if len(digest) != _DIGEST_SIZES[algo]:
            raise _Rejected("bad_data_format", f"a {algo} digest has {_DIGEST_SIZES[algo]} bytes, not {len(digest)}")
        policy = req["req_policy"].native
        if policy is not None and policy != self.policy:
            raise _Rejected("unaccepted_policy", f"policy {policy} is not offered (only {self.policy})")
        if req["extensions"].native:
            raise _Rejected("unaccepted_extensions", "no request extensions are supported")
        return req

    def _token(self, imprint: tsp.MessageImprint, nonce: int | None, cert_req: bool) -> cms.ContentInfo:
        with self._lock:
            serial = next(self._serials)
            self.issued.append(serial)
        info: dict[str, Any] = {
            "version": "v1",
            "policy": self.policy,
            "message_imprint": imprint,
            "serial_number": serial,
            "gen_time": datetime.now(UTC).replace(microsecond=0),
            "accuracy": {"seconds": 1},
            "tsa": asn1_x509.GeneralName({"directory_name": self._cert.subject}),
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = tsp.TSTInfo(info).dump()
        digest_algorithm = "sha256"
        attrs = [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_info).digest()]}),
            cms.CMSAttribute({"type": "signing_certificate_v2", "values": [self._signing_certificate_v2()]}),
        ]
        # DER orders a SET OF by its elements' encodings; a verifier re-encoding them must get
        # exactly the bytes that were signed.
        signed_attrs = cms.CMSAttributes(sorted(attrs, key=lambda a: a.dump()))
        signature = self._sign(signed_attrs.dump())
        signature_algorithm = "sha256_ecdsa" if isinstance(self._key, ec.EllipticCurvePrivateKey) else "sha256_rsa"
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                            {"issuer": self._cert.issuer, "serial_number": self._cert.serial_number}
                        )
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest_algorithm}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_algorithm}),
                "signature": signature,
            }
        )
        signed_data: dict[str, Any] = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest_algorithm})],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(tst_info),
            },
            "signer_infos": [signer_info],
        }
        if cert_req:
            signed_data["certificates"] = [self._cert, *self._chain]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})

    def _signing_certificate_v2(self) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2(
            {
                "certs": [
                    {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "cert_hash": hashlib.sha256(self._cert.dump()).digest(),
                        "issuer_serial": {
                            "issuer": [asn1_x509.GeneralName({"directory_name": self._cert.issuer})],
                            "serial_number": self._cert.serial_number,
                        },
                    }
                ]
            }
        )

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# --- HTTP --------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _TsaHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "AttestLabTSA/1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.tsa.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._send(405, b"POST a DER TimeStampReq as application/timestamp-query\n", "text/plain",
                   {"Allow": "POST"})

    def do_POST(self) -> None:
        tsa = self.server.tsa
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > _MAX_REQUEST:
            self._send(400, b"a timestamp request needs a body of a sane size\n", "text/plain")
            return
        body = self.rfile.read(length)
        tsa.requests += 1
        if tsa.auth is not None and not self._authorised(tsa.auth):
            self._send(401, b"authentication required\n", "text/plain",
                       {"WWW-Authenticate": 'Basic realm="attest lab TSA"'})
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != QUERY_TYPE:
            self._send(415, f"expected Content-Type: {QUERY_TYPE}\n".encode(), "text/plain")
            return
        fault = tsa.fault
        if fault == "http500":
            self._send(500, b"internal error (lab fault)\n", "text/plain")
        elif fault == "slow":
            tsa.stopping.wait(tsa.slow_s)
            self._send(200, tsa.authority.respond(body), REPLY_TYPE)
        elif fault == "garbage":
            self._send(200, b"\x30\x82\xff\xffthis is not DER" + os.urandom(16), REPLY_TYPE)
        elif fault == "refuse":
            self._send(200, tsa.authority.rejection("system_failure", "lab TSA refuses all requests"), REPLY_TYPE)
        elif fault == "bad_imprint":
            self._send(200, tsa.authority.respond(body, imprint_override=bytes(32)), REPLY_TYPE)
        else:
            self._send(200, tsa.authority.respond(body), REPLY_TYPE)

    def _authorised(self, auth: tuple[str, str]) -> bool:
        expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return hmac.compare_digest((self.headers.get("Authorization") or "").encode(), expected.encode())

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout): nothing to tell it


class _TsaHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a "slow" answer must not hold up stop()

    def __init__(self, address: tuple[str, int], tsa: TsaServer) -> None:
        self.tsa = tsa
        super().__init__(address, _Handler)


class TsaServer:
    """`TimestampAuthority` over HTTP on 127.0.0.1 in a background thread (see the module doc)."""

    def __init__(
        self,
        authority: TimestampAuthority,
        *,
        port: int = 0,
        fault: Fault | None = None,
        slow_s: float = 30.0,
        auth: tuple[str, str] | None = None,
        log_requests: bool = False,
    ) -> None:
        self.authority = authority
        self.fault: Fault | None = fault
        self.slow_s = slow_s
        self.auth = auth
        self.log_requests = log_requests
        self.requests = 0  # POSTs received
        self.stopping = threading.Event()
        self._port = port
        self._httpd: _TsaHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the TSA is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/tsa"

    def start(self) -> TsaServer:
        if self._httpd is not None:
            raise RuntimeError("the TSA is already started")
        self.stopping.clear()
        self._httpd = _TsaHTTPServer(("127.0.0.1", self._port), self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="lab-tsa", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.stopping.set()  # releases "slow" answers
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> TsaServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# --- CLI -------------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser, *, required: bool) -> None:
    """The options that start a TSA (shared with `attest.lab.server`)."""
    p.add_argument("--tsa-p12", type=Path, required=required, metavar="FILE",
                   help="PKCS#12 with the TSA key and certificate (attest.pki: demo-tsa.p12)")
    p.add_argument("--tsa-password-file", type=Path, required=required, metavar="FILE",
                   help="file holding that PKCS#12's password")
    p.add_argument("--tsa-port", type=int, default=0, help="TCP port of the TSA (default: any free port)")


def from_arguments(args: argparse.Namespace, log_requests: bool = False) -> TsaServer | None:
    if args.tsa_p12 is None:
        return None
    if args.tsa_password_file is None:
        raise SystemExit("--tsa-p12 needs --tsa-password-file")
    password = args.tsa_password_file.read_text(encoding="utf-8").strip().encode()
    authority = TimestampAuthority.from_pkcs12(args.tsa_p12, password)
    return TsaServer(authority, port=args.tsa_port, log_requests=log_requests)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m attest.lab.tsa",
                                description="Serve an RFC 3161 timestamp authority over HTTP on 127.0.0.1.")
    add_arguments(p, required=True)
    p.add_argument("--log-requests", action="store_true", help="print requests to stderr")
    args = p.parse_args(argv)
    server = from_arguments(args, args.log_requests)
    assert server is not None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(json.dumps({"url": server.url, "pid": os.getpid()}), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
