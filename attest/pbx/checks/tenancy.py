"""A. Tenancy of the instance (INST-01…04) and whether the configuration was read whole (CFG-01)."""

from __future__ import annotations

import re

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import NO_INVENTORY, needs
from attest.pbx.facts import Pbx
from attest.pbx.patterns import example
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import ReadIssue

CHECKS: list[CheckSpec] = []


@check("CFG-01", "The configuration was read whole", "high", CHECKS)
def config_read(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    issues = [i for c in pbx.config.confs.values() for i in c.issues]
    issues += pbx.config.dialplan.issues + pbx.config.issues + list(pbx.config.settings.issues)
    plan = pbx.walker.plan
    for ctx in plan.contexts.values():
        for inc in ctx.includes:
            if inc.context not in plan.contexts:
                issues.append(ReadIssue("warning", f"[{ctx.name}] includes {inc.context}, which is not defined: "
                                                   "nothing is reached through it", inc.loc))
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


MAX_DRIFT = 20  # differences listed per kind


@check("CFG-02", "The running PBX matches its configuration files", "medium", CHECKS)
def running_matches(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    """What `asterisk -rx` shows against what the files say: endpoints or dialplan contexts that
    exist on one side only mean the files (all this analysis sees) do not tell how the PBX behaves."""
    cli = pbx.config.cli
    if cli.endpoints is None and cli.dialplan is None:
        errors = pbx.config.dump.cli_errors
        why = "; ".join(f"{errors[k]} ({k.replace('_', ' ')})" for k in ("pjsip_show_endpoints", "dialplan_show")
                        if k in errors) or "no `asterisk -rx` output was read"
        return spec.not_evaluated(f"Not evaluated: the running PBX could not be compared with its files: {why}.")
    findings: list[Finding] = []
    if cli.endpoints is not None:
        running = {e.name for e in cli.endpoints.endpoints if not e.truncated}
        files = {ep.name: ep for ep in pbx.config.endpoints if ep.tech == "PJSIP"}
        for name in sorted(running - set(files))[:MAX_DRIFT]:
            findings.append(Finding(f"endpoint PJSIP/{name} is running but defined in no configuration file read "
                                    "(realtime or a database?): its context and groups are unknown to this analysis"))
        for name in sorted(set(files) - running)[:MAX_DRIFT]:
            ep = files[name]
            findings.append(Finding(f"endpoint PJSIP/{name} is in the files but not running: the files were changed "
                                    "after the last reload, or Asterisk refused them", ep.loc.file, ep.loc.line))
    if cli.dialplan is not None:
        running_ctx = {c.name: c for c in cli.dialplan.contexts if c.registrar == "pbx_config"}
        file_ctx = pbx.config.dialplan.contexts
        for name in sorted(set(running_ctx) - set(file_ctx))[:MAX_DRIFT]:
            findings.append(Finding(f"dialplan context {name} is running but is in no configuration file read"))
        for name in sorted(set(file_ctx) - set(running_ctx))[:MAX_DRIFT]:
            ctx = file_ctx[name]
            findings.append(Finding(f"dialplan context {name} is in the files but not running", ctx.loc.file,
                                    ctx.loc.line))
        changed = 0
        for name in sorted(set(running_ctx) & set(file_ctx)):
            live = {e.name for e in running_ctx[name].extensions}
            written = {e.name for e in file_ctx[name].extensions.values()}
            if live != written:
                changed += 1
                if changed <= MAX_DRIFT:
                    ctx = file_ctx[name]
                    findings.append(Finding(
                        f"context {name} differs: {len(live - written)} extension(s) only running, "
                        f"{len(written - live)} only in the files", ctx.loc.file, ctx.loc.line))
    if findings:
        return spec.failed("The running PBX differs from its configuration files, so the files do not prove how "
                           "it behaves now.", findings)
    compared = [w for w, v in (("endpoints", cli.endpoints), ("dialplan", cli.dialplan)) if v is not None]
    return spec.passed(f"The running PBX's {' and '.join(compared)} match the configuration files.")


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
    inbound = _inbound_destinations(pbx)
    if inbound:
        groups["inbound-route destination context"] = inbound
    findings = [Finding(f"{len(values)} distinct {label}(s): {', '.join(sorted(values)[:10])}")
                for label, values in groups.items() if values]
    several = [label for label, values in groups.items() if len(values) > 1]
    if several:
        return spec.failed("The configuration is split by " + ", ".join(several) + ": a sign of several customers "
                           "(heuristic; an inventory settles it).", findings)
    return spec.passed("Nothing in the configuration suggests more than one customer (heuristic).", findings)


_DEVICE = re.compile(r"\b(?:PJSIP|SIP|IAX2)/([^,&()\s@/|-]+)")
MAX_ROUTES = 2000  # inbound numbers walked per trunk context


def _inbound_destinations(pbx: Pbx) -> set[str]:
    """The call contexts of the phones that inbound routes (the literal numbers of the trunks'
    contexts) ring: several of them hint at several customers behind the trunks."""
    names = {ep.name: ep for ep in pbx.user_endpoints}
    found: set[str] = set()
    for context in sorted({ep.context for ep in pbx.config.endpoints if ep.is_trunk}):
        for i, m in enumerate(pbx.closure(context).extensions()):
            if i >= MAX_ROUTES:
                break
            # a pattern route (a block of DIDs) is followed with one number it matches
            dialled = example(m.ext.name) if m.ext.is_pattern else m.ext.name
            for call in pbx.walker.walk(m.context, m.ext, dialled):
                tokens = set(_DEVICE.findall(call.args))
                if call.app in ("goto", "gosub", "macro"):
                    tokens |= {t.strip() for t in re.split(r"[,&|()]", call.args)}
                hit = [names[t].context for t in tokens if t in names]
                if hit:
                    found.update(hit)
                    break
    return found


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
