"""`extensions.conf` as pbx_config builds it: priorities, labels, hints, includes, switches."""

from __future__ import annotations

from collectors.pbx.conf import Loc, read_conf, split_args
from collectors.pbx.dialplan import Dialplan, Extension, _parse_app, read_dialplan
from collectors.pbx.dump import DumpFile


def plan(text: str, **more: str) -> Dialplan:
    tree = {"extensions.conf": DumpFile("extensions.conf", text.encode())}
    tree.update({name.replace("_dot_", "."): DumpFile(name.replace("_dot_", "."), t.encode())
                 for name, t in more.items()})
    return read_dialplan(read_conf(tree, "extensions.conf"))


def ext(p: Dialplan, context: str, name: str) -> Extension:
    return p.contexts[context].extensions[name]


def numbered(e: Extension) -> list[tuple[int, str, str]]:
    return [(pr.number, pr.app, pr.args) for pr in e.ordered()]


def test_priorities_n_labels_and_same() -> None:
    p = plan(
        "[c]\n"
        "exten => 100,1,Answer()\n"
        "exten => 100,n,Set(X=1)\n"
        "exten => 100,n(dial),Dial(PJSIP/100,20)\n"
        "same => n,Hangup\n"
        "same => 10,NoOp(ten)\n"
        "same => n(after),NoOp(eleven)\n"
        "exten => 100,dial+100,NoOp(busy)\n"
    )
    e = ext(p, "c", "100")
    assert numbered(e) == [(1, "Answer", ""), (2, "Set", "X=1"), (3, "Dial", "PJSIP/100,20"), (4, "Hangup", ""),
                           (10, "NoOp", "ten"), (11, "NoOp", "eleven"), (103, "NoOp", "busy")]
    assert e.labels == {"dial": 3, "after": 11}
    assert e.priorities[3].label == "dial" and e.priorities[1].label is None
    assert e.priorities[4].loc == Loc("extensions.conf", 5)
    assert p.issues == []


def test_number_plus_offset_and_same_continues_the_last_extension_of_the_context() -> None:
    p = plan(
        "[c]\n"
        "exten => 200,1,NoOp(a)\n"
        "exten => 200,1+1,NoOp(b)\n"
        "exten => 300,1,NoOp(c)\n"
        "same => n,NoOp(d)\n"
        "[d]\n"
        "same => n,NoOp(orphan)\n"
    )
    assert numbered(ext(p, "c", "200")) == [(1, "NoOp", "a"), (2, "NoOp", "b")]
    assert numbered(ext(p, "c", "300")) == [(1, "NoOp", "c"), (2, "NoOp", "d")]
    assert [(i.severity, i.loc) for i in p.issues] == [("warning", Loc("extensions.conf", 7))]


def test_duplicate_priority_keeps_the_first_with_a_warning() -> None:
    p = plan("[c]\nexten => 100,1,NoOp(first)\nexten => 100,1,NoOp(second)\n")
    assert numbered(ext(p, "c", "100")) == [(1, "NoOp", "first")]
    assert len(p.issues) == 1
    issue = p.issues[0]
    assert issue.loc == Loc("extensions.conf", 3) and "extensions.conf:2" in issue.message


def test_unknown_label_and_incomplete_line_are_warnings() -> None:
    p = plan("[c]\nexten => 100,nolabel,NoOp(x)\nexten => 100\n")
    assert [i.loc.line for i in p.issues if i.loc] == [2, 3]
    assert ext(p, "c", "100").priorities == {}


def test_hint_with_devices_and_presence_is_not_a_priority() -> None:
    p = plan("[c]\nexten => 100,hint,PJSIP/100&Custom:DND100,CustomPresence:100\nexten => 101,hint,PJSIP/101\n")
    e = ext(p, "c", "100")
    assert e.hint is not None
    assert e.hint.devices == ("PJSIP/100", "Custom:DND100") and e.hint.presence == "CustomPresence:100"
    assert e.hint.loc == Loc("extensions.conf", 2)
    assert e.priorities == {}
    h = ext(p, "c", "101").hint
    assert h is not None and h.devices == ("PJSIP/101",) and h.presence is None


def test_caller_id_match_is_a_separate_extension() -> None:
    p = plan("[c]\nexten => 100,1,NoOp(anyone)\nexten => 100/_2XX,1,NoOp(from 2xx)\nexten => _X./555,1,NoOp(p)\n")
    plain, by_cid = ext(p, "c", "100"), ext(p, "c", "100/_2XX")
    assert plain.cid is None and by_cid.name == "100" and by_cid.cid == "_2XX"
    assert by_cid.priorities[1].args == "from 2xx"
    pat = ext(p, "c", "_X./555")
    assert pat.is_pattern and pat.name == "_X." and pat.cid == "555"


