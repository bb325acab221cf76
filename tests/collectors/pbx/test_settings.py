"""collectors.pbx.settings: the non-dialplan settings read from small /etc/asterisk trees, with
Asterisk's defaults, file:line of every fact, no secret kept, and the access-rule arithmetic."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from collectors.pbx.conf import Loc, ReadIssue, read_conf
from collectors.pbx.dump import DumpFile
from collectors.pbx.reader import TOP_FILES
from collectors.pbx.settings import (
    AclRule,
    LogChannel,
    Settings,
    admitted_remote,
    allowed,
    bind_families,
    find_address,
    logpath_matches,
    parse_acl_value,
    read_settings,
)

REFERENCE = Path("/work/shared/reference/pbx/configs")


def tree(files: dict[str, str]) -> dict[str, DumpFile]:
    return {path: DumpFile(path, text.encode()) for path, text in files.items()}


def settings(files: dict[str, str], fail2ban: dict[str, str] | None = None) -> Settings:
    t = tree(files)
    confs = {name: read_conf(t, name) for name in TOP_FILES}
    return read_settings(confs, tree(fail2ban) if fail2ban is not None else None)


def rules(*pairs: tuple[str, str]) -> list[AclRule]:
    issues: list[ReadIssue] = []
    found: list[AclRule] = []
    for n, (action, value) in enumerate(pairs, start=1):
        assert action in ("permit", "deny")
        found += parse_acl_value("permit" if action == "permit" else "deny", value, Loc("manager.conf", n), issues)
    assert not issues
    return found


# --- features, parking, voicemail -------------------------------------------------------------


def test_pickupexten_default_and_freepbx_include() -> None:
    s = settings({})
    assert (s.features.pickupexten, s.features.pickupexten_loc) == ("*8", None)
    s = settings({"features.conf": "[general]\n#include features_general_additional.conf\n",
                  "features_general_additional.conf": "; generated\npickupexten=*9\n"})
    assert s.features.pickupexten == "*9"
    assert s.features.pickupexten_loc == Loc("features_general_additional.conf", 2)


def test_parking_implicit_default_lot_and_named_lot_defaults() -> None:
    s = settings({"res_parking.conf": "[general]\n\n[tenant-a]\ncontext => park-a\nparkext_exclusive=yes\n"})
    default, lot = s.parking.lots
    assert default.implicit and default.loc is None
    assert (default.parkext, default.parkpos, default.context) == ("700", "701-720", "parkedcalls")
    assert default.positions() == (701, 720)
    assert lot.name == "tenant-a" and lot.loc == Loc("res_parking.conf", 3) and not lot.implicit
    assert lot.context == "park-a" and lot.context_loc == Loc("res_parking.conf", 4)
    assert lot.parkext is None and lot.parkext_exclusive and not lot.parkinghints


def test_parking_explicit_default_lot_is_not_implicit() -> None:
    s = settings({"res_parking.conf": "#include res_parking_additional.conf\n",
                  "res_parking_additional.conf": "[default]\nparkext=70\nparkpos=71-78\ncontext=parkedcalls\n"})
    assert len(s.parking.lots) == 1
    lot = s.parking.lots[0]
    assert not lot.implicit and (lot.parkext, lot.positions()) == ("70", (71, 78))
    assert lot.locs["parkpos"] == Loc("res_parking_additional.conf", 3)


def test_voicemail_contexts_mailboxes_without_pins() -> None:
    s = settings({"voicemail.conf": "[general]\nsearchcontexts=yes\naliasescontext=myaliases\n[zonemessages]\n"
                                    "eastern=America/New_York|'vm-received' Q 'digits/at' IMp\n"
                                    "[acme]\n100 => 4242,Pete,pete@example.com\n101 => 1717,Ann\n"
                                    "[myaliases]\n1234@devices => 100@acme\n"})
    vm = s.voicemail
    assert vm.searchcontexts and vm.searchcontexts_loc == Loc("voicemail.conf", 2)
    assert list(vm.contexts) == ["acme"]
    assert vm.contexts["acme"].mailboxes == {"100": Loc("voicemail.conf", 7), "101": Loc("voicemail.conf", 8)}
    assert "4242" not in repr(vm) and "1717" not in repr(vm)
    assert not settings({"voicemail.conf": "[default]\n"}).voicemail.searchcontexts


# --- call records and modules ----------------------------------------------------------------


def test_cdr_defaults_and_csv_section() -> None:
    s = settings({})
    assert s.cdr.enable.value and s.cdr.enable.is_default and not s.cdr.csv_present
    s = settings({"cdr.conf": "[general]\nenable=no\n[csv]\nusegmtime=yes\naccountlogs=no\n"})
    assert not s.cdr.enable.value and s.cdr.enable.loc == Loc("cdr.conf", 2)
    assert s.cdr.csv_loc == Loc("cdr.conf", 3) and s.cdr.csv_configured
    assert s.cdr.usegmtime.value and not s.cdr.loguniqueid.value and not s.cdr.accountlogs.value
    # cdr_csv declines to load when [csv] holds no option at all
    assert not settings({"cdr.conf": "[csv]\n"}).cdr.csv_configured


def test_adaptive_odbc_filters_and_aliases() -> None:
    s = settings({"cdr_adaptive_odbc.conf": "[asteriskcdrdb]\nconnection=asteriskcdrdb\ntable=cdr\n"
                                            "alias start => calldate\n\n[tenant_a]\nconnection=db\ntable=cdr_a\n"
                                            "filter accountcode => acme\nfilter dcontext != internal\n"
                                            "[broken]\ntable=x\n"})
    shared, tenant, broken = s.cdr.adaptive_odbc
    assert shared.usable and shared.label == "asteriskcdrdb.cdr" and shared.aliases == {"start": "calldate"}
    assert shared.filters == [] and shared.loc == Loc("cdr_adaptive_odbc.conf", 1)
    assert [(f.column, f.op, f.value, f.loc.line) for f in tenant.filters] == [
        ("accountcode", "=", "acme", 9), ("dcontext", "!=", "internal", 10)]
    assert [f.value for f in tenant.accountcode_filters()] == ["acme"]
    assert not broken.usable


def test_cdr_custom_and_cel() -> None:
    s = settings({"cdr_custom.conf": "[mappings]\nMaster.csv => ${CSV_QUOTE(${CDR(clid)})}\n",
                  "cel.conf": "[general]\nenable=yes\napps=dial,park\nevents=ALL\n",
                  "cel_odbc.conf": "[cel]\nconnection=asteriskcdrdb\ntable=cel\n",
                  "cel_custom.conf": "[mappings]\n/var/log/x/cel.csv => ${eventtype}\n"})
    (m,) = s.cdr.custom
    assert m.path == "/var/log/asterisk/cdr-custom/Master.csv" and m.loc == Loc("cdr_custom.conf", 2)
    assert s.cel.enable.value and s.cel.enable.loc == Loc("cel.conf", 2) and s.cel.apps.value == "dial,park"
    assert [st.label for st in s.cel.odbc] == ["asteriskcdrdb.cel"]
    assert [c.path for c in s.cel.custom] == ["/var/log/x/cel.csv"]
    assert not settings({"cel.conf": "[general]\n"}).cel.enable.value


@pytest.mark.parametrize(("text", "name", "expected"), [
    ("[modules]\nautoload=yes\n", "cdr_csv.so", True),
    ("[modules]\nautoload=yes\nnoload => cdr_csv.so\n", "cdr_csv.so", False),
    ("[modules]\nautoload=no\nload => cdr_csv.so\n", "cdr_csv.so", True),
    ("[modules]\nload => cdr_csv.so\nnoload => cdr_csv\n", "cdr_csv", False),  # noload wins; ".so" optional
    ("[modules]\nautoload=no\n", "cdr_csv.so", False),
    ("[modules]\n", "cdr_csv.so", False),  # loader.c: ast_true(NULL) -> no autoload
    ("[modules]\nautoload=yes\nrequire = res_ari.so\n", "res_ari.so", True),
])
def test_module_loaded(text: str, name: str, expected: bool) -> None:
    assert settings({"modules.conf": text}).module_loaded(name) is expected


def test_module_loaded_unknown_without_modules_conf() -> None:
    s = settings({})
    assert s.module_loaded("cdr_csv.so") is None
    s = settings({"modules.conf": "[modules]\nautoload=yes\nnoload => cdr_csv.so\n"})
    assert s.modules.why("cdr_csv.so") == Loc("modules.conf", 3)


# --- management plane ------------------------------------------------------------------------


MANAGER = """[general]
enabled = yes
port = 5038
bindaddr = 0.0.0.0

