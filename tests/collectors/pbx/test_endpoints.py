"""Endpoints from pjsip.conf, pjsip_wizard.conf, sip.conf and iax.conf, with Asterisk's defaults."""

from __future__ import annotations

from collectors.pbx.conf import ConfFile, Loc, read_conf
from collectors.pbx.dump import DumpFile
from collectors.pbx.endpoints import (
    Endpoint,
    PjsipExtras,
    parse_groups,
    parse_named_groups,
    pjsip_endpoints,
    sip_peers,
    wizard_endpoints,
)


def conf(name: str, text: str, **more: str) -> ConfFile:
    tree = {name: DumpFile(name, text.encode())}
    tree.update({k.replace("_dot_", "."): DumpFile(k.replace("_dot_", "."), v.encode()) for k, v in more.items()})
    return read_conf(tree, name)


def pjsip(text: str, **more: str) -> tuple[dict[str, Endpoint], PjsipExtras]:
    eps, extras = pjsip_endpoints(conf("pjsip.conf", text, **more))
    return {e.name: e for e in eps}, extras


def test_group_parsing() -> None:
    assert parse_groups("1,3-5") == {1, 3, 4, 5}
    assert parse_groups(" 2 , 7 - 8 ") == {2, 7, 8}
    assert parse_groups("62-70,x,") == {62, 63}  # Asterisk accepts 0-63; junk is ignored
    assert parse_groups(None) == frozenset() and parse_groups("") == frozenset()
    assert parse_named_groups("sales, Support,,sales") == {"sales", "Support"}


def test_pjsip_endpoint_defaults() -> None:
    eps, _ = pjsip("[10]\ntype=endpoint\n")
    ep = eps["10"]
    assert ep.tech == "PJSIP" and ep.channel == "PJSIP/10" and ep.loc == Loc("pjsip.conf", 1)
    assert ep.context == "default" and ep.context_loc is None
    assert ep.allow_subscribe is True and ep.effective_subscribe_context == "default"
    assert ep.start_contexts() == {"call": "default", "subscribe": "default"}
    assert not ep.is_trunk and not ep.restricted
    assert ep.call_groups == frozenset() and ep.set_vars == {} and ep.mailboxes == []


def test_pjsip_endpoint_contexts_groups_and_vars() -> None:
    eps, _ = pjsip(
        "[10]\ntype=endpoint\ncontext=x-internal\nsubscribe_context=x-hints\nmessage_context=x-msg\n"
        "overlap_context=x-overlap\ncall_group=1,3-5\npickup_group=2\nnamed_call_group=sales,support\n"
        "named_pickup_group=sales\nset_var=SPYGROUP=x\nset_var=__PICKUPMARK=10\naccountcode=tenant-x\n"
        "callerid=\"Anna Rossi\" <10>\n"
        "[11]\ntype=endpoint\ncontext=x-internal\nallow_subscribe=no\n"
    )
    ep = eps["10"]
    assert ep.context == "x-internal" and ep.context_loc == Loc("pjsip.conf", 3)
    assert ep.start_contexts() == {"call": "x-internal", "overlap": "x-overlap", "subscribe": "x-hints",
                                   "message": "x-msg"}
    assert ep.call_groups == {1, 3, 4, 5} and ep.pickup_groups == {2}
    assert ep.named_call_groups == {"sales", "support"} and ep.named_pickup_groups == {"sales"}
    assert len(ep.group_locs) == 4
    assert ep.set_vars == {"SPYGROUP": ("x", Loc("pjsip.conf", 11)), "PICKUPMARK": ("10", Loc("pjsip.conf", 12))}
    assert ep.accountcode == "tenant-x" and ep.callerid_number == "10"
    other = eps["11"]
    assert other.allow_subscribe is False and other.start_contexts() == {"call": "x-internal"}


