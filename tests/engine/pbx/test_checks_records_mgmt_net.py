"""Checks of families I (records), J (management plane) and K (network controls) on small trees:
pass, fail and not_evaluated of each, with and without a tenant inventory, and file:line citations."""

from __future__ import annotations

from typing import Any

import pytest

from attest.pbx.checks import CheckSpec, management, network, records
from attest.pbx.checks.management import remote_login
from attest.pbx.facts import Pbx
from attest.pbx.inventory import Inventory
from attest.pbx.result import CheckResult
from collectors.pbx.conf import Loc, ReadIssue
from collectors.pbx.dump import CdrRow, CdrSample, DumpFile, PbxDump
from collectors.pbx.reader import read_config
from collectors.pbx.settings import find_address, parse_acl_value

SPECS: dict[str, CheckSpec] = {s.id: s for mod in (records, management, network) for s in mod.CHECKS}

TWO = {"tenants": {"x": {"extensions": "10-19"}, "y": {"extensions": "20-29"}}}
ONE = {"tenants": {"x": {"extensions": "10-29"}}}

# Endpoints 10, 11 (tenant x) and 20 (tenant y); line numbers below are what findings cite.
PJSIP = """[transport-udp]
type=transport
protocol=udp
bind=0.0.0.0

[10]
type=endpoint
context=from-internal
auth=10-auth
aors=10

[11]
type=endpoint
context=from-internal
auth=11-auth
aors=11

[20]
type=endpoint
context=from-internal
auth=20-auth
aors=20
"""
EP_LINE = {"10": 6, "11": 12, "20": 18}

FREEPBX_MANAGER = """[general]
enabled = yes
port = 5038
bindaddr = 0.0.0.0

[admin]
secret = REDACTED
deny=0.0.0.0/0.0.0.0
permit=127.0.0.1/255.255.255.0
read = system,call,cdr
write = system,call
"""


def run(check_id: str, files: dict[str, str], inventory: dict[str, Any] | None = None,
        fail2ban: dict[str, str] | None = None, cdr: list[CdrSample] | None = None) -> CheckResult:
    dump = PbxDump("test", "dir:/test", asterisk={p: DumpFile(p, t.encode()) for p, t in files.items()},
                   fail2ban={p: DumpFile(p, t.encode()) for p, t in fail2ban.items()} if fail2ban is not None else None,
                   cdr=cdr or [])
    inv = Inventory.from_mapping(inventory, "test") if inventory is not None else None
    spec = SPECS[check_id]
    return spec.fn(Pbx(read_config(dump), inv), spec)


def cites(result: CheckResult) -> list[str]:
    return [f"{f.file}:{f.line}" for f in result.findings]


def master_csv(*rows: tuple[str, str, str]) -> list[CdrSample]:
    return [CdrSample("csv:/var/log/asterisk/cdr-csv/Master.csv",
                      tuple(CdrRow(acc, ch, dst, "from-internal") for acc, ch, dst in rows), len(rows))]


def test_every_owned_check_is_registered() -> None:
    assert set(SPECS) == {"CDR-01", "CDR-02", "CDR-03", "AMI-01", "AMI-02", "ARI-01", "ACL-01", "ACL-02", "F2B-01",
                          "F2B-02", "EXT-01"}
    assert {SPECS[i].severity for i in ("CDR-01", "AMI-01")} == {"high"}
    assert {SPECS[i].severity for i in ("CDR-02", "CDR-03", "AMI-02", "ARI-01", "ACL-01", "F2B-01")} == {"medium"}
    assert {SPECS[i].severity for i in ("ACL-02", "F2B-02")} == {"low"}
    assert SPECS["EXT-01"].severity == "info"


# --- CDR-01 ----------------------------------------------------------------------------------

CSV_ON = {"cdr.conf": "[general]\nenable=yes\n\n[csv]\nloguniqueid=yes\n", "modules.conf": "[modules]\nautoload=yes\n"}


