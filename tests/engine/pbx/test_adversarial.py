"""Adversarial review of the PBX isolation analysis: small two-tenant trees (X = 10-19 in context
x-internal, Y = 20-29 in y-internal) where each test asserts what Asterisk really does.

A test marked `xfail(strict=True)` documents a bug of the analysis (mostly a FALSE PASS: a
cross-tenant path Asterisk has and the analysis misses); its reason names the cause. The others
pin behaviour the analysis already gets right."""

from __future__ import annotations

import pytest

from attest.pbx.analysis import Analysis, analyse
from attest.pbx.inventory import Inventory
from collectors.pbx.dump import DumpFile, PbxDump


def _ep(name: str, context: str, extra: str = "") -> str:
    return f"[{name}]\ntype=endpoint\ncontext={context}\n{extra}\n"


def _pjsip(x_extra: str = "", y_extra: str = "") -> str:
    return (_ep("10", "x-internal", x_extra) + _ep("11", "x-internal", x_extra)
            + _ep("20", "y-internal", y_extra) + _ep("21", "y-internal", y_extra))


PJSIP = _pjsip()
PJSIP_X_ONLY = _ep("10", "x-internal") + _ep("11", "x-internal")
BASE = """[x-internal]
exten => _1X,1,Dial(PJSIP/${EXTEN})
[y-internal]
exten => _2X,1,Dial(PJSIP/${EXTEN})
"""
X = "[x-internal](+)\n"  # more lines for X's own context
SHARED = "[x-internal](+)\ninclude => shared\n[shared]\n"  # a context only X includes
INVENTORY = {"tenants": {"x": {"extensions": "10-19"}, "y": {"extensions": "20-29"}}}
SIP_Y = "[general]\n" + "".join(f"[{n}]\ntype=friend\nhost=dynamic\ncontext=y-internal\n" for n in ("20", "21"))
VM_SPLIT = "[general]\n[xvm]\n10 => 1111\n[yvm]\n20 => 2222\n"


def run(ext: str = "", pjsip: str | None = PJSIP, base: str = BASE, **files: str) -> Analysis:
    """Analyse a tree: extensions.conf = *base* + *ext*; other files by name (`sip_conf` -> sip.conf)."""
    tree = {"extensions.conf": base + ext, "pjsip.conf": pjsip}
    for key, text in files.items():
        tree[key.replace("_conf", ".conf") if "/" not in key else key] = text
    dump = {k: DumpFile(k, v.encode()) for k, v in tree.items() if v is not None}
    return analyse(PbxDump("t", "dir:/t", asterisk=dump), Inventory.from_mapping(INVENTORY, "t"))


def status(a: Analysis, check_id: str) -> str:
    return a.check(check_id).status


def fails(a: Analysis, check_id: str, pair: tuple[str, str] = ("x", "y")) -> bool:
    c = a.check(check_id)
    return c.status == "fail" and any(f.tenants == pair for f in c.findings)


def test_baseline_per_tenant_contexts_pass() -> None:
    a = run()
    assert [t["id"] for t in a.tenants] == ["x", "y"]
    for check_id in ("DIAL-01", "DIAL-02", "PICK-01", "PICK-02", "PICK-03", "SPY-01", "HINT-01", "PAGE-01"):
        assert status(a, check_id) == "pass", check_id


# --- B. dialling ---------------------------------------------------------------------------------


def test_shared_catch_all_goto_into_other_tenant_context() -> None:
    assert fails(run(SHARED + "exten => _X.,1,Goto(y-internal,${EXTEN},1)\n"), "DIAL-01")


def test_shared_catch_all_dial_local_into_other_tenant_context() -> None:
    assert fails(run(SHARED + "exten => _X.,1,Dial(Local/${EXTEN}@y-internal)\n"), "DIAL-01")


