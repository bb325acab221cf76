"""The audit report's JSON form (``attest.audit_report/v1``): what the PDF and HTML show, as data.

Field names are a stable format. Record references are leaf indexes: ``records/<n>.json`` in the
same pack, each proven by the attestation's inclusion proofs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from attest.attestation import Frozen, LocalizedText, ProviderInfo, TenantInfo
from attest.canonical import canonical_json
from attest.pack.audit import AUDIT_SCHEMA

# A control's verdict as the attestation states it, or "not_evaluated": the catalog maps it to the
# measure but the attestation holds no result for it (never read as a pass).
ControlVerdict = Literal["pass", "fail", "insufficient_evidence", "not_applicable", "waived", "not_evaluated"]
# A measure's outcome: the worst of its controls', or "not_covered" when no control maps to it.
MeasureOutcome = Literal["pass", "fail", "insufficient_evidence", "waived", "not_covered"]
ItemStatus = Literal["shown", "partly", "not_shown", "not_assessable"]
SiteRole = Literal["primary", "ha_target", "backup", "offsite"]
PeriodState = Literal["current", "revoked", "none", "unreadable"]


class MatrixControl(Frozen):
    control_id: str
    title: LocalizedText
    verdict: ControlVerdict
    reason: LocalizedText = Field(default_factory=dict)
    records: list[int] = Field(default_factory=list)  # leaf indexes: records/<n>.json


class Measure(Frozen):
    ref: str  # "Art. 32(1)(a)"
    title: LocalizedText
    outcome: MeasureOutcome
    controls: list[MatrixControl]


class ChecklistItem(Frozen):
    point: str  # "Art. 28(3)(a)"
    title: LocalizedText
    status: ItemStatus
    text: LocalizedText  # what the evidence shows, or that it cannot show it
    controls: list[str] = Field(default_factory=list)
    records: list[int] = Field(default_factory=list)


class SiteUse(Frozen):
    role: SiteRole
    site_id: str
    name: str
    kind: str
    country: str
    eu_eea: bool
    detail: str  # which instance or backup server, in the attestation's own words
    records: list[int] = Field(default_factory=list)


class Location(Frozen):
    status: ItemStatus  # shown, or not_assessable when the evidence behind a role is missing
    uses: list[SiteUse]
    gaps: list[LocalizedText] = Field(default_factory=list)  # what could not be placed, and why
    config_record: int | None = None  # the `attest.config` record the sites are read from


class Certificate(Frozen):
    standard: str
    number: str
    issuer: str
    expires: str


class SubProcessor(Frozen):
    operator: str
    address: str
    country: str
    eu_eea: bool
    sites: list[str]  # site names
    roles: list[SiteRole]
    certifications: list[Certificate]


class HistoryEntry(Frozen):
    period: str
    state: PeriodState
    document_id: str | None = None
    overall: str | None = None
    verdicts: dict[str, str] = Field(default_factory=dict)  # control id -> verdict
    note: str = ""


class AuditContent(Frozen):
    """Everything the report says, without its id and issue time: its digest decides whether a
    stored report can be reused."""

    schema_: str = Field(default=AUDIT_SCHEMA, alias="schema")
    provider: ProviderInfo
    tenant: TenantInfo
    period: str
    document_id: str  # the attestation the report rests on
    checkpoint: dict[str, str | int]  # log_id, tree_size, root_hash of that attestation
    evidence_generated_at: datetime  # the attestation's generated_at
    art32: list[Measure]
    art28: list[ChecklistItem]
    location: Location
    subprocessors: list[SubProcessor]
    history: list[HistoryEntry]
    controls: list[str]  # every control id the history shows, in catalog order

    def digest_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", by_alias=True))


class AuditReport(Frozen):
    report_id: str
    issued_at: datetime
    content_digest: str
    content: AuditContent

    def to_json_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json_bytes(cls, data: bytes) -> AuditReport:
        return cls.model_validate_json(data)