def test_cdr01_not_evaluated_without_sample_or_configuration() -> None:
    r = run("CDR-01", {"pjsip.conf": PJSIP}, TWO)
    assert r.status == "not_evaluated" and "cdr.conf" in r.summary


def test_cdr01_no_inventory_lists_the_facts() -> None:
    r = run("CDR-01", {"pjsip.conf": PJSIP, **CSV_ON})
    assert r.status == "not_evaluated" and "inventory" in r.summary
    assert "Master.csv" in r.findings[0].message and cites(r)[0] == "cdr.conf:4"


def test_cdr01_one_tenant_passes() -> None:
    r = run("CDR-01", {"pjsip.conf": PJSIP, **CSV_ON}, ONE, cdr=master_csv(("", "PJSIP/10", "PJSIP/20")))
    assert r.status == "pass"


def test_cdr01_sample_with_two_tenants_fails_with_counts_only() -> None:
    sample = master_csv(("", "PJSIP/10", "PJSIP/11"), ("", "PJSIP/20", ""), ("", "PJSIP/11", "PJSIP/20"),
                        ("", "SIP/trunk", ""))
    r = run("CDR-01", {"pjsip.conf": PJSIP}, TWO, cdr=sample)
    assert r.status == "fail"
    first = r.findings[0]
    assert first.file == "csv:/var/log/asterisk/cdr-csv/Master.csv" and first.line is None
    assert first.tenants == ("x", "y")
    assert first.message.endswith("x (2 record(s)), y (2 record(s))")
    assert first.for_tenant("y")[0].endswith("another tenant (2 record(s)), this customer (2 record(s))")
    assert any("1 record(s) name no endpoint" in f.message for f in r.findings)


def test_cdr01_configuration_alone_fails_for_two_tenants() -> None:
    r = run("CDR-01", {"pjsip.conf": PJSIP, **CSV_ON}, TWO)
    assert r.status == "fail"
    assert cites(r)[0] == "cdr.conf:4" and r.findings[0].tenants == ("x", "y")


def test_cdr01_odbc_without_accountcode_filter_fails() -> None:
    files = {"pjsip.conf": PJSIP, "modules.conf": "[modules]\nautoload=yes\nnoload => cdr_csv.so\n",
             "cdr_adaptive_odbc.conf": "[asteriskcdrdb]\nconnection=asteriskcdrdb\ntable=cdr\n"
                                       "[per_x]\nconnection=db\ntable=cdr_x\nfilter accountcode => x-acct\n"}
    r = run("CDR-01", files, TWO)
    assert r.status == "fail" and cites(r)[0] == "cdr_adaptive_odbc.conf:1"
    assert all("cdr_x" not in f.message for f in r.findings)


def test_cdr01_filtered_stores_pass_for_two_tenants() -> None:
    files = {"pjsip.conf": PJSIP, "cdr.conf": "[general]\n[csv]\nusegmtime=yes\n",
             "modules.conf": "[modules]\nautoload=yes\nnoload => cdr_csv.so\n",
             "cdr_adaptive_odbc.conf": "[per_x]\nconnection=db\ntable=cdr_x\nfilter accountcode => x-acct\n"}
    assert run("CDR-01", files, TWO).status == "pass"
    off = {"pjsip.conf": PJSIP, "cdr.conf": "[general]\nenable=no\n[csv]\nusegmtime=yes\n",
           "modules.conf": "[modules]\nautoload=yes\n"}
    assert run("CDR-01", off, TWO).status == "pass"


def test_cdr01_unknown_module_state_is_not_evaluated() -> None:
    r = run("CDR-01", {"pjsip.conf": PJSIP, "cdr.conf": "[csv]\nusegmtime=yes\n"}, TWO)
    assert r.status == "not_evaluated" and "modules.conf" in r.summary


# --- CDR-02 ----------------------------------------------------------------------------------