@pytest.mark.parametrize("tech,conf", [("SIP", "sip_conf"), ("IAX2", "iax_conf")])
def test_dial_chan_sip_and_iax_peers_of_other_tenant(tech: str, conf: str) -> None:
    a = run(SHARED + f"exten => _2X,1,Dial({tech}/${{EXTEN}})\n", pjsip=PJSIP_X_ONLY, **{conf: SIP_Y})
    assert fails(a, "DIAL-01")


def test_dial_ampersand_list_naming_other_tenant() -> None:
    assert fails(run(SHARED + "exten => _2X,1,Dial(PJSIP/15&PJSIP/${EXTEN})\n"), "DIAL-01")


def test_dial_pjsip_user_at_endpoint_form() -> None:
    # PJSIP/user@endpoint rings the endpoint named after the @
    assert fails(run(SHARED + "exten => _2X,1,Dial(PJSIP/anything@${EXTEN})\n"), "DIAL-01")


def test_dial_to_nonexistent_endpoint_is_not_a_cross_tenant_call() -> None:
    # PJSIP/20 does not exist (Y's phones are y-phone-1/2); Asterisk's Dial fails
    pjsip = PJSIP_X_ONLY + "[y-phone-1]\ntype=endpoint\ncontext=y-internal\ncallerid=Bob <20>\n"
    assert status(run(SHARED + "exten => _2X,1,Dial(PJSIP/${EXTEN})\n", pjsip=pjsip), "DIAL-01") == "pass"


def test_dial_any_number_that_rings_other_tenant() -> None:
    assert fails(run(SHARED + "exten => 500,1,Dial(PJSIP/20)\n"), "DIAL-01")


def test_ring_group_of_local_channels() -> None:
    a = run(SHARED + "exten => 600,1,Dial(Local/20@y-internal&Local/21@y-internal)\n")
    assert fails(a, "DIAL-01")


def test_queue_whose_members_are_other_tenant_phones() -> None:
    a = run(SHARED + "exten => 29,1,Queue(y-sales)\n", queues_conf="[y-sales]\nmember => PJSIP/20\n")
    assert fails(a, "DIAL-01")


def test_followme_to_other_tenant() -> None:
    a = run(SHARED + "exten => 29,1,FollowMe(y-boss)\n",
            followme_conf="[y-boss]\ncontext => y-internal\nnumber => 20,30\n")
    assert fails(a, "DIAL-01")


def test_gosub_chain_three_deep() -> None:
    a = run(SHARED + "exten => _2X,1,Gosub(a,s,1(${EXTEN}))\n"
            "[a]\nexten => s,1,Gosub(b,s,1(${ARG1}))\n same => n,Return()\n"
            "[b]\nexten => s,1,Gosub(c,s,1(${ARG1}))\n same => n,Return()\n"
            "[c]\nexten => s,1,Dial(PJSIP/${ARG1})\n same => n,Return()\n")
    assert fails(a, "DIAL-01")


def test_macro_exten_vm() -> None:
    a = run(SHARED + "exten => _2X,1,Macro(exten-vm,${EXTEN},${EXTEN})\n"
            "[macro-exten-vm]\nexten => s,1,Dial(PJSIP/${ARG1})\n")
    assert fails(a, "DIAL-01")


def test_gotoif_to_label() -> None:
    a = run(SHARED + "exten => _2X,1,GotoIf($[${EXTEN}=99]?ring)\n same => n,Hangup()\n"
            " same => n(ring),Dial(PJSIP/${EXTEN})\n")
    assert fails(a, "DIAL-01")


def test_execif_dial() -> None:
    assert fails(run(SHARED + "exten => _2X,1,ExecIf($[1=1]?Dial(PJSIP/${EXTEN}))\n"), "DIAL-01")


@pytest.mark.parametrize("keyword", ["switch", "lswitch", "eswitch"])
def test_loopback_switch_to_other_tenant_context(keyword: str) -> None:
    assert fails(run(SHARED + f"{keyword} => Loopback/${{EXTEN}}@y-internal\n"), "DIAL-01")


def test_realtime_switch_is_not_a_pass() -> None:
    assert status(run(SHARED + "switch => Realtime/y-internal@extensions\n"), "DIAL-01") != "pass"


