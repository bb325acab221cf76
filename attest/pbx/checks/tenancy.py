"""A. Tenancy of the instance (INST-01…04) and whether the configuration was read whole (CFG-01)."""

from __future__ import annotations

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import NO_INVENTORY, needs
from attest.pbx.facts import Pbx
from attest.pbx.result import CheckResult, Finding

CHECKS: list[CheckSpec] = []


@check("CFG-01", "The configuration was read whole", "high", CHECKS)
def config_read(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    issues = [i for c in pbx.config.confs.values() for i in c.issues]
    issues += pbx.config.dialplan.issues + pbx.config.issues
    errors = [i for i in issues if i.severity == "error"]
    findings = [Finding(i.message, i.loc.file if i.loc else None, i.loc.line if i.loc else None)
                for i in sorted(issues, key=lambda i: (i.severity != "error", str(i.loc)))]
    findings += [Finding(f"access: {note}") for note in pbx.config.dump.notes]
    if not any(c.present for c in pbx.config.confs.values()):
        return spec.failed("No Asterisk configuration file was found (extensions.conf, pjsip.conf, …).", findings)
    if errors:
        return spec.failed(f"{len(errors)} part(s) of the configuration could not be read or would be refused by "
                           "Asterisk; checks that need them are not evaluated.", findings)
    return spec.passed(f"{sum(len(c.files) for c in pbx.config.confs.values())} file(s) read"
                       + (f", {len(findings)} warning(s)" if findings else "") + ".", findings)


@check("INST-01", "The instance serves a single tenant", "critical", CHECKS)
def single_tenant(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec)) is not None:
        return gap
    n = len(pbx.user_endpoints)
    if pbx.inventory is None:
        return spec.not_evaluated(f"Not evaluated: {NO_INVENTORY} ({n} user endpoint(s) found).")
    findings = []
    for tenant, eps in pbx.endpoints_of.items():
        ep = eps[0]
        why = pbx.endpoint_tenants[ep.channel][1]
        findings.append(Finding(f"{len(eps)} endpoint(s) belong to {{t0}}, e.g. {ep.channel} ({why})",
                                ep.loc.file, ep.loc.line, tenants=(tenant,)))
    if len(pbx.tenants) > 1:
        multi = [Finding(f.template + "; the instance also serves " + ", ".join(
            "{t" + str(i + 1) + "}" for i in range(len(pbx.tenants) - 1)), f.file, f.line,
            tenants=(f.tenants[0], *[t for t in pbx.tenants if t != f.tenants[0]])) for f in findings]
        return spec.failed(f"Endpoints of {len(pbx.tenants)} tenants share this instance: it is not dedicated.", multi)
    if not pbx.tenants:
        return spec.failed("No endpoint of this instance belongs to a tenant of the inventory.", findings)
    return spec.passed(f"All mapped endpoints belong to one tenant ({pbx.tenants[0]}).", findings)


@check("INST-02", "Every endpoint is in the inventory", "medium", CHECKS)
def unmapped(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec)) is not None:
        return gap
    if pbx.inventory is None:
        return spec.not_evaluated(f"Not evaluated: {NO_INVENTORY}.")
    loose = [ep for ep in pbx.user_endpoints if ep.channel not in pbx.endpoint_tenants]
    findings = [Finding(f"endpoint {ep.channel} is in no tenant's inventory", ep.loc.file, ep.loc.line)
                for ep in loose]
    trunks = [ep for ep in pbx.config.endpoints if ep.is_trunk and ep.channel not in pbx.endpoint_tenants]
    facts = [Finding(f"{ep.channel} is treated as a trunk: {ep.trunk_reason}", ep.loc.file, ep.loc.line)
             for ep in trunks]
    if loose:
        return spec.failed(f"{len(loose)} endpoint(s) belong to no tenant of the inventory: whose phones they are is "
                           "unknown.", findings + facts)
    return spec.passed("Every user endpoint belongs to a tenant of the inventory.", facts)


@check("INST-03", "Tenant hints without an inventory", "info", CHECKS)
def tenant_hints(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec)) is not None:
        return gap
    eps = pbx.user_endpoints
    groups = {
        "accountcode": {ep.accountcode for ep in eps if ep.accountcode},
        "call context": {ep.context for ep in eps},
        "voicemail context": {m.partition("@")[2] or "default" for ep in eps for m in ep.mailboxes},
    }
    vm = pbx.config.settings.voicemail
    with_boxes = {name for name, ctx in vm.contexts.items() if ctx.mailboxes}
    if with_boxes:
        groups["voicemail.conf context"] = with_boxes
    findings = [Finding(f"{len(values)} distinct {label}(s): {', '.join(sorted(values)[:10])}")
                for label, values in groups.items() if values]
    several = [label for label, values in groups.items() if len(values) > 1]
    if several:
        return spec.failed("The configuration is split by " + ", ".join(several) + ": a sign of several customers "
                           "(heuristic; an inventory settles it).", findings)
    return spec.passed("Nothing in the configuration suggests more than one customer (heuristic).", findings)


@check("INST-04", "The instance identifies itself", "info", CHECKS)
def identity(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    dump = pbx.config.dump
    facts = [Finding(f"{key}: {value}") for key, value in sorted(dump.identity.items())]
    if pbx.config.cli.version:
        facts.append(Finding(f"Asterisk version (core show version): {pbx.config.cli.version}"))
    glob = pbx.config.pjsip.global_section
    ua = glob.option("user_agent") if glob is not None else None
    if ua is not None:
        facts.append(Finding(f"PJSIP user agent: {ua.value}", ua.loc.file, ua.loc.line))
    facts.append(Finding(f"read from {dump.origin}"))
    if len(facts) == 1:
        return spec.failed("Nothing identifies this instance (no freepbx-id, host name, version or user agent).",
                           facts)
    return spec.passed("The instance is identified.", facts)
