"""The steps of a finding's path, in words: endpoint → context → include … → extension → application.
Tenants appear only as {t0} (who can act) and {t1} (who is exposed)."""

from __future__ import annotations

from attest.pbx.facts import Start
from attest.pbx.reach import Call, Match
from collectors.pbx.conf import Loc
from collectors.pbx.dialplan import Include

_VERBS = {"call": "starts calls", "overlap": "starts overlap-dialled calls",
          "subscribe": "subscribes to presence/BLF", "message": "sends messages"}


def start_step(start: Start, who: str = "{t0}") -> str:
    ep = start.endpoint
    loc = ep.context_loc or ep.loc
    return f"endpoint {ep.channel} of {who} {_VERBS.get(start.purpose, 'starts')} in context {start.context} ({loc})"


def chain_steps(start_context: str, chain: tuple[Include, ...]) -> list[str]:
    steps, prev = [], start_context
    for inc in chain:
        timed = f" at times {inc.timing} (a timed include is still reachable)" if inc.timing else ""
        steps.append(f"{prev} includes {inc.context}{timed} ({inc.loc})")
        prev = inc.context
    return steps


def match_step(dialled: str, m: Match) -> str:
    how = "matches pattern" if m.ext.is_pattern else "is extension"
    return f"dialling {dialled} {how} {m.ext.name} in {m.context} ({m.ext.loc})"


def ext_step(m: Match) -> str:
    kind = "pattern" if m.ext.is_pattern else "extension"
    return f"{kind} {m.ext.name} in {m.context} ({m.ext.loc})"


def call_step(call: Call, suffix: str = "") -> str:
    return f"priority {call.priority.number}: {call.priority.app}({call.args}) ({call.loc}){suffix}"


def path_to_call(start: Start, m: Match, call: Call, dialled: str | None = None, suffix: str = "") -> tuple[str, ...]:
    """Endpoint → context → includes → extension → jumps → the call (an unmapped endpoint when
    the start belongs to no tenant)."""
    steps = [start_step(start, "{t0}" if start.tenant else "an endpoint"), *chain_steps(start.context, m.chain)]
    steps.append(match_step(dialled, m) if dialled is not None else ext_step(m))
    steps += list(call.trail)
    steps.append(call_step(call, suffix))
    return tuple(steps)


def actors(start: Start) -> tuple[str, ...]:
    """The tenants a finding about *start* involves: its own, if it has one."""
    return (start.tenant,) if start.tenant else ()


def where(loc: Loc | None) -> tuple[str | None, int | None]:
    return (loc.file, loc.line) if loc is not None else (None, None)
