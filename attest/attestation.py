"""The Attestation: a frozen, numbered snapshot of one tenant's verdicts for one period.

Its JSON form (``Attestation.to_json_bytes``) is what gets signed (DSSE), embedded in the PDF
and shipped in packs, so field names here are a stable, versioned format.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from attest.canonical import canonical_json

SCHEMA = "attest.attestation/v1"

# Crockford base32 without I, L, O, U: readable aloud, URL-safe, case-insensitive.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_document_id() -> str:
    """A fresh document id: ``AT-`` + 20 Crockford base32 chars (100 random bits), e.g.
    ``AT-7K3M9QX2D4F8HJ6TNV1R``. Random, so ids reveal nothing about volume or order; the
    store enforces uniqueness so an id is never reused."""
    return "AT-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"
    NOT_APPLICABLE = "not_applicable"
    WAIVED = "waived"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


LocalizedText = dict[str, str]  # language code ("en", "it") -> text


class FactTable(Frozen):
    """The tenant's own facts behind a verdict, as a table (its nodes, its last backups, its
    firewall rules). Cells are plain text; the document shows them as given."""

    title: LocalizedText
    columns: list[LocalizedText]
    rows: list[list[str]] = Field(default_factory=list)


SpanState = Literal["down", "unknown", "excluded"]  # unknown = no data; excluded = announced maintenance


class TimelineSpan(Frozen):
    """A stretch of a timeline lane that was not plainly up."""

    start: datetime
    end: datetime
    state: SpanState


class TimelineLane(Frozen):
    """One instance's month: every moment in [Timeline.start, Timeline.measured_until) that no
    span covers was up; nothing after measured_until has been judged."""

    label: str
    spans: list[TimelineSpan] = Field(default_factory=list)
    # 0: the spans are exact. Otherwise spans closer than this many seconds were drawn together
    # (the worst state kept) because the lane had too many to show; the figures are unaffected.
    resolution_s: int = 0


class Timeline(Frozen):
    """A month at a glance (SLA-01): the data of the chart the document draws, not the picture."""

    title: LocalizedText
    start: datetime  # the whole period
    end: datetime
    measured_until: datetime  # the as-of instant, or the period end
    time_zone: str  # days are drawn in this zone
    lanes: list[TimelineLane]


class WaiverRef(Frozen):
    """The accepted exception behind a `waived` result, and what the result was without it."""

    justification: str
    approver: str
    expires: date  # applies through this day, in the provider's time zone
    granted: date | None = None
    reference: str = ""
    for_all: bool = False  # a waiver for every tenant, not this one's own
    verdict_without: Verdict
    reason_without: LocalizedText


class Term(Frozen):
    """One parameter a control was judged with, and where its value came from."""

    name: str
    value: str  # as written in the configuration or catalog (compact JSON for lists and maps)
    source: Literal["catalog", "contract", "tenant"]
    contract: str | None = None  # the contract's id, when source is "contract"


class Measure(Frozen):
    """A figure a check measured, machine-readable beside the words (SLA-01: availability and
    coverage per SLA instance), so that it can be compared and aggregated without parsing text."""

    name: str  # e.g. "availability", "coverage"
    subject: str  # what was measured: the tenant's own SLA instance id
    value: float | None  # None: nothing measured
    target: float | None = None  # the threshold it is judged against, same unit
    unit: str = "%"
    met: bool | None = None  # the check's own comparison with the target (None: not judged)


class Result(Frozen):
    """One control judged for one tenant."""

    control_id: str
    title: LocalizedText
    duty: str
    severity: str = "high"
    verdict: Verdict
    reason: LocalizedText  # plain words a customer can read, per language
    facts: list[LocalizedText] = Field(default_factory=list)  # the tenant's own facts behind the verdict
    tables: list[FactTable] = Field(default_factory=list)  # the same facts, tabulated where a list is long
    timelines: list[Timeline] = Field(default_factory=list)  # drawn as charts (SLA-01's month)
    measures: list[Measure] = Field(default_factory=list)  # machine-readable figures (SLA-01 per instance)
    waiver: WaiverRef | None = None  # set when the verdict is `waived`
    terms: list[Term] = Field(default_factory=list)  # the parameters used, contract and tenant overrides marked
    mappings: dict[str, list[str]] = Field(default_factory=dict)  # iso27001_2022, iso27017, gdpr → references
    evidence: list[str] = Field(default_factory=list)  # leaf hashes (hex) of the records used
    max_evidence_age: str = ""  # e.g. "36h", as in the catalog


class ProviderInfo(Frozen):
    name: str
    vat_number: str
    address: str
    contact: str
    verification_url: str
    demo: bool = False  # demo documents say "DEMO – not trusted"


class TenantInfo(Frozen):
    id: str
    legal_name: str
    language: Literal["en", "it"] = "en"


class CheckpointRef(Frozen):
    """The signed tree head this attestation was built on: with `body` (the exact bytes signed)
    and `signer_chain`, anyone can check the signature and every inclusion proof from the
    attestation alone (`attest verify` does)."""

    log_id: str
    tree_size: int
    root_hash: str  # hex
    signed_at: datetime
    body: str  # the canonical JSON that was signed: {"v","log_id","tree_size","root_hash","signed_at","run"}
    signature: str  # base64 DER ECDSA/RSA signature over `body`
    signer_fingerprint: str  # SHA-256 (hex) of the signer certificate (DER)
    signer_chain: list[str]  # PEM: the signer certificate, then its issuers


class InclusionProof(Frozen):
    """RFC 6962 audit path proving a cited record is in the checkpoint's tree."""

    leaf_index: int
    leaf_hash: str  # hex
    audit_path: list[str]  # hex, bottom-up


class Attestation(Frozen):
    schema_: str = Field(default=SCHEMA, alias="schema")
    document_id: str
    supersedes: str | None = None
    provider: ProviderInfo
    tenant: TenantInfo
    period: str  # YYYY-MM in the provider's time zone
    period_start: datetime  # UTC instant of the period's first moment
    period_end: datetime  # UTC instant just after the period
    time_zone: str
    as_of: datetime  # evidence judged as of this instant: min(period end, now) unless overridden
    results: list[Result]
    config_digest: str  # SHA-256 of the canonical config used (also an attest.config record)
    checkpoint: CheckpointRef
    proofs: list[InclusionProof]
    generated_at: datetime
    tool_version: str
    # Valid from generated_at until this instant, unless superseded or revoked before (the
    # verification page says which); None in documents issued before validity was stated.
    valid_until: datetime | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json_bytes(self) -> bytes:
        """Canonical JSON (RFC 8785) of the whole attestation: the bytes that are signed."""
        return canonical_json(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json_bytes(cls, data: bytes) -> Attestation:
        return cls.model_validate_json(data)

    @property
    def not_assessed(self) -> list[Result]:
        return [r for r in self.results if r.verdict == Verdict.INSUFFICIENT_EVIDENCE]

    @property
    def overall(self) -> Verdict:
        return overall_verdict(self.results)


def overall_verdict(results: list[Result]) -> Verdict:
    """Worst verdict first: any fail, else any insufficient evidence, else waived when an accepted
    exception covers a control, else pass. Waived and pass need at least one control that actually
    passed: a document whose controls are all waived or not applicable has proven nothing, and
    says so rather than "every control passed"."""
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if Verdict.INSUFFICIENT_EVIDENCE in verdicts or Verdict.PASS not in verdicts:
        return Verdict.INSUFFICIENT_EVIDENCE
    if Verdict.WAIVED in verdicts:
        return Verdict.WAIVED  # "every control passed or is covered by an accepted exception"
    return Verdict.PASS
