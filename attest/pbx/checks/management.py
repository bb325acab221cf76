"""J. Management plane: the Asterisk Manager Interface (AMI, manager.conf) and the REST interface
(ARI, ari.conf over http.conf's server). Both see and control every call of the instance: they
must not be reachable from the network, and on a shared instance any login is a view of every
tenant. No password is ever read; users are named by their login name only."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import NO_INVENTORY
from attest.pbx.facts import Pbx
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import Loc
from collectors.pbx.settings import AclRule, IPAddress, ManagerUser, Settings, admitted_remote, bind_families

CHECKS: list[CheckSpec] = []

# AMI classes whose events or actions show every tenant's calls: call events, CDR events,
# dialplan (NewExten), reporting (CoreShowChannels, Getvar, ExtensionStateList), everything.
WIDE_READ = ("all", "call", "cdr", "dialplan", "reporting")
# Write classes that reach every tenant whatever the read filters: any CLI command, anything.
WIDE_WRITE = ("all", "command")


def _at(loc: Loc | None) -> tuple[str | None, int | None]:
    return (loc.file, loc.line) if loc is not None else (None, None)


def _tenant_list(n: int) -> str:
    return ", ".join(f"{{t{i}}}" for i in range(n))


def remote_login(user_rules: Sequence[AclRule], named: Sequence[Sequence[AclRule]],
                 families: Sequence[int]) -> IPAddress | None:
    """The AMI decision: an address outside this machine (of the listener's IP versions) that the
    user's own permit/deny list and every named ACL it references let in; None when only loopback
    addresses can log in. No rule at all lets everyone in."""
    return admitted_remote([list(user_rules), *[list(a) for a in named]], families)


def ami_listeners(s: Settings) -> list[tuple[str, str, Loc | None]]:
    """(what, address, where set) for every socket the AMI accepts logins on."""
    mgr = s.manager
    found: list[tuple[str, str, Loc | None]] = [
        ("AMI", mgr.bindaddr.value, mgr.bindaddr.loc or mgr.enabled.loc)]
    if mgr.tlsenable.value:
        found.append(("AMI over TLS", mgr.tlsbindaddr.value or mgr.bindaddr.value,
                      mgr.tlsbindaddr.loc or mgr.tlsenable.loc))
    if mgr.webenabled.value:
        found += [("AMI over HTTP", addr, loc) for addr, loc in s.http.listeners()]
    return found


def _families(listeners: Sequence[tuple[str, str, Loc | None]]) -> tuple[list[int], list[Finding]]:
    families: set[int] = set()
    notes = []
    for what, addr, loc in listeners:
        fam = bind_families(addr)
        if fam is None:
            notes.append(Finding(f"{what} binds to {addr!r}, which is not an IP address; it is treated as reachable "
                                 "from the network", *_at(loc)))
            fam = (4, 6)
        families |= set(fam)
        notes.append(Finding(f"{what} listens on {addr}" + (" (this machine only)" if not fam else ""), *_at(loc)))
    return sorted(families), notes


@check("AMI-01", "The manager interface (AMI) is not reachable from the network", "high", CHECKS)
def ami_exposure(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (why := pbx.missing("manager.conf")) is not None:
        return spec.not_evaluated(f"Not evaluated: {why}.")
    s = pbx.config.settings
    mgr = s.manager
    if not mgr.enabled.value:
        where = f" ({mgr.enabled.loc})" if mgr.enabled.loc else " (Asterisk's default)"
        return spec.passed(f"The AMI is disabled{where}.", [Finding("AMI is disabled", *_at(mgr.enabled.loc))])
    families, facts = _families(ami_listeners(s))
    if not families:
        return spec.passed("The AMI listens on this machine only (loopback).", facts)
    if not mgr.users:
        return spec.passed("The AMI listens on the network but defines no user, so nobody can log in.", facts)
    failures: list[Finding] = []
    unknown_acl: list[Finding] = []
    for user in mgr.users:
        named: list[list[AclRule]] = []
        for name, loc in user.acl_refs:
            acl = s.acl.named.get(name)
            if acl is None:
                # Asterisk: an ACL name that does not exist refuses every address.
                unknown_acl.append(Finding(f"AMI user {user.name} refers to ACL {name!r}, which acl.conf does not "
                                           "define (Asterisk then refuses every address)", *_at(loc)))
                named.append(deny_all(loc))
            else:
                named.append(acl.rules)
        addr = remote_login(user.rules, named, families)
        if addr is None:
            facts.append(Finding(f"AMI user {user.name} accepts logins from this machine only", *_at(user.loc)))
            continue
        steps = [f"the AMI listens on {', '.join(a for _, a, _ in ami_listeners(s))}"]
        if not user.restricted:
            steps.append(f"user {user.name} has no permit, deny or acl line, so every address may log in")
        else:
            steps += [f"{rule} ({rule.loc})" for rule in user.rules]
            steps += [f"acl={name} ({loc})" for name, loc in user.acl_refs]
            steps.append(f"an address such as {addr} passes these rules")
        failures.append(Finding(f"AMI user {user.name} accepts logins from other machines (for example {addr}); the "
                                "AMI sees and controls every call of the instance", *_at(user.loc), tuple(steps)))
    if failures:
        return spec.failed(f"{len(failures)} AMI user(s) can log in from the network, not only from this machine.",
                           failures + unknown_acl + facts)
    if unknown_acl and (gap := pbx.missing("acl.conf")) is not None:
        return spec.not_evaluated(f"Not evaluated: a named ACL is referenced but {gap}.", unknown_acl + facts)
    return spec.passed("The AMI listens on the network, but every user accepts logins from this machine only.",
                       unknown_acl + facts)


def deny_all(loc: Loc) -> list[AclRule]:
    """What an ACL name that does not exist amounts to: every address refused."""
    return [AclRule("deny", ipaddress.ip_network("0.0.0.0/0"), loc), AclRule("deny", ipaddress.ip_network("::/0"), loc)]


def wide_reasons(user: ManagerUser) -> list[str]:
    """Why an AMI user sees or acts on every tenant's calls (empty: it does not)."""
    reasons = []
    read = sorted(set(user.read) & set(WIDE_READ))
    if read and not user.include_filters():
        reasons.append(f"it reads the {', '.join(read)} event class(es) with no event filter")
    write = sorted(set(user.write) & set(WIDE_WRITE))
    if write:
        reasons.append(f"it may send {', '.join(write)} actions (any CLI command, e.g. listing every channel)")
    return reasons


@check("AMI-02", "No manager (AMI) user sees every tenant's calls", "medium", CHECKS)
def ami_wide_readers(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (why := pbx.missing("manager.conf")) is not None:
        return spec.not_evaluated(f"Not evaluated: {why}.")
    mgr = pbx.config.settings.manager
    if not mgr.enabled.value:
        return spec.passed("The AMI is disabled, so no AMI user sees any call.",
                           [Finding("AMI is disabled", *_at(mgr.enabled.loc))])
    wide = [(u, r) for u in mgr.users if (r := wide_reasons(u))]
    facts = [Finding(f"AMI user {u.name} sees every call of this instance: {'; '.join(r)}", *_at(u.read_loc or u.loc))
             for u, r in wide]
    facts += [Finding(f"AMI user {u.name} reads only selected events or classes", *_at(u.read_loc or u.loc))
              for u in mgr.users if not wide_reasons(u)]
    if pbx.inventory is None:
        return spec.not_evaluated(f"Not evaluated: {NO_INVENTORY}.", facts)
    if not pbx.multi_tenant:
        who = f"only {pbx.tenants[0]} has endpoints here" if pbx.tenants else "no endpoint maps to a tenant"
        return spec.passed(f"Instance-wide AMI users see one tenant only: {who}.", facts)
    if not wide:
        return spec.passed("No AMI user reads call events without filters or may run any command.", facts)
    names = _tenant_list(len(pbx.tenants))
    failures = [Finding(f"AMI user {u.name} sees the calls of {names} alike: {'; '.join(r)}", *_at(u.read_loc or u.loc),
                        tenants=tuple(pbx.tenants)) for u, r in wide]
    return spec.failed(f"{len(wide)} AMI user(s) see every tenant's calls on this shared instance.", failures)


@check("ARI-01", "The REST interface (ARI) is not reachable from the network nor instance-wide", "medium", CHECKS)
def ari(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (why := pbx.missing("ari.conf")) is not None:
        return spec.not_evaluated(f"Not evaluated: {why}.")
    http_conf = pbx.config.confs["http.conf"]
    if http_conf.present and (why := pbx.missing("http.conf")) is not None:
        return spec.not_evaluated(f"Not evaluated: {why}.")
    s = pbx.config.settings
    facts: list[Finding] = []
    if not s.ari.enabled.value:
        return spec.passed("ARI is disabled in ari.conf.", [Finding("ARI is disabled", *_at(s.ari.enabled.loc))])
    if not s.http.enabled.value:
        where = f" ({s.http.enabled.loc})" if s.http.enabled.loc else " (http.conf is absent: Asterisk's default)"
        return spec.passed(f"Asterisk's HTTP server, which carries ARI, is disabled{where}.",
                           [Finding("the HTTP server is disabled", *_at(s.http.enabled.loc))])
    loaded = s.module_loaded("res_ari.so")
    if loaded is False:
        return spec.passed("The ARI module (res_ari) is not loaded.",
                           [Finding("res_ari is not loaded", *_at(s.modules.why("res_ari.so")))])
    if not s.ari.users:
        return spec.passed("ARI is on but defines no user, so nobody can log in.")
    listeners = s.http.listeners()
    exposed = []
    for addr, loc in listeners:
        fam = bind_families(addr)
        facts.append(Finding(f"the HTTP server (ARI) listens on {addr}" + (" (this machine only)" if fam == () else ""),
                             *_at(loc)))
        if fam != ():
            exposed.append((addr, loc))
    users = ", ".join(u.name for u in s.ari.users)
    facts += [Finding(f"ARI user {u.name} ({'read only' if u.read_only.value else 'read and write'}) sees every "
                      "channel, endpoint and bridge of this instance", *_at(u.loc)) for u in s.ari.users]
    failures = [Finding(f"ARI (users: {users}) is reachable from other machines on {addr}; ARI has no per-user "
                        "address restriction, only a password", *_at(loc)) for addr, loc in exposed]
    if pbx.inventory is not None and pbx.multi_tenant:
        names = _tenant_list(len(pbx.tenants))
        failures += [Finding(f"ARI user {u.name} sees the channels and endpoints of {names} alike", *_at(u.loc),
                             tenants=tuple(pbx.tenants)) for u in s.ari.users]
    if failures:
        return spec.failed("ARI is reachable from the network or sees every tenant of this shared instance.",
                           failures + facts)
    if pbx.inventory is None:
        return spec.not_evaluated(f"Not evaluated: ARI listens on this machine only, but {NO_INVENTORY}.", facts)
    if loaded is None:
        facts.append(Finding("whether res_ari is loaded is unknown (modules.conf was not read); ARI was judged as "
                             "if it were"))
    return spec.passed("ARI listens on this machine only and this instance serves one tenant.", facts)
