"""C. Call pickup: group pickup (*8, handled by the channel driver whatever the dialplan says),
directed pickup (`Pickup(ext@PICKUPMARK)`, `Pickup(ext@context)`), PickupChan, and the pickup code."""

from __future__ import annotations

import re
from collections.abc import Iterable

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import needs, one_per_pair, verdict
from attest.pbx.checks.steps import actors, call_step, chain_steps, ext_step, match_step, path_to_call, start_step
from attest.pbx.facts import Pbx, Reached, Start
from attest.pbx.reach import caller_controlled, substitute
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import split_args
from collectors.pbx.endpoints import Endpoint, parse_groups, parse_named_groups

CHECKS: list[CheckSpec] = []


def _dialplan_groups(pbx: Pbx, context: str) -> list[tuple[str, str]]:
    """(group kind, value) of every Set(CHANNEL(callgroup|pickupgroup|named…)=…) reachable from *context*."""
    cache: dict[str, list[tuple[str, str]]] = pbx.__dict__.setdefault("_dialplan_groups", {})
    if context not in cache:
        found = []
        for reached in pbx.reached(context, "set"):
            args = reached.call.args
            if "CHANNEL(" not in args.upper():
                continue
            name, _, value = args.partition("=")
            key = name.strip().upper().removeprefix("CHANNEL(").rstrip(")").lower()
            if key in ("callgroup", "pickupgroup", "namedcallgroup", "namedpickupgroup"):
                found.append((key, value))
        cache[context] = found
    return cache[context]


def _groups(pbx: Pbx, tenant: str) -> list[tuple[Endpoint, set[int], set[int], set[str], set[str]]]:
    """Per endpoint: call groups, pickup groups, named call groups, named pickup groups, including
    groups the tenant's reachable dialplan sets with Set(CHANNEL(callgroup)=…) and the like."""
    extra: dict[str, set[int]] = {"callgroup": set(), "pickupgroup": set()}
    named: dict[str, set[str]] = {"namedcallgroup": set(), "namedpickupgroup": set()}
    for start in pbx.starts_of(tenant):
        for key, value in _dialplan_groups(pbx, start.context):
            if key in extra:
                extra[key] |= parse_groups(value)
            else:
                named[key] |= parse_named_groups(value)
    return [(ep, set(ep.call_groups) | extra["callgroup"], set(ep.pickup_groups) | extra["pickupgroup"],
             set(ep.named_call_groups) | named["namedcallgroup"],
             set(ep.named_pickup_groups) | named["namedpickupgroup"]) for ep in pbx.endpoints_of.get(tenant, [])]


def _pickupexten(pbx: Pbx) -> tuple[str, str]:
    feat = pbx.config.settings.features
    where = f" ({feat.pickupexten_loc})" if feat.pickupexten_loc else " (Asterisk's default)"
    return feat.pickupexten, where


@check("PICK-01", "Pickup groups do not span tenants", "high", CHECKS)
def group_overlap(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec)) is not None:
        return gap
    code, where = _pickupexten(pbx)
    # Index first: which endpoint of each tenant is in each call group / has each pickup group.
    callers: dict[str, dict[str, Endpoint]] = {}  # tenant -> group key -> an endpoint ringing in it
    pickers: dict[str, dict[str, Endpoint]] = {}  # tenant -> group key -> an endpoint picking it up
    for t in pbx.tenants:
        for ep, calls, picks, named_calls, named_picks in _groups(pbx, t):
            for g in [str(n) for n in calls] + [f"named {n}" for n in named_calls]:
                callers.setdefault(t, {}).setdefault(g, ep)
            for g in [str(n) for n in picks] + [f"named {n}" for n in named_picks]:
                pickers.setdefault(t, {}).setdefault(g, ep)
    failures = []
    for tenant in pbx.tenants:
        for other in pbx.tenants:
            if other == tenant:
                continue
            shared = sorted(set(pickers.get(tenant, {})) & set(callers.get(other, {})))
            if not shared:
                continue
            ep1, ep2 = pickers[tenant][shared[0]], callers[other][shared[0]]
            loc = ep1.group_locs[0] if ep1.group_locs else ep1.loc
            loc2 = ep2.group_locs[0] if ep2.group_locs else ep2.loc
            failures.append(Finding(
                f"{{t0}}'s {ep1.channel} may pick up calls ringing on {{t1}}'s {ep2.channel} (group "
                f"{', '.join(shared)})", loc.file, loc.line,
                (f"endpoint {ep1.channel} of {{t0}} picks up group(s) {', '.join(shared)} ({loc})",
                 f"endpoint {ep2.channel} of {{t1}} rings in call group(s) {', '.join(shared)} ({loc2})",
                 f"dialling {code}{where} picks up a ringing call of a shared group; the channel driver answers this "
                 "code itself, even when the dialplan has no such extension"), (tenant, other)))
    facts = []
    if pbx.inventory is None:
        with_groups = [ep for ep in pbx.user_endpoints if ep.pickup_groups or ep.named_pickup_groups]
        facts = [Finding(f"endpoint {ep.channel}: call group(s) {sorted(ep.call_groups)}, pickup group(s) "
                         f"{sorted(ep.pickup_groups)}", ep.loc.file, ep.loc.line) for ep in with_groups[:50]]
    return verdict(pbx, spec, failures, facts,
                   f"Phones of different tenants share pickup groups: one can answer the other's ringing calls "
                   f"with {code}.", "No pickup group of one tenant covers another tenant's phones.")


