"""H. Paging/intercom (PAGE-01) and conference rooms (CONF-01)."""

from __future__ import annotations

import re

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import needs, one_per_pair, verdict
from attest.pbx.checks.steps import call_step, chain_steps, ext_step, match_step, start_step
from attest.pbx.facts import Pbx
from attest.pbx.reach import Call
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import split_args

CHECKS: list[CheckSpec] = []

# What makes a call auto-answer (an open microphone): FreePBX intercom sets these before dialling.
_AUTO_ANSWER = re.compile(r"INTERCOM_CALL|ALERTINFO=.*Answer|answer-after|Call-Info:.*answer|auto.?answer",
                          re.IGNORECASE)


def _is_intercom(calls: list[Call]) -> bool:
    return any(c.app == "page" or (c.app in ("set", "sipaddheader", "pjsip_header") and _AUTO_ANSWER.search(c.args))
               for c in calls)


@check("PAGE-01", "Paging and intercom stay within a tenant", "high", CHECKS)
def intercom(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    failures, facts = [], []
    done: set[tuple[str, str, str]] = set()
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap"):
            continue
        by_ext: dict[int, list[Call]] = {}
        matches = {}
        for r in pbx.calls_from(start.context):
            by_ext.setdefault(id(r.match.ext), []).append(r.call)
            matches[id(r.match.ext)] = r.match
        for key, calls in by_ext.items():
            if not _is_intercom(calls):
                continue
            m = matches[key]
            first = next(c for c in calls if c.app == "page" or _AUTO_ANSWER.search(c.args))
            base = (start_step(start, "{t0}" if start.tenant else "an endpoint"), *chain_steps(start.context, m.chain))
            facts.append(Finding(f"{m.ext.name} in {m.context} makes phones answer by themselves (paging/intercom)",
                                 first.loc.file, first.loc.line, (*base, ext_step(m), call_step(first)),
                                 (start.tenant,) if start.tenant else ()))
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
            for other, number, dialled in pbx.foreign_numbers(m.ext.name, start.tenant):
                if (start.tenant, other, m.ext.name) in done:
                    break
                hit = pbx.dial(start.context, dialled)
                if hit is None or hit[0].ext is not m.ext:
                    continue
                for c in hit[1]:
                    owners = [(o, w) for o, w in pbx.call_targets(c) if o == other]
                    if owners:
                        done.add((start.tenant, other, m.ext.name))
                        failures.append(Finding(
                            f"{{t0}} can open {{t1}}'s extension {number} as an intercom by dialling {dialled}",
                            c.loc.file, c.loc.line,
                            (*base, match_step(dialled, m), *c.trail, call_step(c, f" rings {owners[0][1]} of {{t1}}"
                                                                                " with auto-answer")),
                            (start.tenant, other)))
                        break
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "A tenant can make another tenant's phones answer by themselves (open microphone).",
                   "Paging and intercom reach only the caller's own tenant.")


@check("CONF-01", "Conference rooms are not shared between tenants", "medium", CHECKS)
def conference(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    rooms: dict[str, dict[str, Finding]] = {}
    facts = []
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap"):
            continue
        for r in pbx.calls_from(start.context):
            call = r.call
            if call.app not in ("confbridge", "meetme"):
                continue
            room = (split_args(call.args) or [""])[0].strip()
            if "${EXTEN" in room:
                room = f"(any room the caller dials, pattern {r.match.ext.name})"
            steps = (start_step(start, "{t0}" if start.tenant else "an endpoint"),
                     *chain_steps(start.context, r.match.chain), ext_step(r.match), *call.trail, call_step(call))
            finding = Finding(f"conference room {room} is reachable from {start.context}", call.loc.file,
                              call.loc.line, steps, (start.tenant,) if start.tenant else ())
            if start.tenant is None:
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
