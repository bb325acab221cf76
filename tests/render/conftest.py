"""Sample attestations for the rendering tests: a tenant with ``&`` and ``<`` in its name,
one passing, one failing and one not-assessed result, a DEMO provider."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from attest.attestation import (
    Attestation,
    CheckpointRef,
    InclusionProof,
    ProviderInfo,
    Result,
    TenantInfo,
    Verdict,
)

DOC_ID = "AT-7K3M9QX2D4F8HJ6TNV1R"
TENANT = "Rossi & Figli <S.p.A.>"
VERIFY_BASE = "https://attest.nuvolavoce.example/"  # trailing slash on purpose


def leaf(seed: object) -> str:
    return hashlib.sha256(str(seed).encode()).hexdigest()


def _results(n_evidence: int) -> list[Result]:
    return [
        Result(
            control_id="DED-01",
            title={"en": "Dedicated PBX instance", "it": "Istanza PBX dedicata"},
            duty="dedicated",
            verdict=Verdict.PASS,
            reason={
                "en": "Your PBX runs on VM 101, used by no other customer.",
                "it": "Il vostro PBX gira sulla VM 101, non usata da altri clienti.",
            },
            facts=[{"en": "VM 101 (pbx-rossi) on cluster pve-mi1", "it": "VM 101 (pbx-rossi) sul cluster pve-mi1"}],
            evidence=[leaf(i) for i in range(n_evidence)],
            max_evidence_age="36h",
        ),
        Result(
            control_id="BK-02",
            title={"en": "Recent successful backup", "it": "Backup recente riuscito"},
            duty="backups",
            verdict=Verdict.FAIL,
            reason={
                "en": "The last successful backup is 52 hours old; at most 26 hours are allowed.",
                "it": "L'ultimo backup riuscito risale a 52 ore fa; il massimo consentito è 26 ore.",
            },
            facts=[{"en": "Last successful backup: 24 November 2026, 05:12 UTC"}],  # no Italian: falls back
            evidence=[leaf(100 + i) for i in range(3)],
            max_evidence_age="36h",
        ),
        Result(
            control_id="SLA-01",
            title={"en": "Monthly availability", "it": "Disponibilità mensile"},
            duty="sla",
            verdict=Verdict.INSUFFICIENT_EVIDENCE,
            reason={
                "en": "Availability samples cover only 12 of 30 days.",
                "it": "I campioni di disponibilità coprono solo 12 giorni su 30.",
            },
            max_evidence_age="1d",
        ),
    ]


def build_attestation(
    lang: Literal["en", "it"] = "en",
    *,
    demo: bool = True,
    legal_name: str = TENANT,
    n_evidence: int = 3,
    results: list[Result] | None = None,
) -> Attestation:
    fields: dict[str, Any] = {
        "document_id": DOC_ID,
        "provider": ProviderInfo(
            name="Nuvola Voce S.r.l.",
            vat_number="IT01234567890",
            address="Via Roma 1, 20121 Milano, Italy",
            contact="attest@nuvolavoce.example",
            verification_url=VERIFY_BASE,
            demo=demo,
        ),
        "tenant": TenantInfo(id="rossi", legal_name=legal_name, language=lang),
        "period": "2026-11",
        "period_start": datetime(2026, 10, 31, 23, tzinfo=UTC),
        "period_end": datetime(2026, 11, 30, 23, tzinfo=UTC),
        "time_zone": "Europe/Rome",
        "as_of": datetime(2026, 11, 26, 9, tzinfo=UTC),
        "results": _results(n_evidence) if results is None else results,
        "config_digest": leaf("config"),
        "checkpoint": CheckpointRef(
            log_id="nuvolavoce-log-1",
            tree_size=123456,
            root_hash=leaf("root"),
            signed_at=datetime(2026, 11, 26, 8, 55, tzinfo=UTC),
            body='{"log_id":"nuvolavoce-log-1","root_hash":"…","run":7,"signed_at":"2026-11-26T08:55:00Z",'
                 '"tree_size":123456,"v":1}',
            signature="MEUCIQDexample",
            signer_fingerprint=leaf("signer"),
            signer_chain=[],  # rendering shows the fingerprint only; the chain is for verifiers
        ),
        "proofs": [InclusionProof(leaf_index=0, leaf_hash=leaf(0), audit_path=[leaf("sibling")])],
        "generated_at": datetime(2026, 11, 26, 9, 30, 12, tzinfo=UTC),
        "tool_version": "0.1.0",
    }
    return Attestation(**fields)


@pytest.fixture
def make_attestation() -> Callable[..., Attestation]:
    return build_attestation


@pytest.fixture(scope="session")
def att_en() -> Attestation:
    return build_attestation("en")


@pytest.fixture(scope="session")
def att_it() -> Attestation:
    return build_attestation("it", demo=False)