def test_cdr02_not_evaluated_without_endpoints_or_sample() -> None:
    r = run("CDR-02", {}, TWO)
    assert r.status == "not_evaluated" and "no call-record sample" in r.summary


def test_cdr02_no_inventory_reports_facts() -> None:
    r = run("CDR-02", {"pjsip.conf": PJSIP}, cdr=master_csv(("", "PJSIP/10", "")))
    assert r.status == "not_evaluated"
    assert any("1 of 1 record(s)" in f.message and "no account code" in f.message for f in r.findings)
    assert any(f.message == "3 of 3 user endpoint(s) set no accountcode" for f in r.findings)


def test_cdr02_fails_on_missing_and_shared_accountcodes() -> None:
    pjsip = PJSIP.replace("aors=10\n", "aors=10\naccountcode=shared\n").replace("aors=20\n",
                                                                                "aors=20\naccountcode=shared\n")
    r = run("CDR-02", {"pjsip.conf": pjsip}, TWO, cdr=master_csv(("", "PJSIP/11", ""), ("shared", "PJSIP/20", "")))
    assert r.status == "fail"
    messages = [f.message for f in r.findings]
    assert any(m.startswith("1 call record(s)") for m in messages)
    shared = next(f for f in r.findings if f.template.startswith("one account code"))
    assert shared.tenants == ("x", "y") and f"{shared.file}:{shared.line}" == f"pjsip.conf:{EP_LINE['10']}"
    assert "shared" not in shared.message  # the account code itself is not shown
    missing = [f for f in r.findings if "sets no accountcode" in f.template]
    # endpoint 11 starts one line later: a line was added to endpoint 10
    assert [(f.file, f.line, f.tenants) for f in missing] == [("pjsip.conf", EP_LINE["11"] + 1, ("x",))]


def test_cdr02_distinct_accountcodes_pass() -> None:
    pjsip = (PJSIP.replace("aors=10\n", "aors=10\naccountcode=ax\n").replace("aors=11\n", "aors=11\naccountcode=ax\n")
             .replace("aors=20\n", "aors=20\naccountcode=ay\n"))
    r = run("CDR-02", {"pjsip.conf": pjsip}, TWO, cdr=master_csv(("ax", "PJSIP/10", ""), ("ay", "PJSIP/20", "")))
    assert r.status == "pass", r.findings
    assert run("CDR-02", {"pjsip.conf": PJSIP}, ONE).status == "pass"


# --- CDR-03 ----------------------------------------------------------------------------------

CEL_ON = {"cel.conf": "[general]\nenable=yes\napps=all\nevents=ALL\n",
          "cel_odbc.conf": "[cel]\nconnection=asteriskcdrdb\ntable=cel\n", "modules.conf": "[modules]\nautoload=yes\n"}
DIALPLAN = """[from-internal]
exten => _1X,1,Dial(PJSIP/${EXTEN})
exten => _2X,1,Dial(PJSIP/${EXTEN})
"""
RECORDING = """[from-internal]
exten => _XX,1,MixMonitor(${UNIQUEID}.wav)
 same => n,Dial(PJSIP/${EXTEN})
"""


def test_cdr03_no_inventory_not_evaluated_with_facts() -> None:
    r = run("CDR-03", {"pjsip.conf": PJSIP, "extensions.conf": RECORDING, **CEL_ON})
    assert r.status == "not_evaluated"
    assert "cel_odbc.conf:1" in cites(r) and "extensions.conf:2" in cites(r)


def test_cdr03_shared_cel_table_fails() -> None:
    r = run("CDR-03", {"pjsip.conf": PJSIP, "extensions.conf": DIALPLAN, **CEL_ON}, TWO)
    assert r.status == "fail" and cites(r)[0] == "cel_odbc.conf:1" and r.findings[0].tenants == ("x", "y")


