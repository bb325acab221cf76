"""Dialplan reachability: the include closure and match order, and the walker that follows
Goto/GotoIf/Gosub/Macro/ExecIf/Read with variables substituted."""

from __future__ import annotations

import pytest

from attest.pbx import reach
from attest.pbx.reach import CALLER_INPUT, Call, Walker, build_closure, caller_controlled, substitute
from collectors.pbx.conf import read_conf
from collectors.pbx.dialplan import Dialplan, read_dialplan
from collectors.pbx.dump import DumpFile


def plan(text: str) -> Dialplan:
    return read_dialplan(read_conf({"extensions.conf": DumpFile("extensions.conf", text.encode())},
                                   "extensions.conf"))


def walk(text: str, context: str, dialled: str, **kw: object) -> list[Call]:
    p = plan(text)
    w = Walker(p)
    m = w.closure(context).match(dialled)
    assert m is not None, dialled
    return list(w.walk(m.context, m.ext, dialled, **kw))  # type: ignore[arg-type]


def apps(calls: list[Call]) -> list[str]:
    return [f"{c.app}({c.args})" for c in calls]


# --- closure --------------------------------------------------------------------------------------

CLOSURE = """
[start]
include => a
include => b
include => missing-ctx
include => daytime,9:00-17:00,mon-fri,*,*
[a]
include => a1
include => b
[a1]
[b]
include => start
[daytime]
exten => 7,1,NoOp(day)
"""


def test_closure_is_depth_first_each_context_once() -> None:
    c = build_closure(plan(CLOSURE), "start")
    assert [name for name, _ in c.order] == ["start", "a", "a1", "b", "daytime"]
    assert c.contexts == {"start", "a", "a1", "b", "daytime"}
    assert [i.context for i in c.chain_to("b") or ()] == ["a", "b"]  # reached through a first
    assert c.chain_to("start") == ()
    assert c.chain_to("nowhere") is None
    assert [i.context for i in c.unknown_includes] == ["missing-ctx"]
    assert c.unknown_includes[0].loc.line == 5


def test_timed_include_is_reachable() -> None:
    c = build_closure(plan(CLOSURE), "start")
    m = c.match("7")
    assert m is not None and m.context == "daytime"
    assert m.chain[-1].timing == "9:00-17:00,mon-fri,*,*"


def test_unknown_start_context() -> None:
    c = build_closure(plan(CLOSURE), "nope")
    assert c.order == [] and c.match("7") is None and c.unknown_includes == []


MATCH = """
[start]
exten => 20,1,NoOp(exact in start)
exten => _2X,1,NoOp(pattern in start)
exten => _X.,1,NoOp(catch-all in start)
exten => _NXX,1,NoOp(nxx)
exten => _XXX,1,NoOp(xxx)
exten => 30,hint,PJSIP/30
include => later
[later]
exten => 21,1,NoOp(exact in later)
exten => 30,1,NoOp(dialable 30 in later)
exten => 5,1,NoOp(five)
"""


def test_match_order() -> None:
    c = build_closure(plan(MATCH), "start")

    def where(dialled: str) -> str:
        m = c.match(dialled)
        assert m is not None
        return m.ext.priorities[1].args

    assert where("20") == "exact in start"  # exact beats pattern in the same context
    assert where("25") == "pattern in start"  # _2X is more specific than _X.
    # an earlier context's pattern beats a later context's exact extension (Asterisk searches a
    # context completely before its includes)
    assert where("21") == "pattern in start"
    assert where("500") == "nxx"  # _NXX before _XXX
    assert where("100") == "xxx"
    # a hint alone cannot be dialled: 30 is matched by start's patterns, never by the hint
    assert where("30") == "catch-all in start"
    assert c.match("") is None
    assert [m.ext.name for m in c.hints] == ["30"]
    names = [m.ext.name for m in c.extensions()]
    assert names[:4] == ["20", "21", "30", "5"]  # literal ones first, in search order
    assert names[4:] == ["_2X", "_NXX", "_XXX", "_X."]


def test_hint_only_extension_is_not_dialable() -> None:
    c = build_closure(plan("[s]\nexten => 10,hint,PJSIP/10\n"), "s")
    assert c.match("10") is None
    assert [m.ext.name for m in c.hints] == ["10"]
    assert list(c.extensions()) == []


# --- walker ---------------------------------------------------------------------------------------


