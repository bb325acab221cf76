"""K. Network controls: SIP address restrictions on phones (ACL-01) and trunks (ACL-02), fail2ban
watching the log Asterisk really writes (F2B-01), a security log (F2B-02), and the controls the
PBX cannot show (EXT-01: backups, SLA, cluster)."""

from __future__ import annotations

import ipaddress

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.management import deny_all
from attest.pbx.facts import Pbx
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import Loc, ReadIssue, Section
from collectors.pbx.endpoints import Endpoint
from collectors.pbx.settings import (
    AclRule,
    LogChannel,
    acl_refs_of,
    find_address,
    logpath_matches,
    parse_acl_value,
    rules_of,
)

CHECKS: list[CheckSpec] = []
MAX_FINDINGS = 20


def _at(loc: Loc | None) -> tuple[str | None, int | None]:
    return (loc.file, loc.line) if loc is not None else (None, None)


def _named(pbx: Pbx, names: list[str], loc: Loc) -> list[list[AclRule]]:
    acls = []
    for name in names:
        acl = pbx.config.settings.acl.named.get(name)
        acls.append(acl.rules if acl is not None else deny_all(loc))  # unknown ACL name: refuses everything
    return acls


def global_acls(pbx: Pbx) -> list[tuple[Section, list[list[AclRule]]]]:
    """pjsip.conf `type=acl` sections: each applies to every inbound SIP request (res_pjsip_acl)."""
    found = []
    issues: list[ReadIssue] = []
    for s in pbx.config.pjsip.global_acls:
        lists = [rules_of(s, issues), rules_of(s, issues, "contact_")]
        refs = acl_refs_of(s) + acl_refs_of(s, "contact_")
        lists += _named(pbx, [n for n, _ in refs], s.loc)
        found.append((s, [lst for lst in lists if lst]))
    return found


def _own_rules(ep: Endpoint) -> list[tuple[str, str, Loc]]:
    """The endpoint's permit/deny values as (action, value, where), in the order written."""
    return sorted([("permit", v, loc) for v, loc in ep.permits] + [("deny", v, loc) for v, loc in ep.denies],
                  key=lambda x: x[2])


def endpoint_acls(pbx: Pbx, ep: Endpoint) -> list[list[AclRule]]:
    """The endpoint's own permit/deny (in the order written) and the named ACLs it refers to."""
    issues: list[ReadIssue] = []
    own: list[AclRule] = []
    for action, value, loc in _own_rules(ep):
        own += parse_acl_value("permit" if action == "permit" else "deny", value, loc, issues)
    lists = [own] if own else []
    return lists + _named(pbx, ep.acl_refs, ep.loc)


def restricted(acls: list[list[AclRule]]) -> bool:
    """Whether some address outside this machine is refused by these lists."""
    if not any(r.action == "deny" for acl in acls for r in acl):
        return False  # only permits: every list lets every address in (`allowed` defaults to allow)
    return find_address(acls, (4, 6), admitted=False) is not None


class _Restrictions:
    """`restricted(endpoint_acls(ep) + the global lists if PJSIP)` for many endpoints, computed once
    per distinct combination of what decides it: the endpoint's own permit/deny values in order,
    the names of the ACLs it refers to, and whether the global pjsip.conf ACLs apply (PJSIP). The
    answer does not depend on where a rule is written, so endpoints written alike share it."""

    def __init__(self, pbx: Pbx, glob_lists: list[list[AclRule]]) -> None:
        self.pbx = pbx
        self.glob_lists = glob_lists
        self.known: dict[tuple[bool, tuple[tuple[str, str], ...], tuple[str, ...]], bool] = {}

    def __call__(self, ep: Endpoint) -> bool:
        pjsip = ep.tech == "PJSIP"
        key = (pjsip, tuple((action, value) for action, value, _ in _own_rules(ep)), tuple(ep.acl_refs))
        found = self.known.get(key)
        if found is None:
            found = self.known[key] = restricted(endpoint_acls(self.pbx, ep) + (self.glob_lists if pjsip else []))
        return found