[admin]
secret = s3cr3t-value
deny=0.0.0.0/0.0.0.0
permit=127.0.0.1/255.255.255.0
read = system,call,CDR
write = command
eventfilter=!Event: Newexten
eventfilter(action(include),name(Hangup)) =
acl = office
displayconnects = no
"""


def test_manager_general_and_users_without_secret() -> None:
    s = settings({"manager.conf": MANAGER})
    mgr = s.manager
    assert mgr.enabled.value and mgr.enabled.loc == Loc("manager.conf", 2)
    assert (mgr.bindaddr.value, mgr.port.value, mgr.tlsenable.value) == ("0.0.0.0", 5038, False)
    (user,) = mgr.users
    assert user.name == "admin" and user.loc == Loc("manager.conf", 6)
    assert user.read == ["system", "call", "cdr"] and user.read_loc == Loc("manager.conf", 10)
    assert user.write == ["command"]
    assert [str(r) for r in user.rules] == ["deny=0.0.0.0/0", "permit=127.0.0.0/24"]
    assert [r.loc.line for r in user.rules] == [8, 9]
    assert user.acl_refs == [("office", Loc("manager.conf", 14))]
    assert [loc.line for _, loc in user.eventfilters] == [12, 13]
    assert [loc.line for _, loc in user.include_filters()] == [13]
    assert user.displayconnects is not None and not user.displayconnects.value
    assert "s3cr3t" not in repr(s)


def test_manager_defaults() -> None:
    mgr = settings({"manager.conf": "[general]\n"}).manager
    assert mgr.present and not mgr.enabled.value and mgr.bindaddr.value == "0.0.0.0" and mgr.port.value == 5038
    assert not settings({}).manager.present


def test_ari_and_http() -> None:
    s = settings({"ari.conf": "[general]\n#include ari_additional.conf\n",
                  "ari_additional.conf": "[freepbxuser]\ntype=user\npassword=hunter2\npassword_format=crypt\n"
                                         "read_only=no\n[notauser]\nfoo=bar\n",
                  "http.conf": "[general]\nenabled=yes\nbindaddr=::\nbindport=8088\ntlsenable=yes\n"
                               "tlsbindaddr=[::]:8089\n"})
    assert s.ari.enabled.value and s.ari.enabled.is_default
    (user,) = s.ari.users
    assert (user.name, user.loc, user.read_only.value, user.password_format.value) == (
        "freepbxuser", Loc("ari_additional.conf", 1), False, "crypt")
    assert "hunter2" not in repr(s)
    assert s.http.enabled.value and s.http.bindport.value == 8088
    assert s.http.listeners() == [("::", Loc("http.conf", 3)), ("[::]:8089", Loc("http.conf", 6))]
    http = settings({}).http
    assert not http.enabled.value and http.bindport.value == 8088 and http.listeners() == []


def test_named_acls() -> None:
    s = settings({"acl.conf": "[office](!)\ndeny=0.0.0.0/0\n[office-a](office)\npermit=10.1.0.0/16\n"})
    assert list(s.acl.named) == ["office-a"]
    assert [str(r) for r in s.acl.named["office-a"].rules] == ["deny=0.0.0.0/0", "permit=10.1.0.0/16"]


def test_bad_acl_value_is_an_issue() -> None:
    s = settings({"manager.conf": "[general]\nenabled=yes\n[u]\npermit=not-an-address\n"})
    assert s.manager.users[0].rules == []
    assert [i.loc for i in s.issues] == [Loc("manager.conf", 4)]


# --- logger ----------------------------------------------------------------------------------


def test_logger_channels() -> None:
    s = settings({"logger.conf": "[general]\nappendhostname=yes\n[logfiles]\nconsole => notice,warning\n"
                                 "messages.log => [plain]notice, Warning ,error\nsecurity.log => security\n"
                                 "/var/log/pbx/full => *,!debug\nsyslog.local0 => security\n"})
    log = s.logger
    assert log.appendhostname.value
    console, messages, security, full, syslog = log.channels
    assert console.path is None and syslog.path is None
    assert messages.path == "/var/log/asterisk/messages.log" and messages.levels == {"notice", "warning", "error"}
    assert messages.loc == Loc("logger.conf", 5)
    assert security.logs("security") and not messages.logs("security")
    assert full.path == "/var/log/pbx/full" and full.logs("security") and not full.logs("debug")
    assert [c.name for c in log.files()] == ["messages.log", "security.log", "/var/log/pbx/full"]


def test_logpath_matching() -> None:
    ch = LogChannel("messages", "/var/log/asterisk/messages", frozenset({"notice"}), Loc("logger.conf", 3))
    assert logpath_matches("/var/log/asterisk/messages", ch)
    assert logpath_matches("/var/log/asterisk/mess*", ch)
    assert not logpath_matches("/var/log/asterisk/messages.log", ch)
    assert logpath_matches("/var/log/asterisk/messages.pbx1", ch, appendhostname=True)
    assert not logpath_matches("/var/log/asterisk/messages.pbx1", ch)


# --- fail2ban --------------------------------------------------------------------------------


def test_fail2ban_order_interpolation_and_locs() -> None:
    s = settings({}, {
        "jail.conf": "[INCLUDES]\nbefore = paths-common.conf\n[DEFAULT]\nenabled = false\n"
                     "[asterisk]\nport = 5060,5061\nlogpath  = /var/log/asterisk/messages\nmaxretry = 10\n"
                     "[sshd]\nenabled = true\n",
        "paths-common.conf": "[DEFAULT]\nasterisk_log = %(logdir)s/full\nlogdir = /var/log/asterisk\n",
        "jail.d/00-first.conf": "[asterisk]\nenabled = true\n",
        "jail.d/zz.local": "# last word\n[asterisk]\nlogpath = %(asterisk_log)s ; inline comment\n"
                           "    %(logdir)s/security\n",
        "jail.local": "[asterisk]\nenabled = no\nfilter = asterisk\n[asterisk-iptables]\nenabled = yes\n",
    })
    f2b = s.fail2ban
    assert f2b.present
    assert f2b.files == ["paths-common.conf", "jail.conf", "jail.d/00-first.conf", "jail.local", "jail.d/zz.local"]
    assert set(f2b.jails) == {"asterisk", "asterisk-iptables"}
    jail = f2b.jails["asterisk"]
    # jail.local is read after jail.d/*.conf, so its "enabled = no" wins
    assert not jail.enabled.value and jail.enabled.loc == Loc("fail2ban/jail.local", 2)
    assert jail.logpaths == ["/var/log/asterisk/full", "/var/log/asterisk/security"]
    assert jail.logpath_loc == Loc("fail2ban/jail.d/zz.local", 3)
    assert jail.filter.value == "asterisk" and jail.loc == Loc("fail2ban/jail.d/zz.local", 2)
    other = f2b.jails["asterisk-iptables"]
    assert other.enabled.value and other.logpaths == []


def test_fail2ban_absent_or_default_disabled() -> None:
    assert not settings({}).fail2ban.present
    f2b = settings({}, {"jail.conf": "[asterisk]\nlogpath = /var/log/asterisk/messages\n"}).fail2ban
    jail = f2b.jails["asterisk"]
    assert not jail.enabled.value and jail.enabled.loc is None
    assert jail.logpaths == ["/var/log/asterisk/messages"]


def test_fail2ban_name_interpolation() -> None:
    f2b = settings({}, {"jail.conf": "[DEFAULT]\nfilter = %(__name__)s[mode=normal]\n[asterisk]\nenabled=true\n"
                                     "logpath = %(default/nowhere)s\n"}).fail2ban
    jail = f2b.jails["asterisk"]
    assert jail.filter.value == "asterisk[mode=normal]" and jail.enabled.value
    assert jail.logpaths == ["%(default/nowhere)s"]  # unknown names stay as written


# --- access rules ----------------------------------------------------------------------------


def test_freepbx_default_admits_loopback_only() -> None:
    acl = rules(("deny", "0.0.0.0/0.0.0.0"), ("permit", "127.0.0.1/255.255.255.0"))
    assert admitted_remote([acl], (4,)) is None
    assert allowed(acl, ipaddress.ip_address("127.0.0.1"))
    assert not allowed(acl, ipaddress.ip_address("192.0.2.1"))


def test_no_rules_admit_everyone() -> None:
    assert admitted_remote([[]], (4,)) is not None
    assert admitted_remote([], (4, 6)) is not None


def test_permit_everything_admits_remote() -> None:
    addr = admitted_remote([rules(("permit", "0.0.0.0/0"))], (4,))
    assert addr is not None and not addr.is_loopback


def test_rule_order_matters_last_match_wins() -> None:
    acl = rules(("permit", "127.0.0.1/255.255.255.0"), ("deny", "0.0.0.0/0.0.0.0"))
    assert not allowed(acl, ipaddress.ip_address("127.0.0.1"))
    assert admitted_remote([acl], (4,)) is None


def test_ipv4_rules_do_not_cover_ipv6() -> None:
    acl = rules(("deny", "0.0.0.0/0.0.0.0"), ("permit", "127.0.0.1/255.255.255.0"))
    addr = admitted_remote([acl], (4, 6))
    assert addr is not None and addr.version == 6
    assert not allowed(acl, ipaddress.ip_address("::ffff:192.0.2.1"))  # IPv4-mapped: judged as IPv4


def test_whitelist_and_named_acl_must_all_pass() -> None:
    own = rules(("deny", "0.0.0.0/0"), ("permit", "10.0.0.0/8"))
    assert str(admitted_remote([own], (4,))) == "10.0.0.10"
    named = rules(("deny", "10.0.0.0/8"))
    assert admitted_remote([own, named], (4,)) is None


def test_negated_rule() -> None:
    acl = rules(("deny", "!10.0.0.0/8"))
    assert allowed(acl, ipaddress.ip_address("10.1.2.3"))
    assert not allowed(acl, ipaddress.ip_address("192.0.2.1"))
    assert str(admitted_remote([acl], (4,))).startswith("10.")


def test_find_refused_address() -> None:
    assert find_address([rules(("permit", "0.0.0.0/0"))], (4, 6), admitted=False) is None
    assert find_address([rules(("deny", "192.0.2.0/24"))], (4,), admitted=False) is not None


@pytest.mark.parametrize(("bindaddr", "families"), [
    ("0.0.0.0", (4,)), ("127.0.0.1", ()), ("::", (4, 6)), ("::1", ()), ("[::]:8089", (4, 6)),
    ("0.0.0.0:5039", (4,)), ("192.0.2.5", (4,)), ("2001:db8::1", (6,)), ("localhost", ()), (None, ()),
    ("pbx.example.com", None),
])
def test_bind_families(bindaddr: str | None, families: tuple[int, ...] | None) -> None:
    assert bind_families(bindaddr) == families


# --- real configurations (only where the reference folder exists) ---------------------------


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="reference configurations are not available")
def test_real_freepbx_dump_and_samples() -> None:
    dump = REFERENCE / "freepbx-generated" / "hyunghopark-asterisk-conf"
    # The dump keeps FreePBX's static files as "<name>_hard" (e.g. features.conf_hard).
    files = {p.name.removesuffix("_hard"): p.read_text(errors="replace") for p in dump.iterdir()}
    s = settings(files)
    assert s.features.pickupexten == "*8"
    assert s.features.pickupexten_loc is not None
    assert s.features.pickupexten_loc.file == "features_general_additional.conf"
    assert s.parking.lot("default") is not None and not s.parking.lots[0].implicit
    assert s.manager.enabled.value and len(s.manager.users) >= 2
    assert all(admitted_remote([u.rules], (4,)) is None for u in s.manager.users)
    assert "REDACTED" not in repr(s.manager)
    sample = settings({"manager.conf": (REFERENCE / "asterisk-samples" / "manager.conf.sample").read_text()})
    assert not sample.manager.enabled.value and sample.manager.bindaddr.value == "0.0.0.0"