def test_goto_by_label_and_by_context_exten_priority() -> None:
    text = """
[c]
exten => 1,1,Goto(there)
same => n,NoOp(skipped)
same => n(there),NoOp(at label)
same => n,Goto(other,${EXTEN}00,2)
[other]
exten => 100,1,NoOp(not run)
same => n,Dial(PJSIP/${EXTEN})
"""
    calls = walk(text, "c", "1")
    assert apps(calls) == ["goto(there)", "noop(at label)", "goto(other,100,2)", "dial(PJSIP/100)"]
    last = calls[-1]
    assert last.context == "other" and last.exten == "100"
    assert last.trail == ("Goto(there) at extensions.conf:3", "Goto(other,100,2) at extensions.conf:6")
    assert last.loc.line == 9 and last.describe() == "Dial(PJSIP/100) at extensions.conf:9"


def test_goto_follows_the_target_contexts_includes() -> None:
    text = ("[c]\nexten => 1,1,Goto(entry,55,1)\n[entry]\ninclude => inner\n"
            "[inner]\nexten => _5X,1,Dial(PJSIP/${EXTEN})\n")
    assert apps(walk(text, "c", "1"))[-1] == "dial(PJSIP/55)"


def test_gotoif_follows_both_branches() -> None:
    text = """
[c]
exten => 1,1,GotoIf($["${A}" = "1"]?yes:no)
same => n(yes),NoOp(yes)
same => n,Hangup()
same => n(no),NoOp(no)
exten => 2,1,GotoIf($[${B}]?skip)
same => n,NoOp(fell through)
same => n(skip),NoOp(skipped to)
"""
    assert {c.args for c in walk(text, "c", "1")} >= {"yes", "no"}
    assert {c.args for c in walk(text, "c", "2")} >= {"fell through", "skipped to"}


def test_macro_with_args_and_return() -> None:
    text = """
[c]
exten => 10,1,Macro(ring,PJSIP/${EXTEN},20)
same => n,NoOp(back ${ARG1})
[macro-ring]
exten => s,1,Dial(${ARG1},${ARG2})
same => n,NoOp(in macro ${MACRO_EXTEN} ${EXTEN})
"""
    calls = walk(text, "c", "10")
    assert apps(calls) == ["macro(ring,PJSIP/10,20)", "dial(PJSIP/10,20)", "noop(in macro 10 s)", "noop(back ${ARG1})"]
    assert calls[1].context == "macro-ring" and calls[1].trail == ("Macro(ring,PJSIP/10,20) at extensions.conf:3",)
    assert calls[3].trail == ()


def test_macroexit_returns_and_unknown_macro_goes_on() -> None:
    text = """
[c]
exten => 10,1,Macro(stop)
same => n,Macro(nonexistent)
same => n,NoOp(end)
[macro-stop]
exten => s,1,MacroExit()
same => n,NoOp(never)
"""
    assert apps(walk(text, "c", "10")) == ["macro(stop)", "macroexit()", "macro(nonexistent)", "noop(end)"]


def test_gosub_with_args_and_return() -> None:
    text = """
[c]
exten => 10,1,Gosub(sub-ring,s,1(PJSIP/${EXTEN},${CALLERID(num)}))
same => n,NoOp(after)
[sub-ring]
exten => s,1,Dial(${ARG1})
same => n,NoOp(${ARG2})
same => n,Return()
same => n,NoOp(never)
"""
    calls = walk(text, "c", "10")
    assert apps(calls) == ["gosub(sub-ring,s,1(PJSIP/10,${CALLERID(num)}))", "dial(PJSIP/10)",
                           "noop(${CALLERID(num)})", "return()", "noop(after)"]


def test_gosubif_both_subroutines() -> None:
    text = """
[c]
exten => 1,1,GosubIf($[${X}]?yes,s,1(a):no,s,1(b))
[yes]
exten => s,1,NoOp(yes ${ARG1})
same => n,Return()
[no]
exten => s,1,NoOp(no ${ARG1})
same => n,Return()
"""
    assert {c.args for c in walk(text, "c", "1")} >= {"yes a", "no b"}


def test_execif_reaches_both_applications_and_follows_jumps() -> None:
    text = """
[c]
exten => 1,1,ExecIf($["${X}" = "1"]?ChanSpy(PJSIP/${EXTEN}):Set(Y=${EXTEN}))
same => n,NoOp(y is ${Y})
same => n,ExecIf($[${Z}]?Goto(jumped,1,1))
same => n,NoOp(after)
same => n,ExecIf(${Q},Page,PJSIP/1)
[jumped]
exten => 1,1,NoOp(jumped)
"""
    calls = walk(text, "c", "1")
    found = apps(calls)
    assert "chanspy(PJSIP/1)" in found and "set(Y=1)" in found
    spy = next(c for c in calls if c.app == "chanspy")
    assert spy.loc.line == 3 and spy.priority.app == "ChanSpy"
    assert "noop(y is 1)" in found  # the Set inside ExecIf applies on its branch
    assert "noop(jumped)" in found and "noop(after)" in found  # the Goto branch and the false branch
    assert "page(PJSIP/1)" in found  # the old ExecIf(cond,app,args) form


