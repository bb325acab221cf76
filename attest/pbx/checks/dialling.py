"""B. Dialling: can one tenant's phones ring another tenant's (DIAL-01), do tenants share a
context (DIAL-02), which sensitive applications are reachable at all (DIAL-03)."""

from __future__ import annotations

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import needs, one_per_pair, verdict
from attest.pbx.checks.steps import actors, chain_steps, ext_step, match_step, start_step
from attest.pbx.facts import Pbx, Reached, Start
from attest.pbx.reach import Call, Match
from attest.pbx.result import CheckResult, Finding

CHECKS: list[CheckSpec] = []

SENSITIVE_APPS = ("chanspy", "extenspy", "pickupchan", "pickup", "bridge", "bridgewait", "disa", "page",
                  "confbridge", "meetme", "voicemailmain", "directory", "parkedcall", "originate", "system",
                  "trysystem")


def _reaches(pbx: Pbx, context: str, number: str, tenant: str) -> tuple[Match, Call, str] | None:
    """Dialling *number* from *context*: the first call on the whole path that rings one of
    *tenant*'s devices, if any (a path may first ring the caller's own phone, then another's)."""
    cache: dict[tuple[str, str], tuple[Match, dict[str, tuple[Call, str]]] | None] = \
        pbx.__dict__.setdefault("_dial_cache", {})
    key = (context, number)
    if key not in cache:
        m = pbx.closure(context).match(number)
        if m is None:
            cache[key] = None
        else:
            first: dict[str, tuple[Call, str]] = {}
            for call in pbx.walker.walk(m.context, m.ext, number):
                for owner, what in pbx.call_targets(call):
                    first.setdefault(owner, (call, what))
            cache[key] = (m, first)
    found = cache[key]
    if found is None or tenant not in found[1]:
        return None
    call, what = found[1][tenant]
    return found[0], call, what


def _targets_from(pbx: Pbx, context: str) -> list[tuple[str, Reached, str]]:
    """(tenant, call, what) for the first call reachable from *context* that rings each tenant."""
    cache: dict[str, list[tuple[str, Reached, str]]] = pbx.__dict__.setdefault("_targets_from", {})
    if context not in cache:
        first: dict[str, tuple[str, Reached, str]] = {}
        for r in pbx.calls_from(context):
            for owner, what in pbx.call_targets(r.call):
                if owner in pbx.tenants:
                    first.setdefault(owner, (owner, r, what))
        cache[context] = list(first.values())
    return cache[context]


def _finding(start: Start, m: Match, call: Call, what: str, number: str | None, other: str) -> Finding:
    reached = match_step(number, m) if number is not None else ext_step(m)
    steps = (start_step(start), *chain_steps(start.context, m.chain), reached, *call.trail,
             f"priority {call.priority.number}: {call.priority.app}({call.args}) ({call.loc}) rings {what}, "
             "which belongs to {t1}")
    message = (f"{{t0}}'s phones can call {{t1}}'s extension {number} directly" if number is not None else
               f"{{t0}}'s phones reach {{t1}}'s {what} by dialling {m.ext.name}")
    return Finding(message, call.loc.file, call.loc.line, steps, (start.tenant or "", other))


