"""H. Paging/intercom (PAGE-01) and conference rooms (CONF-01)."""

from __future__ import annotations

import re

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import needs, one_per_pair, verdict
from attest.pbx.checks.steps import actors, call_step, chain_steps, ext_step, match_step, path_to_call, start_step
from attest.pbx.facts import NUMBER_CARRIERS, Pbx
from attest.pbx.reach import Call, Match, caller_controlled
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import split_args

CHECKS: list[CheckSpec] = []

# What makes a call auto-answer (an open microphone): FreePBX intercom sets these before dialling.
_AUTO_ANSWER = re.compile(r"INTERCOM_CALL|ALERTINFO=.*Answer|answer-after|Call-Info:.*answer|auto.?answer",
                          re.IGNORECASE)


def _is_intercom(calls: list[Call]) -> bool:
    return any(c.app == "page" or (c.app in ("set", "sipaddheader", "pjsip_header") and _AUTO_ANSWER.search(c.args))
               for c in calls)


def _intercoms(pbx: Pbx, context: str) -> list[tuple[Match, list[Call]]]:
    """The extensions reachable from *context* that make the called phone answer by itself."""
    cache: dict[str, list[tuple[Match, list[Call]]]] = pbx.__dict__.setdefault("_intercoms", {})
    if context not in cache:
        by_ext: dict[int, tuple[Match, list[Call]]] = {}
        for r in pbx.reached(context, "page", "set", "sipaddheader", "pjsip_header", "dial"):
            if not r.match.ext.is_pattern:
                by_ext.setdefault(id(r.match.ext), (r.match, []))[1].append(r.call)
        # A pattern (*80 + the digits) is walked on its own: code it shares with another pattern
        # (FreePBX's *80XX and *80XXX both jump to ext-intercom) must count for each of them.
        for m in pbx.closure(context).extensions():
            if m.ext.is_pattern:
                by_ext[id(m.ext)] = (m, list(pbx.walker.walk(m.context, m.ext, None)))
        cache[context] = [(m, calls) for m, calls in by_ext.values() if _is_intercom(calls)]
    return cache[context]


def _rings_other(pbx: Pbx, context: str, dialled: str, other: str) -> tuple[Match, Call, str] | None:
    """Dialling *dialled* makes a phone answer by itself and targets *other*'s extension or
    device: the extension matched, the call naming the target, and what it names."""
    walked = pbx.walk_dialled(context, dialled)
    if walked is None:
        return None
    target: tuple[Call, str] | None = None
    auto_answer = False
    for c in walked[1]:
        auto_answer = auto_answer or _is_intercom([c])
        if target is None:
            owners = [w for o, w in pbx.call_targets(c, (*NUMBER_CARRIERS, "set")) if o == other]
            if owners:
                target = (c, owners[0])
        if target is not None and auto_answer:
            return walked[0], target[0], target[1]
    return None


@check("PAGE-01", "Paging and intercom stay within a tenant", "high", CHECKS)
def intercom(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    failures, facts = [], []
    done: set[tuple[str, str]] = set()
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap"):
            continue
        for m, calls in _intercoms(pbx, start.context):
            first = next(c for c in calls if c.app == "page" or _AUTO_ANSWER.search(c.args))
            base = (start_step(start, "{t0}" if start.tenant else "an endpoint"), *chain_steps(start.context, m.chain))
            facts.append(Finding(f"{m.ext.name} in {m.context} makes phones answer by themselves (paging/intercom)",
                                 first.loc.file, first.loc.line, (*base, ext_step(m), call_step(first)),
                                 actors(start)))
            if start.tenant is None:
                continue
            for c in calls:  # literal page groups naming another tenant's devices
                if c.app == "page":
                    for owner, device in pbx.device_tenants(split_args(c.args)[0] if c.args else ""):
                        if owner != start.tenant:
                            failures.append(Finding(f"{{t0}} can page {{t1}}'s {device}", c.loc.file, c.loc.line,
                                                    (*base, ext_step(m), call_step(c)), (start.tenant, owner)))
            if not m.ext.is_pattern:
                continue
            for other, numbers in pbx.foreign_numbers(m.ext.name, start.tenant):
                if (start.tenant, other) in done:
                    continue
                for number, dialled in numbers:
                    hit = _rings_other(pbx, start.context, dialled, other)
                    if hit is None:
                        continue
                    matched, c, what = hit
                    done.add((start.tenant, other))
                    failures.append(Finding(
                        f"{{t0}} can open {{t1}}'s extension {number} as an intercom by dialling {dialled}",
                        c.loc.file, c.loc.line,
                        (*base[:1], *chain_steps(start.context, matched.chain), match_step(dialled, matched), *c.trail,
                         call_step(c, f" targets {what} of {{t1}}, which the path then dials with auto-answer")),
                        (start.tenant, other)))
                    break
    return verdict(pbx, spec, one_per_pair(failures), facts[:200],
                   "A tenant can make another tenant's phones answer by themselves (open microphone).",
                   "Paging and intercom reach only the caller's own tenant.")


_VARIABLE = re.compile(r"^\$\{([A-Za-z0-9_]+)\}$")


def _rooms(pbx: Pbx, context: str, room: str) -> list[tuple[str, str]]:
    """The rooms a ConfBridge/MeetMe argument can name, with how: a literal, the digits dialled,
    or the values a `Set(VAR=…)` reachable from *context* gives the variable (FreePBX sets
    MEETME_ROOMNUM in each room's extension, then jumps to a shared STARTMEETME)."""
    if caller_controlled(room):
        return [("(any room the caller dials)", "")]
    m = _VARIABLE.match(room)
    if m is None:
        return [(room, "")] if "${" not in room else [(f"(chosen at run time: {room})", "")]
    found = []
    for r in pbx.reached(context, "set"):
        name, _, value = r.call.args.partition("=")
        if name.strip().lstrip("_") == m.group(1):
            value = value.strip()
            label = "(any room the caller dials)" if caller_controlled(value) else value
            found.append((label, f"{m.group(1)} is set to {value} at {r.call.loc}"))
    return found or [(f"(chosen at run time: {room})", "")]


@check("CONF-01", "Conference rooms are not shared between tenants", "medium", CHECKS)
def conference(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    rooms: dict[str, dict[str, Finding]] = {}
    facts = []
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap"):
            continue
        for r in pbx.reached(start.context, "confbridge", "meetme"):
            call = r.call
            steps = path_to_call(start, r.match, call)
            for room, how in _rooms(pbx, start.context, (split_args(call.args) or [""])[0].strip()):
                who = actors(start)
                finding = Finding(f"conference room {room} is reachable from {start.context}", call.loc.file,
                                  call.loc.line, (*steps, how) if how else steps, who)
                if start.tenant is None or room.startswith("(chosen at run time"):
                    facts.append(finding)
                else:
                    rooms.setdefault(f"{call.app}:{room}", {}).setdefault(start.tenant, finding)
    failures = []
    for room, by_tenant in rooms.items():
        tenants = list(by_tenant)
        for other in tenants[1:]:
            f = by_tenant[tenants[0]]
            g = by_tenant[other]
            failures.append(Finding(f"{{t0}} and {{t1}} can both join {room.split(':', 1)[1]}", f.file, f.line,
                                    (*f.path, *[s.replace("{t0}", "{t1}") for s in g.path]), (tenants[0], other)))
        facts += [by_tenant[t] for t in tenants]
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "Tenants can meet in the same conference room.",
                   "No conference room is reachable from more than one tenant.")
