"""Run the whole check catalogue on one PBX: `analyse(dump, inventory)`."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any

from attest.pbx.checks import CheckSpec
from attest.pbx.facts import Pbx
from attest.pbx.inventory import Inventory
from attest.pbx.result import CheckResult
from collectors.pbx.dump import PbxDump
from collectors.pbx.reader import read_config

logger = logging.getLogger(__name__)

_MODULES = ("tenancy", "dialling", "pickup", "spy", "presence", "voicemail", "parking", "paging", "records",
            "management", "network")
# Catalogue order (NOTES §4): tenancy first, then calls, records, the management plane, the network.
_FAMILY_ORDER = ("INST", "CFG", "DIAL", "PICK", "SPY", "HINT", "VM", "PARK", "PAGE", "CONF", "CDR", "AMI", "ARI",
                 "ACL", "F2B", "EXT")


def catalogue() -> list[CheckSpec]:
    specs: list[CheckSpec] = []
    for name in _MODULES:
        specs += importlib.import_module(f"attest.pbx.checks.{name}").CHECKS
    return sorted(specs, key=lambda s: (_FAMILY_ORDER.index(s.id.split("-")[0]), s.id))


@dataclass
class Analysis:
    instance: str
    origin: str
    inventory: str | None  # where the inventory came from
    tenants: list[dict[str, Any]]
    checks: list[CheckResult]

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    def check(self, check_id: str) -> CheckResult:
        return next(c for c in self.checks if c.id == check_id)

    def as_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "origin": self.origin, "inventory": self.inventory,
                "tenants": self.tenants, "checks": [c.as_json() for c in self.checks]}


# The checks that ask whether one tenant can reach another's calls or records.
CROSS_TENANT = frozenset({"DIAL-01", "DIAL-02", "PICK-01", "PICK-02", "PICK-03", "SPY-01", "SPY-02", "SPY-03", "SPY-04",
                          "SPY-05", "HINT-01", "HINT-02", "VM-01", "VM-02", "VM-03", "PARK-01", "PARK-02", "PAGE-01",
                          "CONF-01", "CDR-01", "CDR-02", "CDR-03", "AMI-02"})


def sole_tenant(pbx: Pbx) -> str | None:
    """The one tenant every phone of this instance belongs to, when that is proven: an inventory,
    endpoint files completely known, every user endpoint mapped, one tenant among them."""
    if pbx.inventory is None or len(pbx.tenants) != 1 or pbx.missing_endpoints():
        return None
    if any(ep.channel not in pbx.endpoint_tenants for ep in pbx.user_endpoints):
        return None
    return pbx.tenants[0]


def run_checks(pbx: Pbx) -> list[CheckResult]:
    results = []
    only = sole_tenant(pbx)
    for spec in catalogue():
        try:
            result = spec.fn(pbx, spec)
        except Exception as exc:  # a broken check must never read as a pass
            logger.exception("PBX check %s failed", spec.id)
            results.append(spec.not_evaluated(f"Not evaluated: the check stopped on an internal error "
                                              f"({type(exc).__name__}: {exc})."))
            continue
        if result.status == "not_evaluated" and only is not None and spec.id in CROSS_TENANT:
            # A file this check reads is missing, but there is no other tenant to be isolated from.
            reason = result.summary.removeprefix("Not evaluated: ").rstrip(".")
            result = spec.passed(f"Nothing crosses tenants: every phone of this instance belongs to {only} "
                                 f"(the check itself could not run: {reason}).", result.findings)
        results.append(result)
    return results


def analyse(dump: PbxDump, inventory: Inventory | None) -> Analysis:
    pbx = Pbx(read_config(dump), inventory)
    return analysis_of(pbx)


def analysis_of(pbx: Pbx) -> Analysis:
    tenants = []
    for t in pbx.tenants:
        eps = pbx.endpoints_of[t]
        tenants.append({"id": t, "endpoints": len(eps), "examples": [e.channel for e in eps[:5]]})
    inventory = pbx.inventory.origin if pbx.inventory else None
    return Analysis(pbx.instance, pbx.config.dump.origin, inventory, tenants, run_checks(pbx))