def test_include_of_context_defined_later_in_included_file() -> None:
    a = run(SHARED + "include => later\n#include extra.conf\n",
            extra_conf="[later]\nexten => _2X,1,Dial(PJSIP/${EXTEN})\n")
    assert fails(a, "DIAL-01")


def test_context_addition_in_included_file() -> None:
    a = run("#include more.conf\n", more_conf="[x-internal](+)\nexten => _2X,1,Dial(PJSIP/${EXTEN})\n")
    assert fails(a, "DIAL-01")


def test_template_context_exten_lines_inherited_by_several_contexts() -> None:
    pjsip = _ep("10", "x2") + _ep("11", "x3") + _ep("20", "y-internal") + _ep("21", "y-internal")
    a = run("[tpl](!)\nexten => _2X,1,Dial(PJSIP/${EXTEN})\n[x2](tpl)\n[x3](tpl)\n", pjsip=pjsip)
    assert fails(a, "DIAL-01")


def test_first_priority_not_dial_in_own_context() -> None:
    assert fails(run(X + "exten => _2X,1,Answer()\n same => n,Dial(PJSIP/${EXTEN})\n"), "DIAL-01")


def test_dial_own_phone_then_other_tenant() -> None:
    a = run(SHARED + "exten => _2X,1,Dial(PJSIP/10,5)\n same => n,Dial(PJSIP/${EXTEN})\n")
    assert fails(a, "DIAL-01")


def test_callerid_restricted_extension_does_not_hide_plain_one() -> None:
    a = run(SHARED + "exten => 20/_9X,1,Hangup()\nexten => 20,1,Dial(PJSIP/20)\n")
    assert fails(a, "DIAL-01")


# --- parser edge cases: the line must still be seen ------------------------------------------------


@pytest.mark.parametrize("lines", [
    "exten   =>   _2X , 1 , Dial(PJSIP/${EXTEN})",
    "exten=>_2X,1,Dial(PJSIP/${EXTEN})",
    "EXTEN => _2X,1,Dial(PJSIP/${EXTEN})",
    "exten\t=>\t_2X,1,Dial(PJSIP/${EXTEN})",
    "exten = _2X,1,Dial(PJSIP/${EXTEN})",
    "exten => _2X,1,NoOp()\nsame=>n,Dial(PJSIP/${EXTEN})",
    "exten => _2X,1,NoOp()\nSAME => n,Dial(PJSIP/${EXTEN})",
    "exten => _2X,1,NoOp()\n\tsame\t=>\tn,Dial(PJSIP/${EXTEN})",
    "exten => _2X,1,Set(A=a\\;b)\n same => n,Dial(PJSIP/${EXTEN})",
    ";-- a block comment --; exten => _2X,1,Dial(PJSIP/${EXTEN})",
    ";--\nexten => _1X,1,Hangup()\n--;\nexten => _2X,1,Dial(PJSIP/${EXTEN})",
    "exten => _2!,1,Dial(PJSIP/${EXTEN})",
    "exten => _[2-3]X,1,Dial(PJSIP/${EXTEN})",
    "exten => _2-X,1,Dial(PJSIP/${EXTEN})",
    "exten => _2x,1,Dial(PJSIP/${EXTEN})",
    "exten => _2X/_1X,1,Dial(PJSIP/${EXTEN})",
    "exten => 20/100,1,Dial(PJSIP/20)",
    "exten => _2X,n(start),Dial(PJSIP/${EXTEN})",
    "exten => _2X,1,dial(pjsip/${EXTEN})",
    "exten => _2X,1,Dial,PJSIP/${EXTEN}",
])
def test_dialplan_line_variants_are_read(lines: str) -> None:
    assert fails(run(SHARED + lines + "\n"), "DIAL-01")


def test_crlf_line_endings() -> None:
    assert fails(run((SHARED + "exten => _2X,1,Dial(PJSIP/${EXTEN})\n").replace("\n", "\r\n")), "DIAL-01")


