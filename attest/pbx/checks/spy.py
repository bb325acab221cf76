"""D. Listening in: ChanSpy without a scope (SPY-01), SPYGROUP scoping (SPY-02), ExtenSpy (SPY-03),
call seize / Bridge (SPY-04), paging built on ChanSpy whisper (SPY-05)."""

from __future__ import annotations

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import needs, one_per_pair, verdict
from attest.pbx.checks.steps import actors, path_to_call
from attest.pbx.facts import Pbx, Reached, Start
from attest.pbx.reach import caller_controlled
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import split_args

CHECKS: list[CheckSpec] = []


def parse_options(text: str) -> dict[str, str]:
    """ChanSpy-style options: "qg(sales)e(PJSIP/10:PJSIP/11)" -> {"q": "", "g": "sales", "e": "…"}."""
    found: dict[str, str] = {}
    i = 0
    while i < len(text):
        c = text[i]
        if text.startswith("(", i + 1):
            end = text.find(")", i + 2)
            end = len(text) if end < 0 else end
            found[c] = text[i + 2:end]
            i = end + 1
        else:
            if not c.isspace():
                found[c] = ""
            i += 1
    return found


def _spy_calls(pbx: Pbx, app: str) -> list[tuple[Start, Reached]]:
    found = []
    for start in pbx.starts:
        if start.purpose in ("call", "overlap"):
            found += [(start, r) for r in pbx.reached(start.context, app)]
    return found


def _others(pbx: Pbx, tenant: str) -> list[str]:
    return [t for t in pbx.tenants if t != tenant]


def _spygroups(pbx: Pbx, tenant: str) -> dict[str, str]:
    """SPYGROUP values the tenant's channels carry -> where set (endpoint set_var or dialplan Set)."""
    found: dict[str, str] = {}
    for ep in pbx.endpoints_of.get(tenant, []):
        if "SPYGROUP" in ep.set_vars:
            value, loc = ep.set_vars["SPYGROUP"]
            for g in value.split(":"):
                found.setdefault(g.strip(), f"{ep.channel} set_var ({loc})")
    for start in pbx.starts_of(tenant):
        for r in pbx.reached(start.context, "set"):
            if r.call.args.split("=", 1)[0].strip().lstrip("_") == "SPYGROUP":
                for g in r.call.args.split("=", 1)[1].split(":"):
                    found.setdefault(g.strip(), f"Set() at {r.call.loc}")
    return found