def test_cdr03_shared_recording_folder_fails() -> None:
    files = {"pjsip.conf": PJSIP, "extensions.conf": RECORDING, "cel.conf": "[general]\nenable=no\n"}
    r = run("CDR-03", files, TWO)
    assert r.status == "fail"
    assert r.findings[0].template.endswith("recorded into the same folder /var/spool/asterisk/monitor")
    assert cites(r)[0] == "extensions.conf:2"


def test_cdr03_pass_and_missing_cel_conf() -> None:
    files = {"pjsip.conf": PJSIP, "extensions.conf": DIALPLAN, "cel.conf": "[general]\nenable=no\n"}
    assert run("CDR-03", files, TWO).status == "pass"
    assert run("CDR-03", files, ONE).status == "pass"
    r = run("CDR-03", {"pjsip.conf": PJSIP, "extensions.conf": DIALPLAN}, TWO)
    assert r.status == "not_evaluated" and "cel.conf is absent" in r.summary


# --- AMI-01 ----------------------------------------------------------------------------------


def _rules(*pairs: tuple[str, str]) -> list[Any]:
    issues: list[ReadIssue] = []
    out = []
    for action, value in pairs:
        out += parse_acl_value("permit" if action == "permit" else "deny", value, Loc("manager.conf", 1), issues)
    return out


def test_ami_decision_function() -> None:
    freepbx = _rules(("deny", "0.0.0.0/0.0.0.0"), ("permit", "127.0.0.1/255.255.255.0"))
    assert remote_login(freepbx, [], (4,)) is None
    assert remote_login([], [], (4,)) is not None
    assert remote_login(_rules(("permit", "0.0.0.0/0")), [], (4,)) is not None
    assert remote_login([], [], ()) is None  # loopback listener: nothing remote can connect


def test_ami01_not_evaluated_without_manager_conf() -> None:
    r = run("AMI-01", {"pjsip.conf": PJSIP})
    assert r.status == "not_evaluated" and "manager.conf is absent" in r.summary


def test_ami01_freepbx_default_passes() -> None:
    r = run("AMI-01", {"manager.conf": FREEPBX_MANAGER})
    assert r.status == "pass" and "manager.conf:6" in cites(r)


def test_ami01_no_rules_on_public_bind_fails() -> None:
    text = "[general]\nenabled=yes\nbindaddr=0.0.0.0\n[crm]\nread=call\n"
    r = run("AMI-01", {"manager.conf": text})
    assert r.status == "fail" and cites(r)[0] == "manager.conf:4" and "crm" in r.findings[0].message


def test_ami01_permit_everything_fails() -> None:
    text = FREEPBX_MANAGER + "\n[crm]\npermit=0.0.0.0/0\nread=call\n"
    r = run("AMI-01", {"manager.conf": text})
    assert r.status == "fail" and cites(r)[0] == "manager.conf:13"


def test_ami01_loopback_bind_or_disabled_passes() -> None:
    assert run("AMI-01", {"manager.conf": "[general]\nenabled=yes\nbindaddr=127.0.0.1\n[crm]\n"}).status == "pass"
    r = run("AMI-01", {"manager.conf": "[general]\n[crm]\n"})
    assert r.status == "pass" and "default" in r.summary


def test_ami01_named_acl() -> None:
    text = "[general]\nenabled=yes\n[crm]\ndeny=0.0.0.0/0\npermit=10.0.0.0/8\nacl=office\n"
    r = run("AMI-01", {"manager.conf": text, "acl.conf": "[office]\npermit=10.0.0.0/8\n"})
    assert r.status == "fail" and cites(r)[0] == "manager.conf:3"
    r = run("AMI-01", {"manager.conf": text, "acl.conf": "[office]\ndeny=10.0.0.0/8\n"})
    assert r.status == "pass"
    r = run("AMI-01", {"manager.conf": text})  # the ACL name is not defined and acl.conf was not read
    assert r.status == "not_evaluated" and "acl.conf is absent" in r.summary