def test_glob_include() -> None:
    a = run("#include custom/*.conf\n", **{"custom/a.conf": "[x-internal](+)\ninclude => ydial\n",
                                           "custom/b.conf": "[ydial]\nexten => _2X,1,Dial(PJSIP/${EXTEN})\n"})
    assert fails(a, "DIAL-01")


def test_context_name_with_spaces_and_mixed_case() -> None:
    pjsip = _ep("10", "X Office") + _ep("11", "X Office") + _ep("20", "y-internal") + _ep("21", "y-internal")
    a = run("[ X Office ]\ninclude => Shared-Ctx\n[Shared-Ctx]\nexten => _2X,1,Dial(PJSIP/${EXTEN})\n", pjsip=pjsip)
    assert fails(a, "DIAL-01")


# --- endpoint mapping --------------------------------------------------------------------------


def test_endpoints_named_otherwise_mapped_by_callerid_and_aor() -> None:
    pjsip = (PJSIP_X_ONLY + "[y-phone-1]\ntype=endpoint\ncontext=y-internal\ncallerid=Bob <20>\n"
             "[y-phone-2]\ntype=endpoint\ncontext=y-internal\naors=21\n[21]\ntype=aor\nmax_contacts=1\n")
    a = run(SHARED + "exten => 29,1,Dial(PJSIP/y-phone-1&PJSIP/y-phone-2)\n", pjsip=pjsip)
    assert [t["id"] for t in a.tenants] == ["x", "y"]
    assert fails(a, "DIAL-01")


def test_pjsip_templates_give_context_and_groups() -> None:
    pjsip = ("[xt](!)\ntype=endpoint\ncontext=x-internal\npickup_group=1\n"
             "[yt](!)\ntype=endpoint\ncontext=y-internal\ncall_group=1\n[10](xt)\n[11](xt)\n[20](yt)\n[21](yt)\n")
    a = run(pjsip=pjsip)
    assert [t["id"] for t in a.tenants] == ["x", "y"]
    assert status(a, "DIAL-02") == "pass"
    assert fails(a, "PICK-01")


# --- C. pickup -----------------------------------------------------------------------------------


def test_named_groups_overlap() -> None:
    assert fails(run(pjsip=_pjsip("named_pickup_group=sales,ops", "named_call_group=ops")), "PICK-01")


def test_named_groups_are_case_sensitive() -> None:
    assert status(run(pjsip=_pjsip("named_pickup_group=Sales", "named_call_group=sales")), "PICK-01") == "pass"


def test_chan_sip_callgroup_and_pickupgroup() -> None:
    sip = ("[general]\n[10]\ntype=friend\nhost=dynamic\ncontext=x-internal\npickupgroup=1-3\n"
           "[20]\ntype=friend\nhost=dynamic\ncontext=y-internal\ncallgroup=2\n")
    assert fails(run(pjsip=None, sip_conf=sip), "PICK-01")


def test_dialplan_sets_pickupgroup() -> None:
    a = run(X + "exten => 19,1,Set(CHANNEL(pickupgroup)=1)\n same => n,Pickup()\n", pjsip=_pjsip("", "call_group=1"))
    assert fails(a, "PICK-01")


@pytest.mark.parametrize("prefix", ["PJSIP/2", "PJSIP/"])
def test_pickupchan_prefix_option(prefix: str) -> None:
    assert fails(run(X + f"exten => 800,1,PickupChan({prefix},p)\n"), "PICK-03")


def test_pickupchan_named_channel() -> None:
    assert fails(run(X + "exten => 800,1,PickupChan(pjsip/20)\n"), "PICK-03")


def test_directed_pickup_literal_other_context() -> None:
    assert fails(run(X + "exten => 801,1,Pickup(20@y-internal)\n"), "PICK-02")


# --- D. spy --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", ["PJSIP/", "PJSIP/2,q", "", ",q"])
def test_chanspy_prefix_covering_other_tenant(args: str) -> None:
    assert fails(run(X + f"exten => 555,1,ChanSpy({args})\n"), "SPY-01")


