"""validate_signer_chain: the one chain check behind DSSE envelopes and evidence-log checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attest.verify import load_trust_anchors, validate_signer_chain

from .conftest import Material

NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_usage(*, ca: bool, signing: bool = True) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing and not ca,
        content_commitment=False,
        key_encipherment=not signing,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    signing: bool = True,
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=365),
    issuer_name: x509.Name | None = None,
) -> Issued:
    """A certificate for *cn*, signed by *issuer* (self-signed if None). *issuer_name* forges the
    issuer field while still signing with *issuer*'s key (or the own key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name or (issuer.cert.subject if issuer else _name(cn)))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_key_usage(ca=ca, signing=signing), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    return Issued(builder.sign(signer_key, hashes.SHA256()), key)


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    root = _issue("Test Root CA", ca=True, not_before=NOW - timedelta(days=400))
    intermediate = _issue("Test Intermediate CA", root, ca=True, not_before=NOW - timedelta(days=300))
    return {
        "root": root,
        "intermediate": intermediate,
        "leaf": _issue("Test Signer", intermediate),
        "expired": _issue(
            "Expired Signer", intermediate, not_before=NOW - timedelta(days=200), not_after=NOW - timedelta(days=10)
        ),
        "future": _issue("Future Signer", intermediate, not_before=NOW + timedelta(days=5)),
        "encipher_only": _issue("Encryption Only", intermediate, signing=False),
    }


def test_demo_signer_under_demo_ca(material: Material) -> None:
    anchors = load_trust_anchors([material.pki.ca_cert])
    assert validate_signer_chain([material.signer.certificate], anchors) is None
    assert validate_signer_chain([material.signer.certificate, *material.signer.chain], anchors) is None


def test_demo_signer_under_another_ca(material: Material) -> None:
    anchors = load_trust_anchors([material.other_pki.ca_cert])
    reason = validate_signer_chain([material.signer.certificate, *material.signer.chain], anchors)
    assert reason is not None
    assert reason.startswith("signer certificate '") and "DEMO attestation signer" in reason
    assert reason.endswith("is issued by 'O=Voce Cloud S.r.l.,CN=Voce Cloud S.r.l. DEMO Root CA – not trusted', "
                           "which no trust anchor issued"), reason


def test_intermediate_in_the_chain(pki: dict[str, Issued]) -> None:
    chain = [pki["leaf"].cert, pki["intermediate"].cert]
    assert validate_signer_chain(chain, [pki["root"].cert]) is None
    # the order of the intermediates does not matter, nor does a surplus root
    shuffled = [pki["leaf"].cert, pki["root"].cert, pki["intermediate"].cert]
    assert validate_signer_chain(shuffled, [pki["root"].cert]) is None


def test_missing_intermediate(pki: dict[str, Issued]) -> None:
    reason = validate_signer_chain([pki["leaf"].cert], [pki["root"].cert])
    assert reason == (
        "signer certificate 'CN=Test Signer' is issued by 'CN=Test Intermediate CA', which no trust anchor issued "
        "(or whose certificate is missing from the chain)"
    )


def test_intermediate_is_enough_as_an_anchor(pki: dict[str, Issued]) -> None:
    assert validate_signer_chain([pki["leaf"].cert], [pki["intermediate"].cert]) is None


def test_self_signed_rogue(pki: dict[str, Issued]) -> None:
    rogue = _issue("Test Signer")  # same name as the real signer, own key
    reason = validate_signer_chain([rogue.cert], [pki["root"].cert])
    assert reason == "signer certificate 'CN=Test Signer' is self-signed and is not a trust anchor"


def test_rogue_root_with_intermediate_of_the_same_names(pki: dict[str, Issued]) -> None:
    """Names copied from the real PKI, keys not: the chain leads to a root nobody trusts."""
    fake_root = _issue("Test Root CA", ca=True)
    fake_intermediate = _issue("Test Intermediate CA", fake_root, ca=True)
    leaf = _issue("Test Signer", fake_intermediate)
    reason = validate_signer_chain([leaf.cert, fake_intermediate.cert], [pki["root"].cert])
    assert reason is not None and reason.startswith(
        "signer certificate 'CN=Test Signer' is issued by 'CN=Test Intermediate CA'"
    ), reason


def test_no_anchors_is_not_the_os_store(pki: dict[str, Issued]) -> None:
    reason = validate_signer_chain([pki["leaf"].cert, pki["intermediate"].cert], [])
    assert reason is not None and "which no trust anchor issued" in reason


def test_expired_leaf(pki: dict[str, Issued]) -> None:
    chain = [pki["expired"].cert, pki["intermediate"].cert]
    reason = validate_signer_chain(chain, [pki["root"].cert])
    expiry = pki["expired"].cert.not_valid_after_utc
    assert reason == f"signer certificate 'CN=Expired Signer' expired on {expiry:%Y-%m-%d %H:%M:%S} UTC"
    # ... but it was fine while it was valid (a checkpoint signed back then)
    back_then = expiry - timedelta(days=1)
    assert validate_signer_chain(chain, [pki["root"].cert], at=back_then) is None
    # a naive time is taken as UTC
    assert validate_signer_chain(chain, [pki["root"].cert], at=back_then.replace(tzinfo=None)) is None


def test_expired_intermediate(pki: dict[str, Issued]) -> None:
    old_intermediate = _issue(
        "Old Intermediate CA", pki["root"], ca=True,
        not_before=NOW - timedelta(days=300), not_after=NOW - timedelta(days=1),
    )
    leaf = _issue("Test Signer", old_intermediate, not_before=NOW - timedelta(days=30))
    reason = validate_signer_chain([leaf.cert, old_intermediate.cert], [pki["root"].cert])
    assert reason is not None
    assert reason.startswith(
        "signer certificate 'CN=Test Signer' chains through 'CN=Old Intermediate CA', which expired on "
    ), reason


def test_not_yet_valid(pki: dict[str, Issued]) -> None:
    reason = validate_signer_chain([pki["future"].cert, pki["intermediate"].cert], [pki["root"].cert])
    assert reason is not None and "'CN=Future Signer' is not valid until " in reason


def test_key_usage_must_allow_signing(pki: dict[str, Issued]) -> None:
    reason = validate_signer_chain([pki["encipher_only"].cert, pki["intermediate"].cert], [pki["root"].cert])
    assert reason is not None and "may not sign" in reason


def test_empty_chain() -> None:
    assert validate_signer_chain([], []) == "no signer certificate was given"