@check("SPY-01", "No unscoped ChanSpy", "critical", CHECKS)
def unscoped_chanspy(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    failures, facts = [], []
    for start, reached in _spy_calls(pbx, "chanspy"):
        call = reached.call
        args = split_args(call.args) if call.args else [""]
        prefix = args[0].strip()
        options = parse_options(args[1] if len(args) > 1 else "")
        if "g" in options or "e" in options:
            continue  # scoped by group or by an enforced list: SPY-02 judges it
        steps = path_to_call(start, reached.match, reached.call)
        caller_chosen = caller_controlled(prefix)
        if "w" in options or "W" in options:
            continue  # whispering: paging built on ChanSpy, which SPY-05 judges
        runtime = bool(prefix) and "${" in prefix and not caller_chosen
        facts.append(Finding(f"ChanSpy({call.args}) is reachable by dialling {reached.match.ext.name} from "
                             f"{start.context}: it can listen to "
                             + ("any call" if not prefix else f"channels starting with {prefix}"),
                             call.loc.file, call.loc.line, steps, actors(start)))
        if start.tenant is None:
            continue
        for other in _others(pbx, start.tenant):
            exposed = [ep.channel for ep in pbx.endpoints_of.get(other, [])
                       if not prefix or caller_chosen or runtime or ep.channel.lower().startswith(prefix.lower())]
            if exposed:
                how = ("with no channel prefix and no g()/e() option it listens to every live call" if not prefix else
                       f"the caller chooses the channel prefix ({prefix})" if caller_chosen else
                       f"the channel prefix {prefix} is computed at run time, and nothing in the configuration keeps "
                       "it within the caller's tenant" if runtime else
                       f"prefix {prefix} also matches {exposed[0]}")
                failures.append(Finding(f"{{t0}} can listen to {{t1}}'s live calls: {how}", call.loc.file,
                                        call.loc.line, (*steps, f"{exposed[0]} is an endpoint of {{t1}}"),
                                        (start.tenant, other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "A tenant can listen to another tenant's live calls (ChanSpy without a scope).",
                   "No reachable ChanSpy can listen beyond the caller's own tenant.")


@check("SPY-02", "ChanSpy groups keep tenants apart", "high", CHECKS)
def spygroup_scoping(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    failures, facts = [], []
    for start, reached in _spy_calls(pbx, "chanspy"):
        call = reached.call
        args = split_args(call.args) if call.args else [""]
        options = parse_options(args[1] if len(args) > 1 else "")
        if "g" not in options and "e" not in options:
            continue
        steps = path_to_call(start, reached.match, reached.call)
        facts.append(Finding(f"ChanSpy({call.args}) is scoped by "
                             + (f"group(s) {options['g']}" if "g" in options else f"the list {options['e']}"),
                             call.loc.file, call.loc.line, steps, actors(start)))
        if start.tenant is None:
            continue
        for other in _others(pbx, start.tenant):
            if "g" in options:
                wanted = options["g"]
                if "${" in wanted:
                    failures.append(Finding(f"{{t0}} chooses the spy group ({wanted}) at dial time, so {{t1}}'s "
                                            "groups can be named", call.loc.file, call.loc.line, steps,
                                            (start.tenant, other)))
                    continue
                theirs = _spygroups(pbx, other)
                shared = [g for g in wanted.split(":") if g.strip() in theirs]
                if shared:
                    failures.append(Finding(
                        f"{{t0}}'s ChanSpy group {shared[0]} is also carried by {{t1}}'s channels", call.loc.file,
                        call.loc.line, (*steps, f"{{t1}}'s SPYGROUP {shared[0]} comes from {theirs[shared[0]]}"),
                        (start.tenant, other)))
            if "e" in options:
                names = [n.strip() for n in options["e"].split(":") if n.strip()]
                for name in names:
                    owner = pbx.tenant_of_channel(name)
                    if owner == other:
                        failures.append(Finding(f"{{t0}}'s ChanSpy list names {name}, an endpoint of {{t1}}",
                                                call.loc.file, call.loc.line, steps, (start.tenant, other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "A scoped ChanSpy still reaches another tenant's channels.",
                   "Every scoped ChanSpy stays within the caller's tenant.")


@check("SPY-03", "ExtenSpy cannot reach another tenant", "high", CHECKS)
def extenspy(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    failures, facts = [], []
    for start, reached in _spy_calls(pbx, "extenspy"):
        call = reached.call
        target = (split_args(call.args) or [""])[0].strip()
        exten, _, context = target.partition("@")
        steps = path_to_call(start, reached.match, reached.call)
        facts.append(Finding(f"ExtenSpy({call.args}) is reachable from {start.context}", call.loc.file,
                             call.loc.line, steps, actors(start)))
        if start.tenant is None:
            continue
        for other in _others(pbx, start.tenant):
            theirs = set(pbx.numbers_of(other))
            if caller_controlled(exten) or exten in theirs:
                failures.append(Finding(
                    "{t0} can listen to calls of {t1}'s extensions with ExtenSpy ("
                    + ("the caller chooses the extension" if caller_controlled(exten) else f"it names {exten}") + ")"
                    + (f" in context {context}" if context else ""), call.loc.file, call.loc.line, steps,
                    (start.tenant, other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "ExtenSpy lets a tenant listen to another tenant's extensions.",
                   "No reachable ExtenSpy reaches another tenant.")


@check("SPY-04", "No call seize or bridge into another tenant's calls", "critical", CHECKS)
def call_seize(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    failures, facts = [], []
    for app in ("bridge", "bridgewait"):
        for start, reached in _spy_calls(pbx, app):
            call = reached.call
            steps = path_to_call(start, reached.match, reached.call)
            chosen = any(k in call.args for k in ("${EXTEN", "CHANNELS(", "BRIDGEPEER", "${ARG"))
            facts.append(Finding(f"{call.priority.app}({call.args}) is reachable from {start.context}"
                                 + (": it joins a call chosen by the digits dialled" if chosen else ""),
                                 call.loc.file, call.loc.line, steps, actors(start)))
            if start.tenant is None:
                continue
            named = [o for o, _ in pbx.device_tenants(call.args) if o != start.tenant]
            for other in _others(pbx, start.tenant):
                if chosen or other in named:
                    failures.append(Finding(f"{{t0}} can seize or join {{t1}}'s active calls with "
                                            f"{call.priority.app}", call.loc.file, call.loc.line, steps,
                                            (start.tenant, other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "A tenant can take over or join another tenant's active calls.",
                   "No reachable Bridge/BridgeWait reaches another tenant's calls.")


@check("SPY-05", "Paging by ChanSpy whisper stays within a tenant", "high", CHECKS)
def whisper_paging(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    failures, facts = [], []
    for start, reached in _spy_calls(pbx, "chanspy"):
        call = reached.call
        args = split_args(call.args) if call.args else [""]
        options = parse_options(args[1] if len(args) > 1 else "")
        if "w" not in options and "W" not in options:
            continue
        prefix = args[0].strip()
        steps = path_to_call(start, reached.match, reached.call)
        facts.append(Finding(f"ChanSpy({call.args}) whispers into channels chosen by {prefix or 'nothing'}",
                             call.loc.file, call.loc.line, steps, actors(start)))
        if start.tenant is None:
            continue
        # The page group is what the same extension's path names as devices.
        path_calls = [r.call for r in pbx.calls_from(start.context) if r.match.ext is reached.match.ext]
        members = {o for c in path_calls for o, _ in pbx.device_tenants(c.args)}
        for other in _others(pbx, start.tenant):
            if other in members or caller_controlled(prefix) or not prefix:
                failures.append(Finding("{t0} can speak into {t1}'s phones (paging via ChanSpy whisper)",
                                        call.loc.file, call.loc.line, steps, (start.tenant, other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "Paging built on ChanSpy whisper reaches another tenant's phones.",
                   "No whisper-based paging reaches another tenant.")