def _marks(pbx: Pbx, tenant: str, number: str) -> set[str]:
    """The PICKUPMARK values a call ringing *tenant*'s *number* carries (as far as the dialplan
    tells): what `Set(__PICKUPMARK=…)` gives on the paths that ring it."""
    cache: dict[tuple[str, str], set[str]] = pbx.__dict__.setdefault("_pickup_marks", {})
    if (tenant, number) in cache:
        return cache[(tenant, number)]
    found: set[str] = cache.setdefault((tenant, number), set())
    for ep in pbx.endpoints_of.get(tenant, []):
        if "PICKUPMARK" in ep.set_vars:
            found.add(ep.set_vars["PICKUPMARK"][0])
    calls = list(pbx.ringing_calls(number))
    for start in pbx.starts_of(tenant):
        dialled = pbx.dial(start.context, number)
        if dialled is not None:
            calls += dialled[1]
    for call in calls:
        if call.app == "set" and call.args.split("=", 1)[0].strip().lstrip("_") == "PICKUPMARK":
            found.add(call.args.split("=", 1)[1].strip())
    return found


def _pickup_calls(pbx: Pbx, start: Start) -> list[Reached]:
    return pbx.reached(start.context, "pickup")


@check("PICK-02", "Directed pickup cannot reach another tenant", "high", CHECKS)
def directed_pickup(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    failures, facts = [], []
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap"):
            continue
        for reached in _pickup_calls(pbx, start):
            m, call = reached.match, reached.call
            if pbx.inventory is None or start.tenant is None:
                if caller_controlled(call.args):
                    facts.append(Finding(f"dialling {m.ext.name} from {start.context} picks up a ringing call chosen "
                                         "by the digits dialled", call.loc.file, call.loc.line,
                                         (start_step(start, "an endpoint"), *chain_steps(start.context, m.chain),
                                          ext_step(m), *call.trail, call_step(call))))
                continue
            if not m.ext.is_pattern:
                named = {t.strip().partition("@")[0] for t in call.args.split("&")}
                per_tenant: Iterable[tuple[str, Iterable[tuple[str, str]]]] = [
                    (o, [(n, m.ext.name) for n in pbx.numbers_of(o) if n in named])
                    for o in pbx.tenants if o != start.tenant]
            else:
                per_tenant = pbx.foreign_numbers(m.ext.name, start.tenant)
            for other, numbers in per_tenant:
                if _marks_never_match(pbx, call.priority.args, other):
                    continue
                for number, dialled in numbers:
                    shown = pbx.closure(start.context).match(dialled)
                    if shown is None or shown.ext is not m.ext:
                        continue  # an earlier context or a more specific pattern takes these digits
                    requested = substitute(call.priority.args, {"EXTEN": dialled})
                    why = _exposes(pbx, m.context, requested, other, number)
                    if why is None:
                        continue
                    failures.append(Finding(
                        f"{{t0}} can answer a call ringing {{t1}}'s extension {number} by dialling {dialled}",
                        call.loc.file, call.loc.line,
                        (start_step(start), *chain_steps(start.context, m.chain), match_step(dialled, m),
                         *call.trail, f"priority {call.priority.number}: Pickup({requested}) ({call.loc})", why),
                        (start.tenant, other)))
                    break  # one number proves it for this tenant
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "Directed pickup lets a tenant answer another tenant's ringing calls by dialling a code and the "
                   "extension.", "No directed pickup reaches another tenant's calls.")


_EXPRESSION = re.compile(r"\$\{[^}]*\}")


def _marks_never_match(pbx: Pbx, template: str, other: str) -> bool:
    """A shortcut, exact for what it rejects: every target of Pickup(*template*) is a PICKUPMARK
    whose literal text (e.g. "%x-internal" in `${EXTEN:2}%x-internal@PICKUPMARK`) appears in none of
    the marks *other*'s ringing calls carry, so no number of *other* needs to be tried."""
    targets = [t.strip() for t in template.split("&") if t.strip()]
    if not targets or not all(t.endswith("@PICKUPMARK") for t in targets):
        return False
    cache: dict[str, set[str]] = pbx.__dict__.setdefault("_all_marks", {})
    if other not in cache:
        cache[other] = {m for n in pbx.numbers_of(other) for m in _marks(pbx, other, n)}
    marks = cache[other]
    for target in targets:
        fragments = [f for f in _EXPRESSION.split(target.removesuffix("@PICKUPMARK")) if f]
        if not fragments or any(all(f in mark for f in fragments) for mark in marks):
            return False
    return True