def test_read_makes_a_variable_caller_controlled() -> None:
    text = """
[c]
exten => 1,1,Read(ROOM,enter-room,4)
same => n,ChanSpy(PJSIP/${ROOM})
"""
    calls = walk(text, "c", "1")
    spy = calls[-1]
    assert spy.app == "chanspy" and spy.args == f"PJSIP/{CALLER_INPUT}"
    assert caller_controlled(spy.args)
    assert caller_controlled("PJSIP/${EXTEN:2}") and not caller_controlled("PJSIP/20")


def test_exten_substrings() -> None:
    assert substitute("${EXTEN:2}", {"EXTEN": "**20"}) == "20"
    assert substitute("${EXTEN:-4:2}", {"EXTEN": "0391234567"}) == "45"
    assert substitute("${EXTEN:1:-1}", {"EXTEN": "12345"}) == "234"
    assert substitute("${EXTEN:0:1}${UNKNOWN}", {"EXTEN": "9"}) == "9${UNKNOWN}"
    assert substitute("${A}", {"A": "${B}", "B": "deep"}) == "deep"
    calls = walk("[c]\nexten => _**.,1,Pickup(${EXTEN:2}&${EXTEN:2}@PICKUPMARK)\n", "c", "**21")
    assert apps(calls) == ["pickup(21&21@PICKUPMARK)"]


def test_pattern_walked_without_dialled_keeps_exten_visible() -> None:
    p = plan("[c]\nexten => _**.,1,Pickup(${EXTEN:2})\n")
    w = Walker(p)
    m = w.closure("c").match("**5")
    assert m is not None
    calls = list(w.walk(m.context, m.ext, None))
    assert calls[0].args == "${EXTEN:2}" and caller_controlled(calls[0].args)


def test_globals_are_substituted() -> None:
    calls = walk("[globals]\nTRUNK=PJSIP/carrier\n[c]\nexten => 9,1,Dial(${TRUNK})\n", "c", "9")
    assert calls[0].args == "PJSIP/carrier"


def test_self_referencing_set_does_not_explode() -> None:
    text = """
[c]
exten => 1,1,Set(A=x${A}${A})
same => n,Set(A=${A}${A}${A}${A})
same => n,Set(B=${C})
same => n,Set(C=${B})
same => n,NoOp(${A}|${B}|${C})
"""
    calls = walk(text, "c", "1")
    assert calls[-1].args == "${A}|${C}|${C}"
    assert all(len(c.args) < 100 for c in calls)


def test_loops_terminate() -> None:
    text = """
[c]
exten => 1,1,NoOp(top)
same => n,Goto(1)
exten => 2,1,Set(I=${I}1)
same => n,Goto(c,2,1)
exten => 3,1,Set(N=${EXTEN}${N})
same => n,Goto(c,3${N},1)
exten => _3X.,1,Goto(c,3,1)
"""
    assert apps(walk(text, "c", "1")) == ["noop(top)", "goto(1)"]
    assert len(walk(text, "c", "2")) == 2
    assert len(walk(text, "c", "3")) <= reach.MAX_STEPS


def test_max_steps_bounds_a_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "[c]\nexten => 1,1,NoOp(1)\n" + "".join(f"same => n,NoOp({i})\n" for i in range(2, 20))
    assert len(walk(text, "c", "1")) == 19
    monkeypatch.setattr(reach, "MAX_STEPS", 5)
    assert len(walk(text, "c", "1")) == 5


def test_macro_seen_in_a_shared_set_still_returns_to_its_caller() -> None:
    text = """
[c]
exten => 10,1,Macro(common)
same => n,Dial(PJSIP/10)
exten => 20,1,Macro(common)
same => n,Dial(PJSIP/20)
[macro-common]
exten => s,1,NoOp(shared)
same => n,Set(X=1)
"""
    p = plan(text)
    w = Walker(p)
    seen: set[tuple[str, str, int]] = set()
    first = list(w.walk("c", p.contexts["c"].extensions["10"], "10", seen=seen))
    second = list(w.walk("c", p.contexts["c"].extensions["20"], "20", seen=seen))
    assert apps(first) == ["macro(common)", "noop(shared)", "set(X=1)", "dial(PJSIP/10)"]
    # the macro body is credited to the first walk only, but the second still gets past it
    assert apps(second) == ["macro(common)", "dial(PJSIP/20)"]


def test_walk_from_a_later_priority_and_with_variables() -> None:
    p = plan("[c]\nexten => 1,1,NoOp(a)\nsame => n,Dial(${DEV})\n")
    w = Walker(p)
    calls = list(w.walk("c", p.contexts["c"].extensions["1"], "1", start=2, variables={"DEV": "PJSIP/9"}))
    assert apps(calls) == ["dial(PJSIP/9)"]