def test_mailboxes_from_endpoint_and_aor() -> None:
    eps, _ = pjsip(
        "[10]\ntype=endpoint\naors=10, 10-extra\nmailboxes=10@x-vm\n"
        "[10]\ntype=aor\nmailboxes=10b@x-vm\n"
        "[10-extra]\ntype=aor\n"
        "[99]\ntype=aor\nmailboxes=99@y-vm\n"  # an AOR no endpoint uses
    )
    ep = eps["10"]
    assert ep.aors == ["10", "10-extra"]
    assert ep.mailboxes == ["10@x-vm", "10b@x-vm"]


def test_identify_with_match_makes_a_trunk() -> None:
    eps, extras = pjsip(
        "[provider]\ntype=endpoint\ncontext=from-trunk\n"
        "[provider]\ntype=identify\nendpoint=provider\nmatch=203.0.113.10, 203.0.113.11\nmatch=198.51.100.0/24\n"
    )
    ep = eps["provider"]
    assert ep.is_trunk and ep.trunk_reason is not None and "identify" in ep.trunk_reason
    assert [m for m, _ in ep.identify_matches] == ["203.0.113.10", "203.0.113.11", "198.51.100.0/24"]
    assert ep.identify_matches[2][1] == Loc("pjsip.conf", 8)
    assert len(extras.identifies) == 1


def test_identify_without_match_is_not_a_trunk_freepbx_style() -> None:
    eps, extras = pjsip("[10]\ntype=endpoint\nauth=10-auth\n[10]\ntype=identify\nendpoint=10\n"
                        "[10-auth]\ntype=auth\nusername=10\n")
    assert not eps["10"].is_trunk and eps["10"].identify_matches == []
    assert len(extras.identifies) == 1


def test_outbound_auth_only_is_a_trunk_but_not_with_inbound_auth() -> None:
    eps, _ = pjsip("[prov]\ntype=endpoint\noutbound_auth=prov-auth\n"
                   "[both]\ntype=endpoint\noutbound_auth=x\nauth=y\n")
    assert eps["prov"].is_trunk and "outbound" in (eps["prov"].trunk_reason or "")
    assert not eps["both"].is_trunk


def test_templates_apply_to_endpoints_and_the_endpoint_overrides_them() -> None:
    eps, _ = pjsip(
        "[phone](!)\ntype=endpoint\ncontext=x-internal\ncall_group=1\npickup_group=1\n#include pjsip.endpoint.conf\n",
        pjsip_dot_endpoint_dot_conf="[10](phone)\npickup_group=2\n",
    )
    assert "phone" not in eps
    ep = eps["10"]
    assert ep.context == "x-internal" and ep.context_loc == Loc("pjsip.conf", 3)
    assert ep.call_groups == {1} and ep.pickup_groups == {2}


def test_endpoint_acls_and_extras() -> None:
    eps, extras = pjsip(
        "[global]\ntype=global\nuser_agent=PBX\n"
        "[office]\ntype=acl\ndeny=0.0.0.0/0\npermit=198.18.1.0/24\n"
        "[reg]\ntype=registration\n"
        "[10]\ntype=endpoint\nacl=office\ncontact_acl=office2\npermit=198.18.1.0/24\ndeny=0.0.0.0/0\n"
        "contact_permit=198.18.2.0/24\n"
    )
    ep = eps["10"]
    assert ep.restricted and ep.acl_refs == ["office", "office2"]
    assert [p for p, _ in ep.permits] == ["198.18.1.0/24", "198.18.2.0/24"]
    assert [d for d, _ in ep.denies] == ["0.0.0.0/0"]
    assert extras.global_section is not None and extras.global_section.get("user_agent") == "PBX"
    assert [s.name for s in extras.global_acls] == ["office"]
    assert [s.name for s in extras.registrations] == ["reg"]


