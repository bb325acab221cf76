"""Dialplan reachability: what a call that starts in a context can reach.

`Closure` is a context with everything it includes, in the order Asterisk searches it (a context's
own extensions, exact before pattern, then its includes depth-first, each context once; timed
includes count as reachable). `Closure.match(dialled)` is the extension Asterisk would run.

`Walker.walk` follows that extension's priorities the way the PBX would run them, as far as the
configuration alone can tell: priorities in order, `Goto`/`GotoIf`/`GotoIfTime` (both branches),
`Gosub`/`GosubIf`/`Macro` (and back), `ExecIf` (both applications), with `${EXTEN}`, `${EXTEN:n:m}`,
`${ARGn}`, globals and earlier `Set()`s substituted. It yields every application call reached,
with the trail of jumps that led there. Runtime values (AstDB, functions) stay unresolved text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

from attest.pbx.patterns import compile_pattern, example, overlaps, specificity, suffix_pattern
from collectors.pbx.conf import Loc, split_args
from collectors.pbx.dialplan import Context, Dialplan, Extension, Include, Priority

# What a variable holds after Read(): whatever the caller keys in.
CALLER_INPUT = "${CALLER_INPUT}"


def caller_controlled(text: str) -> bool:
    """Whether *text* depends on what the caller dialled or keyed in."""
    return "${EXTEN" in text or CALLER_INPUT in text


MAX_VALUE = 256  # longer computed values are left unknown rather than grown without end
MAX_STEPS = 600  # priorities one walk may run; loops are also cut by the visited set
MAX_FRAMES = 12  # nested Gosub/Macro


class Match(NamedTuple):
    context: str
    ext: Extension
    chain: tuple[Include, ...]  # the includes followed from the start context


@dataclass
class Closure:
    start: str
    order: list[tuple[str, tuple[Include, ...]]]  # contexts in search order, with how each is reached
    literal: dict[str, tuple[int, Match]]
    patterns: list[tuple[int, tuple[int, ...], Match]]  # (order index, specificity, match), sorted
    unknown_includes: list[Include]  # includes naming a context that does not exist
    hints: list[Match]  # every hint in the closure, in search order

    @property
    def contexts(self) -> set[str]:
        return {c for c, _ in self.order}

    def chain_to(self, context: str) -> tuple[Include, ...] | None:
        for name, chain in self.order:
            if name == context:
                return chain
        return None

    def match(self, dialled: str) -> Match | None:
        lit = self.literal.get(dialled)
        limit = lit[0] if lit is not None else len(self.order)
        for index, _key, m in self.patterns:
            if index >= limit:
                break
            if compile_pattern(m.ext.name).match(dialled):
                return m
        return lit[1] if lit is not None else None

    def extensions(self) -> Iterator[Match]:
        """Every dialable extension, in search order (literal ones first within the whole closure)."""
        for _, m in sorted(self.literal.values(), key=lambda x: x[0]):
            yield m
        for _, _, m in self.patterns:
            yield m


def build_closure(plan: Dialplan, start: str) -> Closure:
    order: list[tuple[str, tuple[Include, ...]]] = []
    unknown: list[Include] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[Include, ...]) -> None:
        if name in seen:
            return
        ctx = plan.contexts.get(name)
        if ctx is None:
            if chain:
                unknown.append(chain[-1])
            return
        seen.add(name)
        order.append((name, chain))
        for inc in ctx.includes:
            visit(inc.context, (*chain, inc))

    visit(start, ())
    literal: dict[str, tuple[int, Match]] = {}
    patterns: list[tuple[int, tuple[int, ...], Match]] = []
    hints: list[Match] = []
    for index, (name, chain) in enumerate(order):
        ctx = plan.contexts[name]
        for ext in ctx.extensions.values():
            if ext.hint is not None:
                hints.append(Match(name, ext, chain))
            if 1 not in ext.priorities:  # a hint alone cannot be dialled: the search goes on
                continue
            m = Match(name, ext, chain)
            if ext.is_pattern:
                patterns.append((index, specificity(ext.name), m))
            elif ext.name not in literal or (literal[ext.name][0] == index and literal[ext.name][1].ext.cid
                                             and not ext.cid):
                # A caller-id-restricted variant (20/_9X) does not hide the plain 20 of its context.
                literal[ext.name] = (index, m)
    patterns.sort(key=lambda p: (p[0], p[1]))
    return Closure(start, order, literal, patterns, unknown, hints)


# --- walking ----------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([^{}$]+)\}")
_EXTEN_EXPR = re.compile(r"^\$\{EXTEN(?::(\d+))?\}$")
_HANDLER = re.compile(r"([bBUM])\(([^()]*(?:\([^()]*\))?[^()]*)\)")
_SIGNATURE = ("EXTEN", "ARG1", "ARG2", "ARG3", "ARG4", "ARG5")
_SUBSTR = re.compile(r"^([A-Za-z0-9_]+):(-?\d+)(?::(-?\d+))?$")


def substitute(text: str, variables: dict[str, str]) -> str:
    """Replace `${NAME}` and `${NAME:offset[:length]}` whose values are known; leave the rest."""
    for _ in range(6):
        changed = False

        def one(m: re.Match[str]) -> str:
            nonlocal changed
            inner = m.group(1)
            sub = _SUBSTR.match(inner)
            if sub:
                value = variables.get(sub.group(1))
                if value is None:
                    return m.group(0)
                off = int(sub.group(2))
                start = off if off >= 0 else max(0, len(value) + off)
                piece = value[start:]
                if sub.group(3) is not None:
                    length = int(sub.group(3))
                    piece = piece[:length] if length >= 0 else piece[:length or None]
                changed = True
                return piece
            value = variables.get(inner)
            if value is None:
                return m.group(0)
            changed = True
            return value

        text = _VAR.sub(one, text)
        if not changed:
            break
    return text


@dataclass(frozen=True)
class Call:
    """One application call reached by a walk."""

    app: str  # lower case: "dial", "pickup", "chanspy"…
    args: str  # with the known variables substituted
    priority: Priority
    context: str
    exten: str  # the extension it belongs to (a pattern keeps its "_")
    trail: tuple[str, ...]  # the jumps (Goto/Macro/Gosub…) taken to get here, for people

    @property
    def loc(self) -> Loc:
        return self.priority.loc

    def describe(self) -> str:
        return f"{self.priority.app}({self.args}) at {self.loc}"


@dataclass
class _Frame:
    context: str
    ext: Extension
    number: int
    variables: dict[str, str]
    # Where each Gosub/Macro returns to: context, extension, priority, variables, trail
    returns: tuple[tuple[str, Extension, int, dict[str, str], tuple[str, ...]], ...]
    trail: tuple[str, ...]


def _split_cond(text: str) -> tuple[str, str, str]:
    """"cond?a:b" -> (cond, a, b), splitting at the top-level '?' and ':'."""
    depth = 0
    q = -1
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "?" and depth == 0:
            q = i
            break
    if q < 0:
        return text, "", ""
    rest = text[q + 1:]
    depth = 0
    for i, c in enumerate(rest):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == ":" and depth == 0:
            return text[:q], rest[:i], rest[i + 1:]
    return text[:q], rest, ""


# Applications whose arguments the checks judge: code holding one is walked again for each
# distinct set of arguments it is entered with (see `Walker.walk`).
JUDGED_APPS = frozenset({"chanspy", "extenspy", "pickup", "pickupchan", "page", "confbridge", "meetme",
                         "voicemailmain", "directory", "bridge", "bridgewait", "park", "parkedcall", "mixmonitor",
                         "monitor"})
MAX_BRANCHES = 300  # extensions a caller-chosen Goto may lead to, followed at most


class Walker:
    def __init__(self, plan: Dialplan) -> None:
        self.plan = plan
        self._closures: dict[str, Closure] = {}
        self.globals = dict(plan.globals)
        self.judged_contexts = {c.name for c in plan.contexts.values()
                                if any(p.app_lower in JUDGED_APPS for e in c.extensions.values()
                                       for p in e.priorities.values())}

    def closure(self, context: str) -> Closure:
        found = self._closures.get(context)
        if found is None:
            found = self._closures[context] = build_closure(self.plan, context)
        return found

    def context(self, name: str) -> Context | None:
        return self.plan.contexts.get(name)

    def _target(self, frame: _Frame, parts: list[str]) -> tuple[str, Extension, int, str] | None:
        found = self._targets(frame, parts)
        return found[0] if found else None

    def _targets(self, frame: _Frame, parts: list[str]) -> list[tuple[str, Extension, int, str]]:
        """Resolve Goto-style [[context,]exten,]priority into (context, extension, number, exten);
        several when the extension is chosen by the caller's digits: every extension of the
        target the digits could name (at most MAX_BRANCHES)."""
        parts = [substitute(p.strip(), frame.variables) for p in parts if p is not None]
        if not parts or not parts[-1]:
            return []
        if len(parts) >= 2 and "EXTEN" not in frame.variables and caller_controlled(parts[-2]) \
                and "${" not in (parts[-3] if len(parts) >= 3 else frame.context):
            return self._chosen_targets(frame, parts)
        one = self._one_target(frame, parts)
        return [one] if one else []

    def _chosen_targets(self, frame: _Frame, parts: list[str]) -> list[tuple[str, Extension, int, str]]:
        context = parts[-3] if len(parts) >= 3 else frame.context
        produced = None
        m = _EXTEN_EXPR.match(parts[-2])
        if m and frame.ext.is_pattern:
            produced = suffix_pattern(frame.ext.name, int(m.group(1) or 0))
        found = []
        for cand in self.closure(context).extensions():
            name = cand.ext.name
            if produced is not None and not overlaps(produced, name):
                continue
            pri = parts[-1]
            number = int(pri) if pri.isdigit() else cand.ext.labels.get(pri)
            if number is not None and number in cand.ext.priorities:
                found.append((cand.context, cand.ext, number, name))
            if len(found) >= MAX_BRANCHES:
                break
        return found

    def _one_target(self, frame: _Frame, parts: list[str]) -> tuple[str, Extension, int, str] | None:
        context, exten = frame.context, frame.variables.get("EXTEN", frame.ext.name)
        if len(parts) == 1:
            pri = parts[0]
            ext = frame.ext
        else:
            pri = parts[-1]
            exten = parts[-2]
            if len(parts) >= 3:
                context = parts[-3]
            lookup = exten
            if exten == "${EXTEN}" and "EXTEN" not in frame.variables and frame.ext.is_pattern:
                # A pattern walked for what it can do passes the dialled digits on: follow it with
                # a string the pattern matches, keeping ${EXTEN} unknown.
                lookup, exten = example(frame.ext.name), frame.ext.name
            if "${" in lookup or "${" in context or "$[" in lookup:
                return None
            m = self.closure(context).match(lookup)
            if m is None:
                return None
            context, ext = m.context, m.ext
        if pri.isdigit():
            number = int(pri)
        elif pri in ext.labels:
            number = ext.labels[pri]
        else:
            return None
        return (context, ext, number, exten) if number in ext.priorities else None

    def walk(self, context: str, ext: Extension, dialled: str | None, start: int = 1,
             variables: dict[str, str] | None = None, seen: set[tuple[str, str, int, str]] | None = None
             ) -> Iterator[Call]:
        """The calls a call dialling *dialled* runs from *ext*. *seen*, shared between walks, makes
        each priority run once across all of them: enough to know what is reachable at all (the
        first walk to reach shared code, e.g. a macro, is the one its calls are credited to)."""
        base = dict(self.globals)
        base.update(variables or {})
        base["CONTEXT"] = context
        if dialled is not None:  # a pattern walked for what it can do keeps ${EXTEN} visible
            base["EXTEN"] = dialled
        stack = [_Frame(context, ext, start, base, (), ())]
        visited: set[tuple[str, str, int, str]] = set()
        steps = 0
        while stack and steps < MAX_STEPS:
            frame = stack.pop()
            while steps < MAX_STEPS:
                prio = frame.ext.priorities.get(frame.number)
                if prio is None:  # fell off the end: back to the caller of a Gosub/Macro, or done
                    if not frame.returns:
                        break
                    frame = self._return(frame)
                    continue
                judged = frame.context in self.judged_contexts
                # Code that holds an application the checks judge is walked once per distinct set of
                # arguments (a shared ChanSpy subroutine must be seen with every caller's prefix);
                # other code once per walk (and once per closure with a shared *seen*).
                signature = "|".join(frame.variables.get(k, "") for k in _SIGNATURE) if judged else ""
                key = (frame.context, frame.ext.name, frame.number,
                       frame.variables.get("EXTEN", "") + "|" + frame.variables.get("ARG1", "") + "|" + signature)
                where = (frame.context, frame.ext.name, frame.number, signature)
                if key in visited or (seen is not None and where in seen):
                    # Explored already: a Gosub/Macro body seen before still returns to its caller,
                    # whose next priorities may not have been run yet.
                    if frame.returns:
                        frame = self._return(frame)
                        continue
                    break
                visited.add(key)
                if seen is not None:
                    seen.add(where)
                steps += 1
                app = prio.app_lower
                args = substitute(prio.args, frame.variables)
                call = Call(app, args, prio, frame.context, frame.ext.name, frame.trail)
                yield call
                if app == "execif":  # the applications it may run are reached too
                    yield from self._exec_if(frame, call)
                nxt = self._step(frame, call)
                if nxt is None:
                    break
                follow, *branches = nxt
                stack.extend(branches)
                frame = follow

    def _step(self, frame: _Frame, call: Call) -> list[_Frame] | None:
        """The frames that run after *call*: the first is followed now, the others later."""
        app, args = call.app, call.args
        after = _Frame(frame.context, frame.ext, frame.number + 1, frame.variables, frame.returns, frame.trail)
        here = f"{call.priority.app}({call.args}) at {call.loc}"
        if app == "stackpop":  # forgets the innermost return address and goes on here
            return [_Frame(frame.context, frame.ext, frame.number + 1, frame.variables, frame.returns[:-1],
                           frame.trail)]
        if app in ("hangup", "macroexit") or (app == "return" and not frame.returns):
            if app == "macroexit" and frame.returns:
                return [self._return(frame)]
            return None
        if app == "return":
            return [self._return(frame)]
        if app == "set":
            name, _, value = args.partition("=")
            name = name.strip().lstrip("_")
            if name and "(" not in name:
                variables = dict(frame.variables)
                if len(value) <= MAX_VALUE and "${" + name not in value:
                    variables[name] = value
                else:  # a value built from itself (AMPUSER=${IF(…${AMPUSER}…)}) stays unknown
                    variables.pop(name, None)
                after.variables = variables
            return [after]
        if app == "read":  # Read(variable,…): the caller keys the value in
            name = (split_args(args) or [""])[0].strip()
            if name:
                variables = dict(frame.variables)
                variables[name] = CALLER_INPUT
                after.variables = variables
            return [after]
        if app == "goto":
            targets = self._targets(frame, split_args(call.priority.args))
            return [self._jump(frame, t, here) for t in targets] or None
        if app in ("gotoif", "gotoiftime"):
            _, yes, no = _split_cond(call.priority.args)
            found = []
            for branch in (yes, no):
                if branch.strip():
                    found += [self._jump(frame, t, here) for t in self._targets(frame, split_args(branch))]
                else:
                    found.append(after)
            return found or None
        if app == "dial":
            return [after, *self._dial_handlers(frame, call, here)]
        if app in ("gosub", "gosubif"):
            branches = [call.priority.args]
            if app == "gosubif":
                _, yes, no = _split_cond(call.priority.args)
                branches = [b for b in (yes, no) if b.strip()]
            found = []
            for branch in branches:
                body, paren, sub_args = branch.partition("(")
                if paren and sub_args.endswith(")"):  # only the closing parenthesis of the argument list
                    sub_args = sub_args[:-1]
                target = self._target(frame, split_args(body))
                if target:
                    found.append(self._call(frame, target, sub_args, here, after))
            return [*found, after] if found else [after]
        if app == "execif":  # the condition may be false (go on), or run either application
            found = []
            for inner in self._exec_if(frame, call):
                # what differs from just going on (a Set's variables, a jump); plain goes on once, last
                found += [f for f in self._step(frame, inner) or []
                          if (f.context, f.ext, f.number, f.variables, f.returns)
                          != (after.context, after.ext, after.number, after.variables, after.returns)]
            return [*found, after]
        if app == "macro":
            parts = split_args(args)
            name = parts[0].strip() if parts else ""
            ctx = self.plan.contexts.get(f"macro-{name}")
            ext = ctx.extensions.get("s") if ctx else None
            if ext is None or 1 not in ext.priorities:
                return [after]
            variables = dict(frame.variables)
            for i in range(1, 10):
                variables.pop(f"ARG{i}", None)
            for i, value in enumerate(parts[1:], start=1):
                variables[f"ARG{i}"] = value
            variables["MACRO_EXTEN"] = frame.variables.get("EXTEN", "")
            variables["EXTEN"] = "s"
            if len(frame.returns) >= MAX_FRAMES:
                return [after]
            back = (*frame.returns, (frame.context, frame.ext, frame.number + 1, frame.variables, frame.trail))
            return [_Frame(f"macro-{name}", ext, 1, variables, back, (*frame.trail, here))]
        return [after]

    def _exec_if(self, frame: _Frame, call: Call) -> list[Call]:
        """The applications `ExecIf(cond?App1(args)[:App2(args)])` (or the old `ExecIf(cond,App,args)`) may run."""
        raw = call.priority.args
        _, yes, no = _split_cond(raw)
        if not yes and not no:
            parts = split_args(raw)
            branches = [parts[1] + "(" + ",".join(parts[2:]) + ")"] if len(parts) >= 2 else []
        else:
            branches = [b for b in (yes, no) if b.strip()]
        found = []
        for branch in branches:
            text = branch.strip()
            name, paren, inner = text.partition("(")
            if paren and inner.endswith(")"):
                inner = inner[:-1]
            if name.strip():  # as if the priority ran the application itself (same file:line)
                prio = replace(call.priority, app=name.strip(), args=inner)
                found.append(Call(prio.app_lower, substitute(inner, frame.variables), prio, call.context,
                                  call.exten, call.trail))
        return found

    def _dial_handlers(self, frame: _Frame, call: Call, here: str) -> list[_Frame]:
        """Dial's b()/B() (Gosub ctx^exten^priority) and U() (Gosub subroutine) pre-dial/answer
        handlers and M() (Macro) run dialplan too: walked as branches that end when they return."""
        parts = split_args(call.args)
        options = parts[2] if len(parts) > 2 else ""
        frames = []
        for letter, body in _HANDLER.findall(options):
            target_text, _, sub_args = body.partition("(")
            pieces = target_text.split("^")
            if letter in "bBU":
                if letter == "U":
                    pieces = [pieces[0], "s", "1"]
                    sub_args = "^".join(target_text.split("^")[1:])
                target = self._target(frame, pieces)
                if target:
                    variables = dict(frame.variables)
                    for i, value in enumerate(sub_args.rstrip(")").replace("^", ",").split(",") if sub_args else [],
                                              start=1):
                        variables[f"ARG{i}"] = value
                    context, ext, number, _ = target
                    variables["CONTEXT"] = context
                    frames.append(_Frame(context, ext, number, variables, (), (*frame.trail, here)))
            elif letter == "M":
                ctx = self.plan.contexts.get(f"macro-{pieces[0]}")
                macro = ctx.extensions.get("s") if ctx else None
                if macro is not None and 1 in macro.priorities:
                    variables = dict(frame.variables)
                    for i, value in enumerate(pieces[1:], start=1):
                        variables[f"ARG{i}"] = value
                    frames.append(_Frame(f"macro-{pieces[0]}", macro, 1, variables, (), (*frame.trail, here)))
        return frames

    def _return(self, frame: _Frame) -> _Frame:
        ctx, ext, number, variables, trail = frame.returns[-1]
        return _Frame(ctx, ext, number, variables, frame.returns[:-1], trail)

    def _jump(self, frame: _Frame, target: tuple[str, Extension, int, str], here: str) -> _Frame:
        context, ext, number, exten = target
        variables = dict(frame.variables)
        if not exten.startswith("_"):
            variables["EXTEN"] = exten
        variables["CONTEXT"] = context
        return _Frame(context, ext, number, variables, frame.returns, (*frame.trail, here))

    def _call(self, frame: _Frame, target: tuple[str, Extension, int, str], args: str, here: str,
              after: _Frame) -> _Frame:
        context, ext, number, exten = target
        variables = dict(frame.variables)
        for i, value in enumerate(split_args(args) if args else [], start=1):
            variables[f"ARG{i}"] = substitute(value, frame.variables)
        variables["EXTEN"], variables["CONTEXT"] = exten, context
        if len(frame.returns) >= MAX_FRAMES:
            return after
        back = (*frame.returns, (after.context, after.ext, after.number, frame.variables, frame.trail))
        return _Frame(context, ext, number, variables, back, (*frame.trail, here))