def test_chanspy_own_prefix_passes() -> None:
    assert status(run(X + "exten => 555,1,ChanSpy(PJSIP/1,q)\n"), "SPY-01") == "pass"


def test_chanspy_lower_case_prefix() -> None:
    assert fails(run(X + "exten => 555,1,ChanSpy(pjsip/2,q)\n"), "SPY-01")


def test_chanspy_enforced_list_naming_other_tenant() -> None:
    a = run(X + "exten => 555,1,ChanSpy(,qe(PJSIP/10:PJSIP/20))\n")
    assert fails(a, "SPY-02")


def test_chanspy_enforced_list_is_exact_not_prefix() -> None:
    # e() compares ':PJSIP/20:' with the list: PJSIP/2 names no endpoint
    assert status(run(X + "exten => 555,1,ChanSpy(,e(PJSIP/2))\n"), "SPY-02") == "pass"


def test_extenspy_caller_chosen() -> None:
    assert fails(run(X + "exten => _55XXX,1,ExtenSpy(${EXTEN:3}@y-internal)\n"), "SPY-03")


def test_bridge_channels_prefix() -> None:
    assert fails(run(X + "exten => 599,1,Bridge(${CHANNELS(PJSIP/2)})\n"), "SPY-04")


@pytest.mark.parametrize("call", ["Macro(spy,{p})", "Gosub(macro-spy,s,1({p}))"])
def test_shared_subroutine_walked_with_each_callers_arguments(call: str) -> None:
    a = run(X + "exten => 555,1," + call.format(p="PJSIP/1") + "\nexten => 556,1," + call.format(p="PJSIP/2")
            + "\n[macro-spy]\nexten => s,1,ChanSpy(${ARG1},q)\n same => n,Return()\n")
    assert fails(a, "SPY-01")


def test_catch_all_goto_to_feature_context() -> None:
    assert fails(run(X + "exten => _*X.,1,Goto(features,${EXTEN},1)\n[features]\nexten => *555,1,ChanSpy()\n"),
                 "SPY-01")


def test_prefix_stripping_goto_to_feature_context() -> None:
    assert fails(run(X + "exten => _9.,1,Goto(feat,${EXTEN:1},1)\n[feat]\nexten => 555,1,ChanSpy()\n"), "SPY-01")


# --- E. hints ------------------------------------------------------------------------------------

Y_HINTS = "[y-hints]\nexten => 20,hint,PJSIP/20\n"


def test_subscribe_context_differs_from_context() -> None:
    pjsip = PJSIP.replace("context=x-internal", "context=x-internal\nsubscribe_context=y-hints")
    assert fails(run(Y_HINTS, pjsip=pjsip), "HINT-01")


def test_allow_subscribe_no_passes() -> None:
    pjsip = PJSIP.replace("context=x-internal", "context=x-internal\nsubscribe_context=y-hints\nallow_subscribe=no")
    assert status(run(Y_HINTS, pjsip=pjsip), "HINT-01") == "pass"


def test_pattern_hint() -> None:
    assert fails(run(X + "include => yh\n[yh]\nexten => _2X,hint,PJSIP/${EXTEN}\n"), "HINT-01")


# --- F. voicemail --------------------------------------------------------------------------------


def test_voicemailmain_without_arguments_default_context() -> None:
    a = run(X + "exten => *97,1,VoiceMailMain()\n", voicemail_conf="[general]\n[default]\n10 => 1\n20 => 2\n")
    assert fails(a, "VM-02")


def test_voicemailmain_searchcontexts() -> None:
    a = run(X + "exten => *97,1,VoiceMailMain(@xvm)\n",
            voicemail_conf=VM_SPLIT.replace("[general]", "[general]\nsearchcontexts=yes"))
    assert fails(a, "VM-02")


def test_voicemailmain_fixed_mailbox_of_other_tenant() -> None:
    assert fails(run(X + "exten => *98,1,VoiceMailMain(20@yvm,s)\n", voicemail_conf=VM_SPLIT), "VM-02")


