"""What every cross-tenant check does first: are the files there, is there an inventory, is there
more than one tenant to be isolated from."""

from __future__ import annotations

from collections.abc import Sequence

from attest.pbx.checks import CheckSpec
from attest.pbx.facts import ENDPOINT_FILES, Pbx
from attest.pbx.result import CheckResult, Finding

NO_INVENTORY = ("no tenant inventory was given, so whose extensions these are is unknown; the facts below "
                "become failures as soon as two tenants share this instance")


def needs(pbx: Pbx, spec: CheckSpec, *files: str, endpoints: bool = True) -> CheckResult | None:
    """not_evaluated when a needed file is absent or not completely known."""
    why = pbx.missing(*files, any_of=ENDPOINT_FILES if endpoints else ())
    return spec.not_evaluated(f"Not evaluated: {why}.") if why else None


def verdict(pbx: Pbx, spec: CheckSpec, failures: Sequence[Finding], facts: Sequence[Finding],
            what_fails: str, what_passes: str) -> CheckResult:
    """The usual ending of a cross-tenant check: *failures* involve two tenants; *facts* are the
    latent findings (what would be a failure with more tenants), shown without an inventory."""
    if pbx.inventory is None:
        return spec.not_evaluated(f"Not evaluated: {NO_INVENTORY}.", facts)
    if failures:
        return spec.failed(what_fails, failures)
    if not pbx.multi_tenant:
        only = pbx.tenants[0] if pbx.tenants else None
        who = f"only tenant {only} has endpoints here" if only else "no endpoint maps to a tenant of the inventory"
        return spec.passed(f"Nothing crosses tenants: {who}.", facts)
    return spec.passed(what_passes, facts)


def one_per_pair(findings: Sequence[Finding]) -> list[Finding]:
    """The first finding of each (who can act, who is exposed) pair: one example path is enough to
    prove a pair fails, and 50 tenants would otherwise give thousands of near-identical findings."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for f in findings:
        if f.tenants not in seen:
            seen.add(f.tenants)
            out.append(f)
    return out
