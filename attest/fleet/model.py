"""The FleetAttestation: a frozen, numbered snapshot of the whole fleet's verdicts for one period.

It goes to tenders, so it names no customer: no tenant id or legal name, no instance name, vmid,
IP or node, no inclusion proof of a tenant's record (a leaf hash would let a holder of that record
recognise its customer). It names the signed checkpoint it was built on and the digest of the
configuration, so the provider can show which evaluation it summarises. Its JSON form is what
is signed (DSSE), attached to the PDF, and what `attest verify` reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from attest.attestation import CheckpointRef, Frozen, LocalizedText, ProviderInfo, Verdict
from attest.canonical import canonical_json

FLEET_SCHEMA = "attest.fleet/v1"
FLEET_PREDICATE_TYPE = "https://attest-pbx.org/fleet/v1"
# The tenant key under which fleet documents are stored and recorded (output_dir/_fleet/<period>/,
# `attest.document` payload "tenant"): a tenant id must start with [a-z0-9] (config.TenantId), so
# no tenant can ever be called this.
FLEET_SCOPE = "_fleet"


class VerdictCounts(Frozen):
    """How many of `denominator` things got each verdict; the five counts add up to it. A thing
    that could not be assessed (insufficient evidence) is never counted as passed."""

    denominator: int
    passed: int
    failed: int
    insufficient_evidence: int
    waived: int
    not_applicable: int

    @model_validator(mode="after")
    def _adds_up(self) -> VerdictCounts:
        parts = (self.passed, self.failed, self.insufficient_evidence, self.waived, self.not_applicable)
        if min(parts) < 0 or sum(parts) != self.denominator:
            raise ValueError(f"counts {parts} do not add up to the denominator {self.denominator}")
        return self


class FleetFigure(Frozen):
    """One area of the catalog across the fleet.

    `tenants`: the evaluated tenants by their verdict for the area — a tenant passes the area only
    when every control in `controls` passed for it (and a control passes for a tenant only when it
    held for every one of the tenant's instances); otherwise the worst verdict counts: fail, then
    insufficient evidence, then waived; not applicable when no control applied.
    `instances`: the instances of those tenants, each counted under its tenant's verdict for the
    area ("n of N instances belong to tenants for which the area passed"): per-instance verdicts
    are not part of the results, so this is not a count of instances that passed one by one.
    """

    area: str
    title: LocalizedText
    controls: list[str]
    tenants: VerdictCounts
    instances: VerdictCounts


BucketKey = Literal["met", "below_lt_0_05pp", "below_0_05_to_0_5pp", "below_gt_0_5pp", "not_measured"]


class AvailabilityBucket(Frozen):
    key: BucketKey
    count: int


class AvailabilityDistribution(Frozen):
    """Measured availability (SLA-01, per SLA instance) against each instance's contracted target.

    Denominator `with_target`: the SLA instances configured for the evaluated tenants (each has
    its tenant's target). `measured`: those with an availability over enough coverage (SLA-01's
    minimum); the others are in the "not_measured" bucket. Tenants with no SLA instance configured
    have no instance here and are counted in `tenants_without_sla_instances`.
    Min and median are over the measured instances (availability in %, margin = availability −
    target in percentage points); None when nothing was measured.
    """

    with_target: int
    measured: int
    buckets: list[AvailabilityBucket]
    min_availability: float | None = None
    median_availability: float | None = None
    min_margin_pp: float | None = None
    median_margin_pp: float | None = None
    tenants_without_sla_instances: int = 0

    @model_validator(mode="after")
    def _adds_up(self) -> AvailabilityDistribution:
        if sum(b.count for b in self.buckets) != self.with_target:
            raise ValueError("availability buckets do not add up to the instances with a target")
        return self


class FleetException(Frozen):
    """A control that did not pass for one tenant, anonymised: `tenant` is a label ("tenant 7")
    numbered at random for this document only, and `reason` is generic text for the verdict (a
    tenant's own reason names its instances, so it is never copied)."""

    tenant: str
    control_id: str
    verdict: Verdict
    reason: LocalizedText


class FleetAttestation(Frozen):
    schema_: str = Field(default=FLEET_SCHEMA, alias="schema")
    document_id: str
    supersedes: str | None = None
    provider: ProviderInfo
    period: str  # YYYY-MM in the provider's time zone
    period_start: datetime
    period_end: datetime
    time_zone: str
    as_of: datetime
    tenant_count: int  # tenants evaluated: the denominator of every tenant figure
    instance_count: int  # their instances found in the evidence: the denominator of every instance figure
    figures: list[FleetFigure]
    availability: AvailabilityDistribution
    exceptions: list[FleetException]
    config_digest: str
    checkpoint: CheckpointRef
    generated_at: datetime
    tool_version: str
    valid_until: datetime | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json_bytes(self) -> bytes:
        """Canonical JSON (RFC 8785): the bytes that are signed and attached."""
        return canonical_json(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json_bytes(cls, data: bytes) -> FleetAttestation:
        return cls.model_validate_json(data)