# --- G. parking ----------------------------------------------------------------------------------


def test_lot_context_included_by_both_tenants() -> None:
    a = run("[x-internal](+)\ninclude => parkedcalls\n[y-internal](+)\ninclude => parkedcalls\n",
            res_parking_conf="[general]\n[default]\nparkext => 700\nparkpos => 701-720\ncontext => parkedcalls\n")
    assert status(a, "PARK-01") == "fail" and status(a, "PARK-02") == "fail"


def test_parkedcall_literal_of_default_lot() -> None:
    a = run("[x-internal](+)\nexten => *85,1,ParkedCall(default,701)\n[y-internal](+)\nexten => *88,1,Park()\n")
    assert status(a, "PARK-01") == "fail"


def test_explicit_park_into_named_lot() -> None:
    a = run("[x-internal](+)\nexten => *85,1,ParkedCall(ylot,801)\n[y-internal](+)\nexten => *86,1,Park(ylot)\n",
            res_parking_conf="[general]\n[ylot]\nparkext => 800\nparkpos => 801-810\ncontext => ylots\n")
    assert status(a, "PARK-01") == "fail"


# --- H. paging / intercom / conference -----------------------------------------------------------


def test_page_literal_devices_of_other_tenant() -> None:
    assert fails(run(X + "exten => 700,1,Page(PJSIP/20&PJSIP/21)\n"), "PAGE-01")


@pytest.mark.parametrize("header", [
    "SIPAddHeader(Call-Info: <sip:x>\\;answer-after=0)",
    "Set(PJSIP_HEADER(add,Alert-Info)=<http://x>\\;info=alert-autoanswer)",
])
def test_intercom_with_auto_answer_header(header: str) -> None:
    assert fails(run(X + f"exten => _*80.,1,{header}\n same => n,Dial(PJSIP/${{EXTEN:3}})\n"), "PAGE-01")


def test_intercom_header_in_predial_handler() -> None:
    a = run(X + "exten => _*80.,1,Dial(PJSIP/${EXTEN:3},,b(hdr^s^1))\n"
            "[hdr]\nexten => s,1,Set(PJSIP_HEADER(add,Alert-Info)=info=alert-autoanswer)\n same => n,Return()\n")
    assert fails(a, "PAGE-01")


def test_conference_pattern_in_context_both_include() -> None:
    a = run("[x-internal](+)\ninclude => conf\n[y-internal](+)\ninclude => conf\n"
            "[conf]\nexten => _8XX,1,ConfBridge(${EXTEN})\n")
    assert status(a, "CONF-01") == "fail"


# --- crashes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lines", [
    "exten => 1,1,Gosub()", "exten => 1,1,GotoIf(?:)", "exten => 1,1,ExecIf(", "exten => 1,1,ExecIf($[1]?:Dial(x))",
    "exten => 1,1,Macro()", "exten => ,1,NoOp", "exten => _,1,NoOp", "exten => _[,1,NoOp",
    "exten => _[9-0]X,1,NoOp", "exten => 1,1,Set(=)", "exten => 1,n(,NoOp", "include =>", "exten => 1,hint,",
    "exten => _2X,1,Goto(${EXTEN},1)", "exten => _2X,1,Gosub(x-internal,${EXTEN},1)",
    "exten => 555,1,ChanSpy(,g(", "exten => _**.,1,Pickup(&&@)", "exten => 1,1,PickupChan()",
    "exten => 1,1,VoiceMailMain(&@)", "exten => _*80.,1,Page()", "exten => 1,1,ParkedCall()",
    "exten => _2X,1,Dial(PJSIP/${EXTEN:99999999999999999999})", "exten => 1,99999999999999999999,NoOp",
    "exten => 2\u00df,1,Dial(PJSIP/20)", "exten => 1,1,Set(CHANNEL(pickupgroup)=abc-)",
])
def test_odd_dialplan_lines_do_not_break_checks(lines: str) -> None:
    a = run(X + lines + "\n")
    assert not [c.id for c in a.checks if "internal error" in c.summary]