@check("ACL-01", "Phones are accepted only from known networks", "medium", CHECKS)
def endpoint_whitelist(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (why := pbx.missing_endpoints()) is not None:
        return spec.not_evaluated(f"Not evaluated: {why}.")
    glob = global_acls(pbx)
    glob_lists = [lst for _, lists in glob for lst in lists]
    facts = [Finding(f"pjsip.conf [{s.name}] (type=acl) restricts the addresses every SIP request may come from",
                     s.loc.file, s.loc.line) for s, lists in glob if restricted(lists)]
    limited = _Restrictions(pbx, glob_lists)
    open_eps = [ep for ep in pbx.user_endpoints if not limited(ep)]
    users = len(pbx.user_endpoints)
    if not users:
        return spec.passed("There is no user endpoint to restrict.", facts)
    if not open_eps:
        return spec.passed(f"Every user endpoint ({users}) accepts requests only from some addresses.", facts)
    failures = []
    for ep in open_eps[:MAX_FINDINGS]:
        tenant = pbx.tenant_of(ep)
        whose = " of {t0}" if tenant else ""
        failures.append(Finding(f"endpoint {ep.channel}{whose} accepts SIP requests from any address: no acl, permit "
                                "or deny applies to it", ep.loc.file, ep.loc.line,
                                tenants=(tenant,) if tenant else ()))
    if len(open_eps) > MAX_FINDINGS:
        failures.append(Finding(f"… and {len(open_eps) - MAX_FINDINGS} more endpoint(s) without address restriction"))
    return spec.failed(f"{len(open_eps)} of {users} user endpoint(s) have no IP restriction at all: anyone on the "
                       "internet may try their passwords.", failures + facts)


def _match_is_any(text: str) -> bool:
    value = text.strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_network(value, strict=False).prefixlen == 0
    except ValueError:
        return False  # a host name: requests must come from its addresses


def _authenticates(pbx: Pbx, ep: Endpoint) -> bool:
    """Whether a PJSIP endpoint has `auth=`: inbound requests then must answer a password challenge."""
    for name in ("pjsip.conf", "pjsip_wizard.conf"):
        for s in pbx.config.confs[name].named(ep.name):
            if s.get("auth") or (s.get("inbound_auth/username") and (s.get("type") or "").strip().lower() == "wizard"):
                return True
    return False


@check("ACL-02", "Trunks accept calls only from their provider's addresses", "low", CHECKS)
def trunk_identify(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (why := pbx.missing_endpoints()) is not None:
        return spec.not_evaluated(f"Not evaluated: {why}.")
    glob_lists = [lst for _, lists in global_acls(pbx) for lst in lists]
    trunks = [ep for ep in pbx.config.endpoints if ep.is_trunk]
    if not trunks:
        return spec.passed("No trunk endpoint was found.")
    failures, facts = [], []
    restriction = _Restrictions(pbx, glob_lists)
    for ep in trunks:
        limited = restriction(ep)
        if ep.tech != "PJSIP":
            facts.append(Finding(f"trunk {ep.channel}: {ep.trunk_reason}; chan_sip/IAX match such peers by that "
                                 "address", ep.loc.file, ep.loc.line))
            continue
        anywhere = [(m, loc) for m, loc in ep.identify_matches if _match_is_any(m)]
        if limited:
            facts.append(Finding(f"trunk {ep.channel} accepts requests only from some addresses (acl/permit/deny)",
                                 ep.loc.file, ep.loc.line))
        elif anywhere:
            loc = anywhere[0][1]
            failures.append(Finding(f"trunk {ep.channel} is identified by a match that covers every address",
                                    loc.file, loc.line))
        elif not ep.identify_matches and _authenticates(pbx, ep):
            facts.append(Finding(f"trunk {ep.channel} has no identify match but asks every inbound request for its "
                                 "password (auth)", ep.loc.file, ep.loc.line))
        elif not ep.identify_matches:
            failures.append(Finding(f"trunk {ep.channel} has no identify match nor address restriction, so requests "
                                    f"from any address may be taken for it ({ep.trunk_reason})", ep.loc.file,
                                    ep.loc.line))
        else:
            loc = ep.identify_matches[0][1]
            facts.append(Finding(f"trunk {ep.channel} is identified by its provider's address(es)", loc.file, loc.line))
    if failures:
        return spec.failed(f"{len(failures)} trunk(s) accept requests from any source address.", failures + facts)
    return spec.passed(f"Every trunk ({len(trunks)}) is tied to its provider's addresses or asks for a password.",
                       facts)


def _channels_text(channels: list[LogChannel]) -> str:
    return ", ".join(c.path or c.name for c in channels) or "none"


@check("F2B-01", "fail2ban watches the log Asterisk writes", "medium", CHECKS)
def fail2ban_jail(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    s = pbx.config.settings
    gaps = []
    if not s.fail2ban.present:
        gaps.append("the fail2ban configuration (/etc/fail2ban) was not read")
    if (why := pbx.missing("logger.conf")) is not None:
        gaps.append(why)
    if gaps:
        return spec.not_evaluated(f"Not evaluated: {'; '.join(gaps)}.")
    f2b = s.fail2ban
    blocking = [i for i in f2b.issues if i.blocking]
    if blocking:
        return spec.not_evaluated(f"Not evaluated: the fail2ban configuration is not completely known ({blocking[0]}).")
    files = s.logger.files()
    facts = [Finding(f"Asterisk writes {c.path} ({', '.join(sorted(c.levels))})", c.loc.file, c.loc.line)
             for c in files]
    jails = list(f2b.jails.values())
    enabled = [j for j in jails if j.enabled.value]
    if not jails:
        read = ", ".join(f2b.files) or "no jail file"
        return spec.failed(f"fail2ban has no Asterisk jail ({read} read): repeated failed logins are never blocked.",
                           facts)
    if not enabled:
        failures = [Finding(f"fail2ban jail [{j.name}] is not enabled", *_at(j.enabled.loc or j.loc)) for j in jails]
        return spec.failed("No Asterisk jail of fail2ban is enabled: repeated failed logins are never blocked.",
                           failures + facts)
    findings = []
    for jail in enabled:
        matched = [c for c in files if (c.logs("notice") or c.logs("security"))
                   and any(logpath_matches(p, c, s.logger.appendhostname.value) for p in jail.logpaths)]
        where = jail.logpath_loc or jail.loc
        if matched:
            c = matched[0]
            return spec.passed(f"fail2ban jail [{jail.name}] is enabled and reads {c.path}, which Asterisk writes.",
                               [Finding(f"jail [{jail.name}] reads {c.path}", *_at(where),
                                        (f"enabled at {jail.enabled.loc}", f"logpath at {where}",
                                         f"logger.conf writes {c.path} at {c.loc}")), *facts])
        findings.append(Finding(f"fail2ban jail [{jail.name}] reads {', '.join(jail.logpaths) or 'no logpath'}, but "
                                f"Asterisk writes no such log with notice or security messages (it writes: "
                                f"{_channels_text(files)})", *_at(where)))
    return spec.failed("fail2ban's Asterisk jail watches a file Asterisk does not write: it never sees a failed "
                       "login.", findings + facts)


@check("F2B-02", "Asterisk writes a security log", "low", CHECKS)
def security_log(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (why := pbx.missing("logger.conf")) is not None:
        return spec.not_evaluated(f"Not evaluated: {why}.")
    log = pbx.config.settings.logger
    kept = [c for c in log.channels if c.name.lower() != "console" and c.logs("security")]
    if kept:
        c = kept[0]
        return spec.passed(f"Security events are logged to {c.path or c.name}.",
                           [Finding(f"{c.path or c.name} receives security events", c.loc.file, c.loc.line)])
    conf = pbx.config.confs["logger.conf"]
    section = conf.first("logfiles")
    loc = section.loc if section is not None else Loc(conf.name, 0)
    return spec.failed("No log channel receives security events (failed logins, refused addresses).",
                       [Finding("no channel of [logfiles] logs the 'security' level", loc.file, loc.line or None)])


@check("EXT-01", "Backups, SLA and cluster membership", "info", CHECKS)
def external(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    return spec.not_evaluated(
        "Not evaluated from the PBX: backups, the service level and cluster membership are not visible in Asterisk's "
        "configuration; they are shown by the infrastructure controls (backup jobs, hypervisor cluster, SLA "
        "records) of this attestation.")