def test_wizard_endpoint_keys_and_remote_hosts() -> None:
    c = conf("pjsip_wizard.conf", (
        "[user-tpl](!)\ntype=wizard\naccepts_registrations=yes\naccepts_auth=yes\nendpoint/context=y-internal\n"
        "[20](user-tpl)\nendpoint/call_group=4\naor/mailboxes=20@y-vm\nendpoint/set_var=SPYGROUP=y\n"
        "[carrier]\ntype=wizard\nremote_hosts=203.0.113.5:5060, 203.0.113.6\nendpoint/context=from-pstn\n"
        "[outreg]\ntype=wizard\nsends_registrations=yes\n"
        "[notwizard]\ntype=endpoint\ncontext=x\n"
    ))
    eps = {e.name: e for e in wizard_endpoints(c)}
    assert set(eps) == {"20", "carrier", "outreg"}
    user = eps["20"]
    assert user.context == "y-internal" and user.call_groups == {4} and user.mailboxes == ["20@y-vm"]
    assert user.set_vars["SPYGROUP"][0] == "y"
    assert not user.is_trunk
    carrier = eps["carrier"]
    assert carrier.is_trunk and carrier.context == "from-pstn"
    assert [h for h, _ in carrier.identify_matches] == ["203.0.113.5:5060", "203.0.113.6"]
    assert eps["outreg"].is_trunk and eps["outreg"].context == "default"


def test_sip_conf_general_defaults_and_hosts() -> None:
    c = conf("sip.conf", (
        "[general]\ncontext=from-sip-external\nsubscribecontext=sip-hints\nallowsubscribe=no\n"
        "[30]\ntype=friend\nhost=dynamic\ncallgroup=1\npickupgroup=1-2\nnamedcallgroup=a\nsetvar=SPYGROUP=z\n"
        "mailbox=30@z-vm\n"
        "[31]\ntype=friend\ncontext=z-internal\nallowsubscribe=yes\nsubscribecontext=z-hints\n"
        "[trunk]\ntype=peer\nhost=sip.example.net\n"
        "[notype]\nhost=dynamic\n"
        "[authentication]\ntype=x\n"
    ))
    eps = {e.name: e for e in sip_peers(c, "SIP")}
    assert set(eps) == {"30", "31", "trunk"}
    ep30 = eps["30"]
    assert ep30.channel == "SIP/30"
    assert ep30.context == "from-sip-external" and ep30.context_loc is None
    assert ep30.allow_subscribe is False and ep30.subscribe_context == "sip-hints"
    assert ep30.call_groups == {1} and ep30.pickup_groups == {1, 2} and ep30.named_call_groups == {"a"}
    assert ep30.set_vars["SPYGROUP"][0] == "z" and ep30.mailboxes == ["30@z-vm"]
    assert not ep30.is_trunk
    ep31 = eps["31"]
    assert ep31.context == "z-internal" and ep31.allow_subscribe and ep31.effective_subscribe_context == "z-hints"
    assert eps["trunk"].is_trunk and "sip.example.net" in (eps["trunk"].trunk_reason or "")


def test_sip_conf_without_general_uses_default_context() -> None:
    eps = sip_peers(conf("sip.conf", "[30]\ntype=friend\n"), "SIP")
    assert [(e.name, e.context, e.allow_subscribe, e.is_trunk) for e in eps] == [("30", "default", True, False)]


def test_iax_conf() -> None:
    c = conf("iax.conf", "[general]\ncontext=iax-in\n[40]\ntype=friend\nhost=dynamic\n[peer]\ntype=peer\n"
                         "host=192.0.2.1\ncontext=from-iax\n")
    eps = {e.name: e for e in sip_peers(c, "IAX2")}
    assert eps["40"].channel == "IAX2/40" and eps["40"].context == "iax-in" and not eps["40"].is_trunk
    assert eps["peer"].is_trunk and eps["peer"].context == "from-iax"


def test_absent_files_give_no_endpoints() -> None:
    empty = read_conf({}, "pjsip.conf")
    assert pjsip_endpoints(empty)[0] == [] and wizard_endpoints(read_conf({}, "pjsip_wizard.conf")) == []
    assert sip_peers(read_conf({}, "sip.conf"), "SIP") == []
