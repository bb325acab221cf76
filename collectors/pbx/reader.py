"""Read a `PbxDump` into facts: every configuration file Asterisk loads (with its includes), the
dialplan, the endpoints, the other settings, the parsed CLI outputs and the CDR sample."""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.pbx import cli_output
from collectors.pbx.conf import ConfFile, ReadIssue, read_conf
from collectors.pbx.dialplan import Dialplan, read_dialplan
from collectors.pbx.dump import PbxDump
from collectors.pbx.endpoints import Endpoint, PjsipExtras, pjsip_endpoints, sip_peers, wizard_endpoints
from collectors.pbx.settings import Settings, read_settings

# The files Asterisk's modules load by name (each with its #includes). FreePBX's *_additional.conf
# and *_custom.conf files are reached through the #include lines of these.
TOP_FILES = (
    "extensions.conf", "pjsip.conf", "pjsip_wizard.conf", "sip.conf", "iax.conf", "features.conf",
    "res_parking.conf", "voicemail.conf", "cdr.conf", "cdr_adaptive_odbc.conf", "cdr_custom.conf",
    "cdr_manager.conf", "cdr_odbc.conf", "cel.conf", "cel_odbc.conf", "cel_custom.conf", "manager.conf",
    "ari.conf", "http.conf", "acl.conf", "logger.conf", "modules.conf", "confbridge.conf", "meetme.conf",
    "asterisk.conf", "queues.conf", "followme.conf",
)
# Dialplans written in other languages than extensions.conf: present means the dialplan is not all known.
OTHER_DIALPLANS = ("extensions.ael", "extensions.lua")


@dataclass
class CliFacts:
    endpoints: cli_output.CliEndpoints | None = None
    dialplan: cli_output.CliDialplan | None = None
    hints: cli_output.CliHints | None = None
    features: cli_output.CliFeatures | None = None
    version: str | None = None


@dataclass
class PbxConfig:
    dump: PbxDump
    confs: dict[str, ConfFile]
    dialplan: Dialplan
    endpoints: list[Endpoint]
    pjsip: PjsipExtras
    settings: Settings
    cli: CliFacts
    issues: list[ReadIssue] = field(default_factory=list)  # about the tree as a whole

    def conf(self, name: str) -> ConfFile:
        return self.confs[name]

    @property
    def unused_files(self) -> list[str]:
        """Files of the tree that no loaded configuration file reads (kept as evidence, not analysed)."""
        read = {f for c in self.confs.values() for f in c.files}
        return sorted(p for p in self.dump.asterisk if p not in read)


def _cli(dump: PbxDump) -> CliFacts:
    facts = CliFacts()
    if "pjsip_show_endpoints" in dump.cli:
        facts.endpoints = cli_output.parse_pjsip_show_endpoints(dump.cli["pjsip_show_endpoints"])
    if "dialplan_show" in dump.cli:
        facts.dialplan = cli_output.parse_dialplan_show(dump.cli["dialplan_show"])
    if "core_show_hints" in dump.cli:
        facts.hints = cli_output.parse_core_show_hints(dump.cli["core_show_hints"])
    if "features_show" in dump.cli:
        facts.features = cli_output.parse_features_show(dump.cli["features_show"])
    if "core_show_version" in dump.cli:
        facts.version = cli_output.parse_core_show_version(dump.cli["core_show_version"])
    return facts


def read_config(dump: PbxDump) -> PbxConfig:
    confs = {name: read_conf(dump.asterisk, name) for name in TOP_FILES}
    issues: list[ReadIssue] = []
    dialplan = read_dialplan(confs["extensions.conf"])
    # What leaves the dialplan not completely known (a switch to elsewhere) belongs to the file.
    confs["extensions.conf"].issues += [i for i in dialplan.issues if i.blocking]
    dialplan.issues = [i for i in dialplan.issues if not i.blocking]
    for other in OTHER_DIALPLANS:
        if other in dump.asterisk:
            issue = ReadIssue("error", f"{other} is present: a dialplan written in AEL/Lua is not analysed, so the "
                                       "dialplan is not fully known", None, blocking=True)
            confs["extensions.conf"].issues.append(issue)
    endpoints, pjsip = pjsip_endpoints(confs["pjsip.conf"])
    endpoints += wizard_endpoints(confs["pjsip_wizard.conf"])
    endpoints += sip_peers(confs["sip.conf"], "SIP")
    endpoints += sip_peers(confs["iax.conf"], "IAX2")
    settings = read_settings(confs, dump.fail2ban)
    return PbxConfig(dump=dump, confs=confs, dialplan=dialplan, endpoints=endpoints, pjsip=pjsip,
                     settings=settings, cli=_cli(dump), issues=issues)