def test_ami01_ipv6_bind_is_open_to_ipv6_clients() -> None:
    r = run("AMI-01", {"manager.conf": FREEPBX_MANAGER.replace("bindaddr = 0.0.0.0", "bindaddr = ::")})
    assert r.status == "fail" and "2001:db8::10" in r.findings[0].message


# --- AMI-02 ----------------------------------------------------------------------------------


def test_ami02_statuses() -> None:
    assert run("AMI-02", {}, TWO).status == "not_evaluated"
    files = {"pjsip.conf": PJSIP, "manager.conf": FREEPBX_MANAGER}
    r = run("AMI-02", files)
    assert r.status == "not_evaluated" and cites(r) == ["manager.conf:10"]
    assert run("AMI-02", files, ONE).status == "pass"
    r = run("AMI-02", files, TWO)
    assert r.status == "fail" and cites(r) == ["manager.conf:10"] and r.findings[0].tenants == ("x", "y")
    assert "REDACTED" not in r.findings[0].message


def test_ami02_filtered_or_disabled_passes() -> None:
    filtered = FREEPBX_MANAGER.replace("read = system,call,cdr", "read = system,call\neventfilter=Event: FullyBooted")
    assert run("AMI-02", {"pjsip.conf": PJSIP, "manager.conf": filtered}, TWO).status == "pass"
    disabled = FREEPBX_MANAGER.replace("enabled = yes", "enabled = no")
    assert run("AMI-02", {"pjsip.conf": PJSIP, "manager.conf": disabled}, TWO).status == "pass"
    command = FREEPBX_MANAGER.replace("write = system,call", "write = command")
    r = run("AMI-02", {"pjsip.conf": PJSIP, "manager.conf": command.replace(",cdr", "")}, TWO)
    assert r.status == "fail" and "command" in r.findings[0].message


# --- ARI-01 ----------------------------------------------------------------------------------

ARI = "[general]\nenabled=yes\n[app]\ntype=user\npassword=REDACTED\nread_only=yes\n"


def test_ari01_statuses() -> None:
    assert run("ARI-01", {"pjsip.conf": PJSIP}, TWO).status == "not_evaluated"
    r = run("ARI-01", {"ari.conf": ARI}, TWO)
    assert r.status == "pass" and "HTTP server" in r.summary
    public = {"ari.conf": ARI, "http.conf": "[general]\nenabled=yes\nbindaddr=0.0.0.0\n"}
    r = run("ARI-01", public)
    assert r.status == "fail" and cites(r)[0] == "http.conf:3"
    local = {"pjsip.conf": PJSIP, "ari.conf": ARI, "http.conf": "[general]\nenabled=yes\nbindaddr=127.0.0.1\n"}
    assert run("ARI-01", local).status == "not_evaluated"
    assert run("ARI-01", local, ONE).status == "pass"
    r = run("ARI-01", local, TWO)
    assert r.status == "fail" and cites(r)[0] == "ari.conf:3" and r.findings[0].tenants == ("x", "y")
    off = {**local, "modules.conf": "[modules]\nautoload=yes\nnoload => res_ari.so\n"}
    assert run("ARI-01", off, TWO).status == "pass"


# --- ACL-01 / ACL-02 ------------------------------------------------------------------------


def test_acl01_statuses() -> None:
    assert run("ACL-01", {}).status == "not_evaluated"
    r = run("ACL-01", {"pjsip.conf": PJSIP}, TWO)
    assert r.status == "fail"
    assert cites(r) == [f"pjsip.conf:{EP_LINE[e]}" for e in ("10", "11", "20")]
    assert r.findings[2].tenants == ("y",) and "{t0}" in r.findings[2].template
    glob = PJSIP + "\n[office]\ntype=acl\ndeny=0.0.0.0/0\npermit=198.51.100.0/24\n"
    r = run("ACL-01", {"pjsip.conf": glob})
    assert r.status == "pass" and cites(r) == ["pjsip.conf:24"]
    own = PJSIP.replace("aors=", "deny=0.0.0.0/0\npermit=198.51.100.0/24\naors=")
    assert run("ACL-01", {"pjsip.conf": own}).status == "pass"
    wide = PJSIP + "\n[all]\ntype=acl\npermit=0.0.0.0/0\n"
    assert run("ACL-01", {"pjsip.conf": wide}).status == "fail"
    named = PJSIP.replace("aors=", "acl=office\naors=")
    assert run("ACL-01", {"pjsip.conf": named, "acl.conf": "[office]\ndeny=0.0.0.0/0\npermit=10.0.0.0/8\n"}
               ).status == "pass"


