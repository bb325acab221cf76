from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from attest.canonical import canonical_json
from attest.signing import pae, verify_bytes
from attest.verify import UnusableInput, load_trust_anchors, verify_dsse, verify_file

from .conftest import ATTESTATION, Material

HTML = b"<!doctype html><html><body><h1>Attestation AT-7K3M9QX2D4F8HJ6TNV1R</h1></body></html>"
PREDICATE_TYPE = "https://attest.example/attestation/v1"


@pytest.fixture
def signed_html(material: Material, tmp_path: Path) -> Path:
    path = tmp_path / "AT-7K3M9QX2D4F8HJ6TNV1R.html"
    path.write_bytes(HTML)
    envelope = material.signer.dsse_envelope(path.name, HTML, PREDICATE_TYPE, dict(ATTESTATION))
    (tmp_path / (path.name + ".dsse.json")).write_bytes(envelope)
    return path


def _envelope(path: Path) -> dict[str, Any]:
    env: dict[str, Any] = json.loads(path.with_name(path.name + ".dsse.json").read_bytes())
    return env


def _write_envelope(path: Path, env: dict[str, Any]) -> None:
    path.with_name(path.name + ".dsse.json").write_bytes(canonical_json(env))


def _anchors(material: Material, other: bool = False) -> list[x509.Certificate]:
    return load_trust_anchors([(material.other_pki if other else material.pki).ca_cert])


def test_pae_matches_the_dsse_spec_example() -> None:
    # from the DSSE protocol spec (secure-systems-lab/dsse, protocol.md)
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_envelope_shape(material: Material, signed_html: Path) -> None:
    raw = signed_html.with_name(signed_html.name + ".dsse.json").read_bytes()
    env = json.loads(raw)
    assert canonical_json(env) == raw  # canonical JSON on disk
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert env["signatures"][0]["keyid"] == material.signer.fingerprint
    certs = [x509.load_pem_x509_certificate(p.encode()) for p in env["certificates"]]
    assert certs == [material.signer.certificate, *material.signer.chain]  # leaf first
    payload = base64.b64decode(env["payload"])
    statement = json.loads(payload)
    assert payload == canonical_json(statement)
    assert statement == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": signed_html.name, "digest": {"sha256": hashlib.sha256(HTML).hexdigest()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": ATTESTATION,
    }
    sig = base64.b64decode(env["signatures"][0]["sig"])
    assert verify_bytes(material.signer.certificate, pae(env["payloadType"], payload), sig)


def test_round_trip_from_either_path(material: Material, signed_html: Path) -> None:
    envelope_path = signed_html.with_name(signed_html.name + ".dsse.json")
    for given in (signed_html, envelope_path):
        report = verify_file(given, _anchors(material))
        assert report.ok, report.reasons
        assert report.kind == "dsse" and report.path == signed_html
        assert report.signer == "Voce Cloud S.r.l. DEMO attestation signer – not trusted"
        assert report.details["document_id"] == ATTESTATION["document_id"]


def test_tampered_subject_byte(material: Material, signed_html: Path) -> None:
    signed_html.write_bytes(HTML.replace(b"Attestation", b"Attestatiom"))
    report = verify_dsse(signed_html, _anchors(material))
    assert not report.valid and not report.ok
    assert report.trusted  # the envelope itself is fine and from a trusted signer
    assert any("changed after signing" in r and "SHA-256" in r for r in report.reasons), report.reasons


def test_tampered_envelope_signature(material: Material, signed_html: Path) -> None:
    env = _envelope(signed_html)
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[-3] ^= 0x01
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    _write_envelope(signed_html, env)
    report = verify_dsse(signed_html, _anchors(material))
    assert not report.valid and not report.trusted
    assert any("does not verify" in r for r in report.reasons), report.reasons


def test_statement_swapped_without_resigning(material: Material, signed_html: Path) -> None:
    """Point the statement at forged HTML: the digest then matches but the signature does not."""
    forged = b"<html>forged</html>"
    signed_html.write_bytes(forged)
    env = _envelope(signed_html)
    statement = json.loads(base64.b64decode(env["payload"]))
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(forged).hexdigest()
    env["payload"] = base64.b64encode(canonical_json(statement)).decode()
    _write_envelope(signed_html, env)
    report = verify_dsse(signed_html, _anchors(material))
    assert not report.valid
    assert any("does not verify" in r for r in report.reasons)


def test_wrong_anchor_is_untrusted(material: Material, signed_html: Path) -> None:
    report = verify_dsse(signed_html, _anchors(material, other=True))
    assert report.valid and not report.trusted and not report.ok
    assert any("DEMO Root CA – not trusted', which no trust anchor issued" in r for r in report.reasons), report.reasons


def test_no_anchors_is_untrusted_not_os_store(material: Material, signed_html: Path) -> None:
    report = verify_dsse(signed_html, [])
    assert report.valid and not report.trusted


def test_renamed_subject(material: Material, signed_html: Path) -> None:
    renamed = signed_html.with_name("AT-OTHER.html")
    signed_html.rename(renamed)
    envelope = signed_html.with_name(signed_html.name + ".dsse.json")
    envelope.rename(renamed.with_name(renamed.name + ".dsse.json"))
    report = verify_dsse(renamed, _anchors(material))
    assert not report.valid
    assert any(f"not {renamed.name}" in r for r in report.reasons), report.reasons


def test_missing_envelope_is_unusable(material: Material, tmp_path: Path) -> None:
    lone = tmp_path / "lone.html"
    lone.write_bytes(HTML)
    with pytest.raises(UnusableInput, match=r"lone\.html\.dsse\.json"):
        verify_file(lone, _anchors(material))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda env: "not json at all",
        lambda env: {**env, "payloadType": "text/plain"},
        lambda env: {**env, "payload": "***"},
        lambda env: {**env, "certificates": []},
        lambda env: {**env, "signatures": []},
    ],
)
def test_malformed_envelope_is_unusable(material: Material, signed_html: Path, mutate: object) -> None:
    env = _envelope(signed_html)
    mutated = mutate(env)  # type: ignore[operator]
    target = signed_html.with_name(signed_html.name + ".dsse.json")
    target.write_text(mutated if isinstance(mutated, str) else json.dumps(mutated))
    with pytest.raises(UnusableInput):
        verify_dsse(signed_html, _anchors(material))
