"""Parsers of `asterisk -rx` output, run on recordings rebuilt from Asterisk's format strings
(see recorded/README.md for the source function behind each recording)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.pbx.cli_output import (
    CliDialplan,
    CliEndpoints,
    CliFeatures,
    CliHints,
    clean_cli_lines,
    parse_core_show_hints,
    parse_core_show_version,
    parse_dialplan_show,
    parse_features_show,
    parse_pjsip_show_endpoints,
)

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> str:
    # newline="" keeps CR characters, so the CRLF recording reaches the parser as captured.
    with open(RECORDED / name, encoding="utf-8", newline="") as fh:
        return fh.read()


# ------------------------------------------------------------------------------ pjsip show endpoints


@pytest.fixture(scope="module")
def endpoints() -> CliEndpoints:
    return parse_pjsip_show_endpoints(recorded("pjsip_show_endpoints.txt"))


def test_endpoints_counts_and_footer(endpoints: CliEndpoints) -> None:
    assert len(endpoints.endpoints) == 14
    assert endpoints.objects_found == 14
    assert endpoints.count_matches is True
    assert endpoints.warnings == []
    assert endpoints.skipped == 0
    names = [e.name for e in endpoints.endpoints]
    assert names[:12] == [str(n) for n in range(10, 22)]


def test_endpoint_children(endpoints: CliEndpoints) -> None:
    ep = endpoints.by_name()["10"]
    assert ep.callerid == "10"
    assert ep.state == "Not in use"
    assert ep.channels == "0 of inf"
    assert [(a.direction, a.name, a.username) for a in ep.auths] == [("In", "10-auth", "10")]
    assert [(a.name, a.max_contacts) for a in ep.aors] == [("10", 1)]
    (contact,) = ep.contacts
    assert (contact.aor, contact.uri, contact.status, contact.rtt_ms) == (
        "10",
        "sip:10@192.0.2.10:5060",
        "Avail",
        12.345,
    )
    assert contact.hash == "6d1f0c2a9b"
    assert ep.transport is None  # no transport= on the endpoint: Asterisk prints no Transport line


def test_endpoint_unreachable_contact_has_no_rtt(endpoints: CliEndpoints) -> None:
    (contact,) = endpoints.by_name()["15"].contacts
    assert contact.status == "Unavail"
    assert contact.rtt_ms is None  # printed as "nan"
    assert endpoints.by_name()["13"].contacts == []
    assert endpoints.by_name()["13"].state == "Unavailable"


def test_endpoint_with_active_channel(endpoints: CliEndpoints) -> None:
    ep = endpoints.by_name()["11"]
    assert ep.state == "In use"
    assert ep.channels == "1 of inf"
    (chan,) = ep.active_channels
    assert chan.name == "PJSIP/11-0000002a"
    assert chan.application == "Dial"
    assert chan.state == "Up"
    assert chan.duration == "00:02:17"
    assert chan.exten == "10"
    assert chan.connected_line == '"Alice" <10>'


def test_trunk_transport_identify_and_truncated_contact(endpoints: CliEndpoints) -> None:
    trunk = endpoints.by_name()["provider-trunk"]
    assert trunk.callerid is None
    assert [(a.direction, a.name, a.username) for a in trunk.auths] == [("Out", "provider-trunk", "acct-55501")]
    assert trunk.transport is not None
    assert (trunk.transport.name, trunk.transport.type, trunk.transport.cos, trunk.transport.tos) == (
        "0.0.0.0-udp",
        "udp",
        3,
        184,
    )
    assert trunk.transport.bind == "0.0.0.0:5060"
    assert trunk.identify_matches == ["203.0.113.5/32", "203.0.113.6/32"]
    assert trunk.identifies[0].endpoint == "provider-trunk"
    (contact,) = trunk.contacts
    assert contact.truncated  # "aor/uri" is cut to 42 columns
    assert contact.uri == "sip:acct-55501@sip.provider"


def test_long_endpoint_name_is_cut_and_flagged(endpoints: CliEndpoints) -> None:
    ep = endpoints.endpoints[-1]
    assert ep.truncated
    assert ep.name == "customer-b-reception-desk-phone-in-building-seven-w"  # %-51.51s
    assert ep.aors[0].truncated
    assert ep.aors[0].max_contacts == 2
    assert not endpoints.by_name()["10"].truncated


def test_endpoints_none_found() -> None:
    result = parse_pjsip_show_endpoints(recorded("pjsip_show_endpoints_none.txt"))
    assert result.endpoints == []
    assert result.notices == ["No objects found."]
    assert result.warnings == []


def test_endpoints_footer_mismatch_warns() -> None:
    text = recorded("pjsip_show_endpoints.txt").replace("Objects found: 14", "Objects found: 15")
    result = parse_pjsip_show_endpoints(text)
    assert result.count_matches is False
    assert any("footer says 15" in w for w in result.warnings)


def test_endpoint_child_without_endpoint_warns_with_line_number() -> None:
    result = parse_pjsip_show_endpoints("\n        Aor:  10                                                 1\n")
    assert result.endpoints == []
    assert result.warnings == [
        "line 2: Aor line outside any endpoint: 'Aor:  10                                                 1'"
    ]


# -------------------------------------------------------------------------------------- dialplan


@pytest.fixture(scope="module")
def dialplan() -> CliDialplan:
    return parse_dialplan_show(recorded("dialplan_show.txt"))


def test_dialplan_summary_matches_parsed(dialplan: CliDialplan) -> None:
    assert (dialplan.total_extensions, dialplan.total_priorities, dialplan.total_contexts) == (20, 80, 10)
    assert dialplan.counts_match is True
    assert len(dialplan.contexts) == 10
    assert dialplan.warnings == []
    assert dialplan.skipped == 0


def test_dialplan_extension_priorities_and_sources(dialplan: CliDialplan) -> None:
    ext_local = dialplan.context("ext-local")
    assert ext_local is not None
    assert ext_local.registrar == "pbx_config"
    ext = ext_local.extension("10")
    assert ext is not None
    assert [p.priority for p in ext.priorities] == [1, 2, 3, 4, "hint"]
    first = ext.priorities[0]
    assert first.application == "Set"
    assert first.arguments.startswith('__RINGTIMER=${IF($["${DB(AMPUSER/10/ringtimer)}" > "0"]')
    assert (first.file, first.file_line, first.registrar) == ("extensions_additional.conf", 3345, None)
    assert ext.priorities[1].application == "Macro"
    assert ext.priorities[1].arguments == "exten-vm,novm,10,0,0,0"
    assert ext.priorities[2].label == "dest"
    assert ext.priorities[2].source == "extensions_additional.conf:3347"
    # The GotoIf argument holds "$[...]" brackets; the source is still the last bracket group.
    assert ext.priorities[3].arguments == '$["${IVR_CONTEXT}" != ""]?${IVR_CONTEXT},return,1'
    hint = ext.hint
    assert hint is not None and hint.is_hint
    assert hint.arguments == "PJSIP/10&Custom:DND10,CustomPresence:10"
    assert hint.file_line == 3349


def test_dialplan_pattern_extensions_keep_underscore(dialplan: CliDialplan) -> None:
    pickup = dialplan.context("app-pickup")
    assert pickup is not None
    assert [e.name for e in pickup.extensions] == ["_**.", "_***80."]
    star = pickup.extension("_**.")
    assert star is not None
    assert [(p.priority, p.application, p.arguments) for p in star.priorities] == [
        (1, "Macro", "user-callerid,"),
        (2, "Set", "PICKUP_EXTEN=${AMPUSER}"),
        (3, "Pickup", "${EXTEN:2}&${EXTEN:2}@PICKUPMARK"),
        (4, "Hangup", ""),
    ]
    spy = dialplan.context("app-chanspy")
    assert spy is not None
    spy_ext = spy.extension("555")
    assert spy_ext is not None
    assert [p.application for p in spy_ext.priorities] == ["Macro", "Answer", "Wait", "ChanSpy", "Hangup"]


def test_dialplan_includes_ignore_switch_and_registrar_sources(dialplan: CliDialplan) -> None:
    internal = dialplan.context("from-internal")
    assert internal is not None
    assert [(i.name, i.timing) for i in internal.includes] == [
        ("from-internal-xfer", None),
        ("bad-number", None),
        ("daytime-only", "09:00-17:00,mon-fri,*,*"),
    ]
    assert all(i.registrar == "pbx_config" for i in internal.includes)
    assert [p.pattern for p in internal.ignore_patterns] == ["9"]
    assert [(s.name, s.data) for s in internal.switches] == [("Realtime", "@extensions")]
    additional = dialplan.context("from-internal-additional")
    assert additional is not None
    assert "ext-local" in [i.name for i in additional.includes]
    parked = dialplan.context("parkedcalls")
    assert parked is not None
    assert parked.registrar == "res_parking"
    park = parked.extension("70")
    assert park is not None
    assert (park.priorities[0].registrar, park.priorities[0].file) == ("res_parking", None)


def test_dialplan_cid_match_and_autohints(dialplan: CliDialplan) -> None:
    ext_local = dialplan.context("ext-local")
    assert ext_local is not None
    ext = ext_local.extension("99")
    assert ext is not None
    assert ext.cid_match == "0123456789"
    assert ext.priorities[0].file == "extensions_custom.conf"
    custom = dialplan.context("from-internal-custom")
    assert custom is not None and custom.autohints
    assert not ext_local.autohints
    park_hints = dialplan.context("park-hints")
    assert park_hints is not None
    ext71 = park_hints.extension("71")
    assert ext71 is not None and ext71.hint is not None
    assert ext71.hint.arguments == "park:71@parkedcalls"


def test_dialplan_empty() -> None:
    result = parse_dialplan_show(recorded("dialplan_show_empty.txt"))
    assert result.contexts == []
    assert (result.total_extensions, result.total_priorities, result.total_contexts) == (0, 0, 0)
    assert result.counts_match is True
    assert result.warnings == []


def test_dialplan_missing_context_message() -> None:
    result = parse_dialplan_show(recorded("dialplan_show_no_context.txt"))
    assert result.contexts == []
    assert result.notices == ["There is no existence of 'tenant-b-internal' context"]
    assert result.total_extensions is None
    assert result.counts_match is None


def test_dialplan_summary_mismatch_warns() -> None:
    text = recorded("dialplan_show.txt").replace("-= 20 extensions", "-= 21 extensions")
    result = parse_dialplan_show(text)
    assert result.counts_match is False
    assert any("summary says 21 extensions" in w for w in result.warnings)


def test_dialplan_broken_priority_line_warns() -> None:
    text = "[ Context 'x' created by 'pbx_config' ]\n  '1' =>            one. Dial(x)   [pbx_config]\n"
    result = parse_dialplan_show(text)
    assert len(result.contexts) == 1
    assert result.contexts[0].extensions[0].priorities == []
    assert result.warnings == ["line 2: priority not understood: 'one. Dial(x)'"]


# ------------------------------------------------------------------------------------------ hints


@pytest.fixture(scope="module")
def hints_ast18() -> CliHints:
    return parse_core_show_hints(recorded("core_show_hints.txt"))


def test_hints_counts(hints_ast18: CliHints) -> None:
    assert len(hints_ast18.hints) == 14
    assert hints_ast18.registered == 14
    assert hints_ast18.count_matches is True
    assert hints_ast18.warnings == []
    assert hints_ast18.skipped == 0


def test_hint_devices_cut_by_twenty_column_layout(hints_ast18: CliHints) -> None:
    hint = hints_ast18.find("10", "ext-local")
    assert hint is not None
    # "%-20.20s" keeps 20 characters of "PJSIP/10&Custom:DND10,CustomPresence:10".
    assert hint.devices == ["PJSIP/10", "Custom:DND1"]
    assert hint.truncated
    assert hint.watchers == 3
    assert hint.state == "Idle"
    assert hint.presence == "not_set"
    park = hints_ast18.find("71", "park-hints")
    assert park is not None
    assert park.devices == ["park:71@parkedcalls"]
    assert not park.truncated
    in_use = hints_ast18.find("11", "ext-local")
    assert in_use is not None and in_use.state == "InUse" and in_use.watchers == 2


def test_hints_master_layout_full_devices_and_truncated_context() -> None:
    result = parse_core_show_hints(recorded("core_show_hints_master.txt"))
    assert result.count_matches is True
    hint = result.find("12", "ext-local")
    assert hint is not None
    assert hint.devices == ["PJSIP/12", "Custom:DND12"]
    assert hint.presence_provider == "CustomPresence:12"
    assert hint.watchers == 1
    assert not hint.truncated
    long_hint = result.hints[-1]
    assert long_hint.truncated
    assert long_hint.exten == "4455"
    assert long_hint.context == "customer-b-reception-ext-"  # cut by %-30.30s
    assert long_hint.devices == ["PJSIP/customer-b-reception-desk-phone-in-building-seven-west"]  # %-60.60s


def test_hints_windows_line_endings() -> None:
    text = recorded("core_show_hints_crlf.txt")
    assert "\r\n" in text
    result = parse_core_show_hints(text)
    assert [h.exten for h in result.hints] == ["10", "11", "12"]
    assert result.registered == 3
    assert all("\r" not in h.state for h in result.hints)
    assert result.warnings == []


def test_hints_none_registered() -> None:
    result = parse_core_show_hints(recorded("core_show_hints_none.txt"))
    assert result.hints == []
    assert result.registered == 0
    assert result.count_matches is True
    assert result.notices == ["There are no registered dialplan hints"]


def test_hints_forum_quoted_line() -> None:
    # As quoted on community.freepbx.org (spaces collapsed by the forum).
    result = parse_core_show_hints(
        "6006@ext-local : PJSIP/6002&Custom:DN State:Idle Presence:not_set Watchers 0\n"
        "72@park-hints : park:72@parkedcalls State:Idle Presence:not_set Watchers 0\n"
    )
    assert result.warnings == []
    first = result.hints[0]
    assert (first.exten, first.context, first.devices, first.watchers) == (
        "6006",
        "ext-local",
        ["PJSIP/6002", "Custom:DN"],
        0,
    )
    assert result.hints[1].devices == ["park:72@parkedcalls"]
    assert result.registered is None and result.count_matches is None


def test_hints_older_layout_without_presence() -> None:
    result = parse_core_show_hints(
        "    -= Registered Asterisk Dial Plan Hints =-\n"
        "8005@ext-local           : SIP/8005              State:Unavailable     Watchers  0\n"
        "----------------\n- 1 hints registered\n"
    )
    (hint,) = result.hints
    assert (hint.exten, hint.devices, hint.state, hint.presence, hint.watchers) == (
        "8005",
        ["SIP/8005"],
        "Unavailable",
        None,
        0,
    )
    assert result.count_matches is True


def test_hints_footer_mismatch_warns() -> None:
    result = parse_core_show_hints(recorded("core_show_hints.txt").replace("- 14 hints", "- 16 hints"))
    assert result.count_matches is False
    assert result.warnings == ["footer says 16 hints registered but 14 were parsed"]


# --------------------------------------------------------------------------------------- features


@pytest.fixture(scope="module")
def features() -> CliFeatures:
    return parse_features_show(recorded("features_show.txt"))


def test_features_pickup_and_builtin_columns(features: CliFeatures) -> None:
    assert features.pickup_extension == "*8"
    assert features.builtin["Pickup"] == ("*8", "*8")
    assert features.builtin["Blind Transfer"] == ("#", "##")
    # An empty default prints as seven spaces; the current value must stay in its own column.
    assert features.builtin["Attended Transfer"] == ("", "*2")
    assert features.builtin["Park Call"] == ("", "")
    assert features.builtin["Disconnect Call"] == ("*", "**")
    assert len(features.builtin) == 7
    assert features.dynamic == {"apprecord": ("no def", "*1")}
    assert features.groups == []
    assert features.parking_lots == []
    assert features.warnings == []


def test_features_asterisk11_with_parking() -> None:
    result = parse_features_show(recorded("features_show_ast11.txt"))
    assert result.pickup_extension == "**"
    assert result.dynamic == {}
    (lot,) = result.parking_lots
    assert lot.name == "default"
    assert (lot.extension, lot.context, lot.positions) == ("700", "parkedcalls", "701-720")
    assert lot.fields["Enabled"] == "yes"
    assert result.warnings == []


def test_features_old_pickup_extension_row_and_groups() -> None:
    result = parse_features_show(
        "Builtin Feature           Default Current\n"
        "---------------           ------- -------\n"
        "Pickup extension          *8   *8\n"
        "\nFeature Groups:\n---------------\n"
        "===> Group: myfeatures\n"
        "===> --> apprecord (*1)\n"
    )
    assert result.pickup_extension == "*8"
    assert len(result.groups) == 1
    assert result.groups[0].name == "myfeatures"
    assert result.groups[0].items == [("apprecord", "*1")]


def test_features_empty_pickup_is_none() -> None:
    result = parse_features_show("Builtin Feature           Default Current\nPickup                    *8\n")
    assert result.builtin["Pickup"] == ("*8", "")
    assert result.pickup_extension is None


# ---------------------------------------------------------------------------------------- version


def test_version() -> None:
    assert parse_core_show_version(recorded("core_show_version.txt")) == "18.20.0"


def test_version_with_banner_and_ansi_colours() -> None:
    text = recorded("core_show_version_banner_ansi.txt")
    assert "\x1b[" in text
    assert parse_core_show_version(text) == "18.20.0"
    assert parse_core_show_version("Connected to Asterisk 16.17.0 currently running on pbx (pid = 1)\n") == "16.17.0"
    assert parse_core_show_version("Asterisk certified/18.9-cert5 built by root @ b on a x86_64 running Linux") == (
        "certified/18.9-cert5"
    )
    assert (
        parse_core_show_version("Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)")
        is None
    )


# ------------------------------------------------------------------------------ noise and garbage


def test_clean_cli_lines_strips_ansi_and_cr() -> None:
    lines = clean_cli_lines("\x1b[1;37;40mEndpoint\x1b[0m:  x\r\nnext\r\n")
    assert lines == [(1, "Endpoint:  x"), (2, "next")]


def test_ansi_coloured_hint_lines_parse() -> None:
    text = (
        "\x1b[0;37;40m\n    -= Registered Asterisk Dial Plan Hints =-\n"
        "\x1b[1;36;40m10@ext-local\x1b[0;37;40m        : PJSIP/10&Custom:DND1  State:Idle"
        "            Presence:not_set         Watchers  3\n"
        "----------------\n- 1 hints registered\x1b[0m\n"
    )
    result = parse_core_show_hints(text)
    assert result.warnings == []
    assert result.hints[0].context == "ext-local"
    assert result.hints[0].watchers == 3
    assert result.count_matches is True


def test_connected_banner_is_skipped_not_warned() -> None:
    text = "Connected to Asterisk 18.20.0 currently running on pbx01 (pid = 1423)\n" + recorded(
        "dialplan_show_empty.txt"
    )
    result = parse_dialplan_show(text)
    assert result.warnings == []
    assert result.skipped == 1
    assert result.total_contexts == 0


GARBAGE: list[str | bytes | None] = [
    "",
    None,
    b"\x00\xff\xfe binary \x1b[31m junk",
    "lorem ipsum\ndolor sit amet\n",
    "State: Watchers\n[ Context \n  '10' => \n Endpoint:\n",
    "\r\n\r\n\r\n",
]


@pytest.mark.parametrize("text", GARBAGE)
def test_garbage_gives_empty_results_without_exceptions(text: str | bytes | None) -> None:
    endpoints = parse_pjsip_show_endpoints(text)
    assert endpoints.endpoints == [] and endpoints.objects_found is None
    dialplan = parse_dialplan_show(text)
    assert dialplan.contexts == [] and dialplan.total_contexts is None
    hints = parse_core_show_hints(text)
    assert hints.hints == [] and hints.registered is None
    features = parse_features_show(text)
    assert features.builtin == {} and features.pickup_extension is None
    assert parse_core_show_version(text) is None


def test_garbage_that_looks_like_data_is_warned_with_line_numbers() -> None:
    text = "lorem\nState: Watchers\n  '10' => \n Endpoint:\n"
    assert parse_core_show_hints(text).warnings == ["line 2: hint line not understood: 'State: Watchers'"]
    assert parse_core_show_hints(text).skipped == 3
    assert parse_dialplan_show(text).warnings == ["line 3: dialplan entry before any context header: \"'10' =>\""]
    assert parse_pjsip_show_endpoints(text).warnings == ["line 4: endpoint line not understood: 'Endpoint:'"]


def test_each_command_output_is_ignored_by_the_other_parsers() -> None:
    # A wrong capture routed to the wrong parser gives an empty result, not misread data.
    hints_text = recorded("core_show_hints.txt")
    assert parse_dialplan_show(hints_text).contexts == []
    assert parse_pjsip_show_endpoints(hints_text).endpoints == []
    assert parse_core_show_hints(recorded("dialplan_show.txt")).hints == []
    assert parse_features_show(recorded("dialplan_show.txt")).builtin == {}