# Endpoints written alike share one answer; these differ only in order, ACL names or technology.
ACL_MIX = {
    "pjsip.conf": """[a]
type=endpoint
permit=0.0.0.0/0
deny=10.0.0.0/8

[b]
type=endpoint
deny=10.0.0.0/8
permit=0.0.0.0/0

[c]
type=endpoint
acl=office

[d]
type=endpoint
acl=open

[e]
type=endpoint
acl=nosuchacl

[f]
type=endpoint
deny=127.0.0.1

[g]
type=endpoint
permit=10.0.0.0/8

[h]
type=endpoint
permit=0.0.0.0/0
deny=10.0.0.0/8
""",
    "sip.conf": "[a]\ntype=friend\npermit=0.0.0.0/0\ndeny=10.0.0.0/8\n\n[z]\ntype=friend\nhost=dynamic\n",
    "acl.conf": "[office]\ndeny=0.0.0.0/0\npermit=10.0.0.0/8\n\n[open]\npermit=0.0.0.0/0\n",
}
ACL_MIX_RESTRICTED = {"PJSIP/a": True, "PJSIP/b": False, "PJSIP/c": True, "PJSIP/d": False, "PJSIP/e": True,
                      "PJSIP/f": False, "PJSIP/g": False, "PJSIP/h": True, "SIP/a": True, "SIP/z": False}


@pytest.mark.parametrize("glob", [False, True])
def test_acl_restriction_per_endpoint_is_shared_only_by_alike_endpoints(glob: bool) -> None:
    files = dict(ACL_MIX)
    if glob:  # a global pjsip.conf ACL restricts every PJSIP endpoint, not chan_sip ones
        files["pjsip.conf"] += "\n[office-only]\ntype=acl\ndeny=0.0.0.0/0\npermit=198.51.100.0/24\n"
    dump = PbxDump("test", "dir:/test", asterisk={p: DumpFile(p, t.encode()) for p, t in files.items()})
    pbx = Pbx(read_config(dump), None)
    glob_lists = [lst for _, lists in network.global_acls(pbx) for lst in lists]
    shared = network._Restrictions(pbx, glob_lists)
    got = {ep.channel: shared(ep) for ep in pbx.config.endpoints}
    expected = {ch: r or (glob and ch.startswith("PJSIP/")) for ch, r in ACL_MIX_RESTRICTED.items()}
    assert got == expected
    for ep in pbx.config.endpoints:  # the same as the search on each endpoint's own lists
        lists = network.endpoint_acls(pbx, ep) + (glob_lists if ep.tech == "PJSIP" else [])
        assert (find_address(lists, (4, 6), admitted=False) is not None) == got[ep.channel], ep.channel
    assert len(shared.known) == len(ACL_MIX_RESTRICTED) - 1  # PJSIP/a and PJSIP/h are written alike


TRUNK = """
[itsp]
type=endpoint
context=from-pstn
outbound_auth=itsp-auth
"""


