"""G. Call parking: a lot used by two tenants lets one retrieve the other's parked calls (PARK-01);
Asterisk's default lot always exists (PARK-02)."""

from __future__ import annotations

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import needs, one_per_pair, verdict
from attest.pbx.checks.steps import path_to_call
from attest.pbx.facts import Pbx
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import split_args
from collectors.pbx.settings import ParkingLot

CHECKS: list[CheckSpec] = []


def lot_users(pbx: Pbx) -> dict[str, dict[str, Finding]]:
    """lot name -> tenant -> how the tenant reaches it (parks into it or can dial its slots)."""
    lots = {lot.name: lot for lot in pbx.config.settings.parking.lots}
    users: dict[str, dict[str, Finding]] = {}
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap") or start.tenant is None:
            continue
        own_lot = next((ep.set_vars[k][0] for ep in [start.endpoint] for k in ep.set_vars
                        if k.upper() == "CHANNEL(PARKINGLOT)"), "default")
        for r in pbx.reached(start.context, "park", "parkedcall"):
            call = r.call
            lot = (split_args(call.args) or [""])[0].strip() or own_lot
            generated = call.priority.loc.file.startswith("res_parking")  # the lot's own park extension
            if call.app == "park" and generated and lot in lots and not lots[lot].parkext_exclusive:
                lot = own_lot  # a non-exclusive park extension parks into the caller's own lot
            verb = "parks calls into" if call.app == "park" else "can pick up calls parked in"
            steps = path_to_call(start, r.match, call)
            users.setdefault(lot, {}).setdefault(start.tenant, Finding(
                f"{{t0}} {verb} lot {lot} (extension {r.match.ext.name} in {r.match.context})", call.loc.file,
                call.loc.line, steps, (start.tenant,)))
    return users


def _judge(pbx: Pbx, spec: CheckSpec, lots: list[ParkingLot]) -> CheckResult:
    users = lot_users(pbx)
    failures, facts = [], []
    for lot in lots:
        by_tenant = users.get(lot.name, {})
        tenants = list(by_tenant)
        facts += list(by_tenant.values())
        for other in tenants[1:]:
            f, g = by_tenant[tenants[0]], by_tenant[other]
            failures.append(Finding(f"{{t0}} and {{t1}} both use parking lot {lot.name}: one can pick up calls the "
                                    "other parked", f.file, f.line,
                                    (*f.path, *[s.replace("{t0}", "{t1}") for s in g.path]), (tenants[0], other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "Tenants share a parking lot, so one can pick up calls the other parked.",
                   "No parking lot is used by more than one tenant.")


@check("PARK-01", "Parking lots are not shared between tenants", "high", CHECKS)
def shared_lot(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    return _judge(pbx, spec, pbx.config.settings.parking.lots)


@check("PARK-02", "The default parking lot is not reachable by several tenants", "medium", CHECKS)
def default_lot(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    return _judge(pbx, spec, [lot for lot in pbx.config.settings.parking.lots if lot.name == "default"])