def test_includes_with_timing() -> None:
    p = plan(
        "[c]\n"
        "include => plain\n"
        "include => daytime,9:00-17:00,mon-fri,*,*\n"
        "include => old|9:00-17:00|mon-fri|*|*\n"
        "[plain]\n[daytime]\n[old]\n"
    )
    incs = p.contexts["c"].includes
    assert [(i.context, i.timing) for i in incs] == [
        ("plain", None), ("daytime", "9:00-17:00,mon-fri,*,*"), ("old", "9:00-17:00,mon-fri,*,*")]
    assert [i.loc.line for i in incs] == [2, 3, 4]


def test_switch_ignorepat_settings_and_unknown_keywords() -> None:
    p = plan(
        "[general]\nstatic=yes\nwriteprotect=no\n"
        "[globals]\nTRUNK=PJSIP/provider\nCONSOLE=Console/dsp\n"
        "[c]\n"
        "switch => Realtime/c@extensions\n"
        "lswitch => Loopback/x\n"
        "ignorepat => 9\n"
        "bogus => 1\n"
    )
    assert "general" not in p.contexts and "globals" not in p.contexts
    assert p.general == {"static": "yes", "writeprotect": "no"}
    assert p.globals == {"TRUNK": "PJSIP/provider", "CONSOLE": "Console/dsp"}
    ctx = p.contexts["c"]
    assert [(k, d) for k, d, _ in ctx.switches] == [("switch", "Realtime/c@extensions"), ("lswitch", "Loopback/x")]
    assert [v for v, _ in ctx.ignorepats] == ["9"]
    # a switch to elsewhere leaves the dialplan not completely known; Loopback is an include
    [switch] = [i for i in p.issues if i.blocking]
    assert switch.loc == Loc("extensions.conf", 8) and "Realtime/c@extensions" in switch.message
    assert [i.context for i in ctx.includes] == ["x"]
    [bogus] = [i for i in p.issues if not i.blocking]
    assert bogus.loc == Loc("extensions.conf", 11) and "bogus" in bogus.message


def test_contexts_across_included_files_and_repeated_sections_merge() -> None:
    p = plan("[c]\nexten => 1,1,NoOp(a)\n#include extensions_custom.conf\n[c]\nexten => 2,1,NoOp(b)\n",
             extensions_custom_dot_conf="[c](+)\nexten => 3,1,NoOp(c)\n[d]\nexten => 4,1,NoOp(d)\n")
    assert sorted(p.contexts["c"].extensions) == ["1", "2", "3"]
    assert ext(p, "c", "3").loc == Loc("extensions_custom.conf", 2)
    assert ext(p, "d", "4").priorities[1].loc.file == "extensions_custom.conf"


def test_templates_of_contexts_are_not_contexts() -> None:
    p = plan("[tpl](!)\nexten => 1,1,NoOp(t)\n[c](tpl)\nexten => 2,1,NoOp(c)\n")
    assert list(p.contexts) == ["c"]
    assert sorted(p.contexts["c"].extensions) == ["1", "2"]


def test_app_parsing() -> None:
    assert _parse_app("Dial(PJSIP/10,20)") == ("Dial", "PJSIP/10,20")
    assert _parse_app("Hangup") == ("Hangup", "")
    assert _parse_app("Hangup()") == ("Hangup", "")
    assert _parse_app("Dial,PJSIP/10,20") == ("Dial", "PJSIP/10,20")  # old style
    assert _parse_app(" Set(A=$[${X} + (1)]) ") == ("Set", "A=$[${X} + (1)]")
    p = plan("[c]\nexten => 1,1,GotoIf($[\"${A}\" = \"x,y\"]?yes:no)\n")
    pr = ext(p, "c", "1").priorities[1]
    assert pr.app == "GotoIf" and pr.app_lower == "gotoif" and pr.args == '$["${A}" = "x,y"]?yes:no'
    assert str(pr) == 'GotoIf($["${A}" = "x,y"]?yes:no)'


def test_split_args_respects_nesting_and_quotes() -> None:
    assert split_args("a,b,c") == ["a", "b", "c"]
    assert split_args("") == [""]
    assert split_args("sub,s,1(x,y)") == ["sub", "s", "1(x,y)"]
    assert split_args("${IF($[${A}=1]?a:b)},2") == ["${IF($[${A}=1]?a:b)}", "2"]
    assert split_args('"a,b",c') == ['"a,b"', "c"]
    assert split_args("a\\,b,c") == ["a\\,b", "c"]
    assert split_args("x,(unbalanced))),y") == ["x", "(unbalanced)))", "y"]
    p = plan("[c]\nexten => 1,1,Macro(exten-vm,${IF($[${X}]?a,b:c)},\"q,r\")\n")
    assert ext(p, "c", "1").priorities[1].arg_list() == ["exten-vm", "${IF($[${X}]?a,b:c)}", '"q,r"']