def _ring_contexts(pbx: Pbx, tenant: str, number: str) -> set[str]:
    """Contexts a call ringing *tenant*'s *number* is dialled from: Dial copies the caller's
    context and extension onto the ringing channel, which is what `Pickup(ext@context)` matches."""
    found = {c.context for c in pbx.ringing_calls(number) if c.app == "dial"}
    for start in pbx.starts_of(tenant):
        dialled = pbx.dial(start.context, number)
        if dialled is not None:
            found |= {c.context for c in dialled[1] if c.app == "dial"}
    return found


def _exposes(pbx: Pbx, pickup_context: str, requested: str, other: str, number: str) -> str | None:
    """Why Pickup(requested), run in *pickup_context*, would take a call ringing *other*'s *number*."""
    targets = [t.strip() for t in requested.split("&") if t.strip()]
    # PICKUPMARK first: it is the mode FreePBX's ** code relies on.
    for target in sorted(targets, key=lambda t: not t.endswith("@PICKUPMARK")):
        ext, _, where = target.partition("@")
        if where == "PICKUPMARK":
            if ext in _marks(pbx, other, number):
                return (f"a call ringing {number} of {{t1}} carries PICKUPMARK={ext}, which Pickup matches without any "
                        "group or tenant check")
        elif ext == number:
            context = where or pickup_context
            if context in _ring_contexts(pbx, other, number):
                return (f"a call ringing {number} of {{t1}} is dialled from context {context}, which Pickup({target}) "
                        "matches without any group or tenant check")
    return None


@check("PICK-03", "PickupChan cannot reach another tenant", "high", CHECKS)
def pickupchan(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    failures, facts = [], []
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap"):
            continue
        for reached in pbx.reached(start.context, "pickupchan"):
            m, call = reached.match, reached.call
            channels = split_args(call.args)[0] if call.args else ""
            steps = path_to_call(start, m, call)
            facts.append(Finding(f"PickupChan({channels}) is reachable from {start.context}", call.loc.file,
                                 call.loc.line, steps, actors(start)))
            if start.tenant is None:
                continue
            if "${" in channels:
                for other in pbx.tenants:
                    if other != start.tenant:
                        failures.append(Finding(
                            f"{{t0}} can answer any ringing channel, {{t1}}'s included: PickupChan takes the channel "
                            f"named by {channels}, which is chosen at run time (by the caller, as far as the "
                            "configuration shows)", call.loc.file, call.loc.line, steps,
                            (start.tenant, other)))
            for owner, device in pbx.device_tenants(channels):
                if owner != start.tenant:
                    failures.append(Finding(f"{{t0}} can answer calls ringing {{t1}}'s {device}", call.loc.file,
                                            call.loc.line, steps, (start.tenant, owner)))
            options = split_args(call.args)[1] if len(split_args(call.args)) > 1 else ""
            if "p" in options and "${" not in channels:  # p: the names are prefixes (compared without case)
                for prefix in (c.strip().lower() for c in channels.split("&") if c.strip()):
                    for other in pbx.tenants:
                        hit = next((ep.channel for ep in pbx.endpoints_of.get(other, [])
                                    if other != start.tenant and ep.channel.lower().startswith(prefix)), None)
                        if hit:
                            failures.append(Finding(
                                f"{{t0}} can answer calls ringing {{t1}}'s {hit}: PickupChan's p option takes any "
                                f"channel whose name starts with {prefix}", call.loc.file, call.loc.line, steps,
                                (start.tenant, other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "PickupChan lets a tenant answer another tenant's channel.",
                   "No reachable PickupChan names another tenant's channels.")


@check("PICK-04", "Pickup code", "info", CHECKS)
def pickup_code(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec)) is not None:
        return gap  # no channel driver configured: nothing answers a pickup code
    features = pbx.config.confs["features.conf"]
    if features.present and not features.complete:
        return spec.not_evaluated(f"Not evaluated: features.conf is not completely known "
                                  f"({features.blocking_issues()[0]}).")
    code, where = _pickupexten(pbx)
    facts = [Finding(f"pickupexten is {code}{where}")]
    cli = pbx.config.cli.features
    if cli is not None and cli.pickup_extension:
        differs = " (differs from the files: they were changed after the last reload)" \
            if cli.pickup_extension != code else ""
        facts.append(Finding(f"the running PBX reports pickup extension {cli.pickup_extension} (features show)"
                             + differs))
    return spec.passed(f"Group pickup code: {code}.", facts)