@check("DIAL-01", "No tenant can call another tenant's extensions", "critical", CHECKS)
def cross_dial(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    findings: list[Finding] = []
    found: set[tuple[str, str]] = set()
    for tenant in pbx.tenants:
        for start in pbx.starts_of(tenant):
            # 1. the other tenant's own numbers, dialled as they are
            for other in pbx.tenants:
                if other == tenant or (tenant, other) in found:
                    continue
                for number in pbx.numbers_of(other):
                    hit = _reaches(pbx, start.context, number, other)
                    if hit is not None:
                        findings.append(_finding(start, *hit, number, other))
                        found.add((tenant, other))
                        break  # one number per (start, other tenant) is proof enough
            # 2. anything else dialable that rings another tenant: a feature code, a ring group,
            #    a Goto into the other tenant's context
            for owner, r, what in _targets_from(pbx, start.context):
                if owner != tenant and (tenant, owner) not in found:
                    findings.append(_finding(start, r.match, r.call, what, None, owner))
                    found.add((tenant, owner))
    return verdict(pbx, spec, one_per_pair(findings), [],
                   "A tenant's phones can ring another tenant's phones directly.",
                   "No tenant's dialplan reaches another tenant's extensions.")


@check("DIAL-02", "Tenants do not share a dialplan context", "high", CHECKS)
def shared_context(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    by_context: dict[str, dict[str, Start]] = {}
    for s in pbx.starts:
        if s.tenant is not None:
            by_context.setdefault(s.context, {}).setdefault(s.tenant, s)
    failures, facts = [], []
    for context, starts in by_context.items():
        tenants = list(starts)
        first = starts[tenants[0]]
        for other in tenants[1:]:
            s2 = starts[other]
            loc = first.endpoint.context_loc or first.endpoint.loc
            failures.append(Finding(f"{{t0}} and {{t1}} both use context {context}", loc.file, loc.line,
                                    (start_step(first), start_step(s2, "{t1}")), (tenants[0], other)))
    # A context holding another tenant's extensions, reachable from this tenant's context.
    owner_of = {n: t for t in pbx.tenants for n in pbx.numbers_of(t)}
    pairs: set[tuple[str, str]] = set()
    for tenant in pbx.tenants:
        for start in pbx.starts_of(tenant, ("call", "overlap", "subscribe")):
            for ctx_name, chain in pbx.closure(start.context).order:
                if ctx_name in by_context:
                    continue  # a start context: the first clause judges it
                for ext in pbx.walker.plan.contexts[ctx_name].extensions.values():
                    owner = owner_of.get(ext.name)
                    if owner is None or owner == tenant or (tenant, owner) in pairs:
                        continue
                    pairs.add((tenant, owner))
                    failures.append(Finding(
                        f"{{t0}}'s context {start.context} includes {ctx_name}, which holds {{t1}}'s extension "
                        f"{ext.name}", ext.loc.file, ext.loc.line,
                        (start_step(start), *chain_steps(start.context, chain),
                         f"{ctx_name} holds extension {ext.name} of {{t1}} ({ext.loc})"), (tenant, owner)))
    if pbx.inventory is None:
        contexts = sorted({ep.context for ep in pbx.user_endpoints})
        facts = [Finding(f"{sum(ep.context == c for ep in pbx.user_endpoints)} user endpoint(s) start calls in "
                         f"context {c}") for c in contexts]
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "Different tenants' phones start their calls in the same dialplan, so every code and extension "
                   "of one is available to the other.",
                   "Each tenant's phones start in contexts of their own.")


@check("DIAL-03", "Sensitive applications reachable from phones", "info", CHECKS)
def sensitive_apps(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap"):
            continue
        for reached in pbx.reached(start.context, *SENSITIVE_APPS):
            call = reached.call
            key = (start.tenant or "", start.context, str(call.loc))
            if key in seen:
                continue
            seen.add(key)
            who = "{t0}" if start.tenant else "an unmapped endpoint"
            findings.append(Finding(
                f"{call.priority.app} is reachable by dialling {reached.match.ext.name} from context {start.context}",
                call.loc.file, call.loc.line,
                (start_step(start, who), *chain_steps(start.context, reached.match.chain),
                 f"{reached.match.ext.name} in {reached.match.context} ({reached.match.ext.loc})", *call.trail,
                 f"priority {call.priority.number}: {call.priority.app}({call.args}) ({call.loc})"),
                actors(start)))
    return spec.passed(f"{len(findings)} sensitive application call(s) reachable from phones (listed for review; "
                       "the other checks judge them).", findings)