def test_acl02_statuses() -> None:
    assert run("ACL-02", {}).status == "not_evaluated"
    assert run("ACL-02", {"pjsip.conf": PJSIP}).status == "pass"
    r = run("ACL-02", {"pjsip.conf": PJSIP + TRUNK})
    assert r.status == "fail" and cites(r) == ["pjsip.conf:24"]
    ident = PJSIP + TRUNK + "\n[itsp-id]\ntype=identify\nendpoint=itsp\nmatch=203.0.113.5\n"
    r = run("ACL-02", {"pjsip.conf": ident})
    assert r.status == "pass" and cites(r) == ["pjsip.conf:32"]
    anywhere = ident.replace("match=203.0.113.5", "match=0.0.0.0/0")
    r = run("ACL-02", {"pjsip.conf": anywhere})
    assert r.status == "fail" and cites(r) == ["pjsip.conf:32"]


# --- F2B-01 / F2B-02 ------------------------------------------------------------------------

LOGGER = "[general]\n[logfiles]\nconsole => notice,warning\nmessages => notice,warning,error\n"
JAIL = "[asterisk]\nport = 5060,5061\nlogpath  = /var/log/asterisk/messages\nmaxretry = 10\n"


def test_f2b01_not_evaluated_without_inputs() -> None:
    r = run("F2B-01", {"logger.conf": LOGGER})
    assert r.status == "not_evaluated" and "fail2ban" in r.summary
    r = run("F2B-01", {}, fail2ban={"jail.conf": JAIL})
    assert r.status == "not_evaluated" and "logger.conf is absent" in r.summary


def test_f2b01_jail_not_enabled_fails() -> None:
    r = run("F2B-01", {"logger.conf": LOGGER}, fail2ban={"jail.conf": JAIL})
    assert r.status == "fail" and cites(r)[0] == "fail2ban/jail.conf:1"
    r = run("F2B-01", {"logger.conf": LOGGER}, fail2ban={"jail.conf": "[sshd]\nenabled = true\n"})
    assert r.status == "fail" and "no Asterisk jail" in r.summary


def test_f2b01_logpath_mismatch_fails_and_match_passes() -> None:
    f2b = {"jail.conf": JAIL, "jail.local": "[asterisk]\nenabled = true\n"}
    mismatch = LOGGER.replace("messages =>", "messages.log =>")
    r = run("F2B-01", {"logger.conf": mismatch}, fail2ban=f2b)
    assert r.status == "fail" and cites(r)[0] == "fail2ban/jail.conf:3"
    assert "/var/log/asterisk/messages.log" in r.findings[0].message
    r = run("F2B-01", {"logger.conf": LOGGER}, fail2ban=f2b)
    assert r.status == "pass" and cites(r)[0] == "fail2ban/jail.conf:3"
    assert "logger.conf:4" in r.findings[0].path[-1]


def test_f2b02_statuses() -> None:
    assert run("F2B-02", {}).status == "not_evaluated"
    r = run("F2B-02", {"logger.conf": LOGGER})
    assert r.status == "fail" and cites(r) == ["logger.conf:2"]
    r = run("F2B-02", {"logger.conf": LOGGER + "security.log => security\n"})
    assert r.status == "pass" and cites(r) == ["logger.conf:5"]
    r = run("F2B-02", {"logger.conf": "[logfiles]\nconsole => security\n"})
    assert r.status == "fail"  # the console keeps nothing


def test_ext01_is_never_evaluated_from_the_pbx() -> None:
    r = run("EXT-01", {"pjsip.conf": PJSIP}, TWO)
    assert (r.status, r.severity) == ("not_evaluated", "info") and "infrastructure" in r.summary


@pytest.mark.parametrize("check_id", sorted(SPECS))
@pytest.mark.parametrize("inventory", [None, ONE, TWO])
def test_empty_tree_never_passes(check_id: str, inventory: dict[str, Any] | None) -> None:
    """Without the files a check needs, the verdict is not_evaluated, never pass."""
    assert run(check_id, {}, inventory).status == "not_evaluated"


def test_one_tenant_without_cel_conf_is_not_a_pass() -> None:
    r = run("CDR-03", {"pjsip.conf": PJSIP, "extensions.conf": DIALPLAN}, ONE)
    assert r.status == "not_evaluated"
