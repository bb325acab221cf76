"""I. Records: call detail records (CDR), channel event logs (CEL) and call recordings. A store
that receives every call of a shared instance holds every tenant's calls; an empty or shared
account code makes a per-tenant split of the records impossible.

Findings give counts of records per tenant, never numbers or account codes (an account code may be
a customer number)."""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from dataclasses import dataclass

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import NO_INVENTORY, needs
from attest.pbx.facts import Pbx, Start
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import Loc, split_args
from collectors.pbx.dump import CdrSample

CHECKS: list[CheckSpec] = []

CDR_FILES = ("cdr.conf", "modules.conf", "cdr_adaptive_odbc.conf")
MONITOR_SPOOL = "/var/spool/asterisk/monitor"
MAX_FINDINGS = 20  # per kind; the rest is summed up in one finding


def _at(loc: Loc | None) -> tuple[str | None, int | None]:
    return (loc.file, loc.line) if loc is not None else (None, None)


def _tenant_list(n: int) -> str:
    return ", ".join(f"{{t{i}}}" for i in range(n))


@dataclass
class Store:
    """A place every call record of the instance is written to (no tenant filter)."""

    label: str  # "Master.csv (/var/log/asterisk/cdr-csv/Master.csv)"
    loc: Loc | None
    loaded: bool | None  # the module writing it: loaded, not loaded, unknown (modules.conf absent)
    why: str  # how it was found


def _loaded_text(loaded: bool | None, module: str) -> str:
    if loaded is None:
        return f"if {module} is loaded (modules.conf was not read)"
    return f"{module} is loaded"


def cdr_stores(pbx: Pbx) -> list[Store]:
    """CDR stores that receive every call: Master.csv, unfiltered adaptive-ODBC tables, cdr_odbc,
    cdr_custom files. Stores whose module is known not to load, or CDRs disabled, are left out."""
    s = pbx.config.settings
    cdr = s.cdr
    if cdr.present and not cdr.enable.value:
        return []
    stores: list[Store] = []
    csv_loaded = s.module_loaded("cdr_csv.so")
    if cdr.csv_configured and csv_loaded is not False:
        stores.append(Store("Master.csv (/var/log/asterisk/cdr-csv/Master.csv)", cdr.csv_loc, csv_loaded,
                            f"cdr.conf has a [csv] section and {_loaded_text(csv_loaded, 'cdr_csv')}"))
    odbc_loaded = s.module_loaded("cdr_adaptive_odbc.so")
    if odbc_loaded is not False:
        for store in cdr.adaptive_odbc:
            if store.usable and not store.accountcode_filters():
                stores.append(Store(f"database table {store.label}", store.loc, odbc_loaded,
                                    f"[{store.name}] in cdr_adaptive_odbc.conf has no 'filter accountcode => …' "
                                    f"and {_loaded_text(odbc_loaded, 'cdr_adaptive_odbc')}"))
    plain_odbc = s.module_loaded("cdr_odbc.so")
    if cdr.odbc is not None and plain_odbc is not False:
        stores.append(Store(f"database table {cdr.odbc.label}", cdr.odbc.loc, plain_odbc,
                            f"cdr_odbc.conf names a database and {_loaded_text(plain_odbc, 'cdr_odbc')}"))
    custom_loaded = s.module_loaded("cdr_custom.so")
    if custom_loaded is not False:
        for mapping in cdr.custom:
            stores.append(Store(f"file {mapping.path}", mapping.loc, custom_loaded,
                                f"cdr_custom.conf maps it and {_loaded_text(custom_loaded, 'cdr_custom')}"))
    return stores


def _store_findings(stores: list[Store], what: str) -> list[Finding]:
    return [Finding(f"{st.label} receives {what} of this instance: {st.why}", *_at(st.loc)) for st in stores]


@dataclass
class SampleView:
    sample: CdrSample
    per_tenant: Counter[str]
    unattributed: int

    @property
    def usable(self) -> bool:
        return bool(self.sample.rows)


def _samples(pbx: Pbx) -> list[SampleView]:
    views = []
    for sample in pbx.config.dump.cdr:
        per_tenant: Counter[str] = Counter()
        unattributed = 0
        for row in sample.rows:
            owners = {t for ch in (row.channel, row.dstchannel) if ch and (t := pbx.tenant_of_channel(ch))}
            if not owners:
                unattributed += 1
            for t in owners:
                per_tenant[t] += 1
        views.append(SampleView(sample, per_tenant, unattributed))
    return views


def _sample_facts(views: list[SampleView], tenants_known: bool) -> list[Finding]:
    facts = []
    for v in views:
        if v.sample.error:
            facts.append(Finding(f"the call records of {v.sample.store} could not be fully read: {v.sample.error}",
                                 v.sample.store))
        if not v.sample.rows:
            continue
        text = f"sample of {v.sample.store}: {len(v.sample.rows)} record(s) read"
        if tenants_known and v.unattributed:
            text += f"; {v.unattributed} record(s) name no endpoint of a tenant (trunks, Local channels…)"
        facts.append(Finding(text, v.sample.store))
    return facts


def _mixed(view: SampleView) -> Finding | None:
    if len(view.per_tenant) < 2:
        return None
    tenants = tuple(t for t, _ in view.per_tenant.most_common())
    counts = ", ".join(f"{{t{i}}} ({view.per_tenant[t]} record(s))" for i, t in enumerate(tenants))
    return Finding(f"{view.sample.store} holds call records of {len(tenants)} tenants: {counts}", view.sample.store,
                   None, (f"the newest {len(view.sample.rows)} record(s) of {view.sample.store} were read",
                          "each record was attributed to a tenant by its calling and called device"), tenants)


@check("CDR-01", "Call records are not stored together with other tenants' records", "high", CHECKS)
def shared_cdr_store(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    views = _samples(pbx)
    has_sample = any(v.usable for v in views)
    present = [n for n in CDR_FILES if pbx.config.confs[n].present]
    if not has_sample and not present:
        why = "no call-record sample was read and none of " + ", ".join(CDR_FILES) + " is present"
        return spec.not_evaluated(f"Not evaluated: {why}.", _sample_facts(views, False))
    incomplete = pbx.missing(*present) if present else None
    stores = cdr_stores(pbx) if present else []
    facts = _store_findings(stores, "every call record") + _sample_facts(views, pbx.inventory is not None)
    if incomplete and not has_sample:
        return spec.not_evaluated(f"Not evaluated: {incomplete}.", facts)
    if pbx.inventory is None:
        return spec.not_evaluated(f"Not evaluated: {NO_INVENTORY}.", facts)
    mixed = [f for v in views if (f := _mixed(v)) is not None]
    if mixed:
        return spec.failed("Call records of several tenants are kept in one store: each tenant's records can be "
                           "read together with the others'.", mixed + facts)
    if not pbx.multi_tenant:
        who = f"only {pbx.tenants[0]} has endpoints here" if pbx.tenants else "no endpoint maps to a tenant"
        return spec.passed(f"One store for the whole instance is fine: {who}.", facts)
    names = _tenant_list(len(pbx.tenants))
    definite = [st for st in stores if st.loaded is True]
    if definite:
        failures = [Finding(f"{st.label} receives every call record of this instance, so records of {names} "
                            f"are kept together ({st.why})", *_at(st.loc), tenants=tuple(pbx.tenants))
                    for st in definite]
        return spec.failed(f"{len(pbx.tenants)} tenants share this instance and its call-record store(s) have no "
                           "tenant filter.", failures + facts)
    if incomplete:
        return spec.not_evaluated(f"Not evaluated: {incomplete}.", facts)
    if any(st.loaded is None for st in stores):
        return spec.not_evaluated("Not evaluated: a store without tenant filter is configured, but whether its "
                                  "module is loaded is unknown (modules.conf was not read).", facts)
    if not present:
        return spec.passed("The call-record sample holds records of one tenant only (the configuration of the "
                           "stores was not read).", facts)
    return spec.passed("No call-record store receives the calls of every tenant.", facts)


@check("CDR-02", "Call records carry a tenant key (account code)", "medium", CHECKS)
def tenant_key(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    views = _samples(pbx)
    has_sample = any(v.usable for v in views)
    if not has_sample and (gap := needs(pbx, spec)) is not None:
        return spec.not_evaluated(gap.summary.removesuffix(".") + " and no call-record sample was read.")
    facts = _sample_facts(views, pbx.inventory is not None)
    empty_rows = [(v, sum(1 for r in v.sample.rows if not r.accountcode.strip())) for v in views]
    for v, n in empty_rows:
        if n:
            facts.append(Finding(f"{n} of {len(v.sample.rows)} record(s) of {v.sample.store} have no account code",
                                 v.sample.store))
    user_eps = pbx.user_endpoints
    without = [ep for ep in user_eps if not ep.accountcode]
    if user_eps:
        facts.append(Finding(f"{len(without)} of {len(user_eps)} user endpoint(s) set no accountcode"))
    if pbx.inventory is None:
        return spec.not_evaluated(f"Not evaluated: {NO_INVENTORY}.", facts)
    if not pbx.multi_tenant:
        who = f"only {pbx.tenants[0]} has endpoints here" if pbx.tenants else "no endpoint maps to a tenant"
        return spec.passed(f"No split between tenants is needed: {who}.", facts)
    failures: list[Finding] = []
    for v, n in empty_rows:
        if n:
            failures.append(Finding(f"{n} call record(s) of {v.sample.store} have no account code, so they cannot "
                                    "be assigned to a tenant by account code", v.sample.store))
    # An account code used by two tenants (on endpoints, or on records attributed to them).
    owners: dict[str, dict[str, Loc | str]] = {}
    for ep in user_eps:
        t = pbx.tenant_of(ep)
        if t is not None and ep.accountcode:
            owners.setdefault(ep.accountcode, {}).setdefault(t, ep.loc)
    for v in views:
        for row in v.sample.rows:
            code = row.accountcode.strip()
            if not code:
                continue
            for ch in (row.channel, row.dstchannel):
                t = pbx.tenant_of_channel(ch) if ch else None
                if t is not None:
                    owners.setdefault(code, {}).setdefault(t, v.sample.store)
    for by_tenant in owners.values():
        if len(by_tenant) < 2:
            continue
        tenants = tuple(by_tenant)
        where = by_tenant[tenants[0]]
        file, line = (where.file, where.line) if isinstance(where, Loc) else (where, None)
        steps = tuple(f"used by {{t{i}}} at {w}" for i, w in enumerate(by_tenant.values()))
        failures.append(Finding(f"one account code is used by {_tenant_list(len(tenants))}, so their records cannot "
                                "be told apart by account code", file, line, steps, tenants))
    for tenant in pbx.tenants:
        missing = [ep for ep in pbx.endpoints_of.get(tenant, []) if not ep.accountcode]
        for ep in missing[:MAX_FINDINGS]:
            failures.append(Finding(f"endpoint {ep.channel} of {{t0}} sets no accountcode: its calls are recorded "
                                    "without a tenant key", ep.loc.file, ep.loc.line, tenants=(tenant,)))
        if len(missing) > MAX_FINDINGS:
            failures.append(Finding(f"… and {len(missing) - MAX_FINDINGS} more endpoint(s) of {{t0}} without "
                                    "accountcode", tenants=(tenant,)))
    if failures:
        return spec.failed("Call records of this shared instance cannot be split per tenant by account code.",
                           failures + facts)
    return spec.passed("Every tenant's endpoints set their own account code and no sampled record lacks one.",
                       facts)


# --- CEL and recordings -----------------------------------------------------------------------

_RECORDING_APPS = {"mixmonitor": 0, "monitor": 1}  # app -> index of the file-name argument
_DATE_VARS = re.compile(r"\$\{(YEAR|MONTH|DAY|HOUR|MINUTE|TIMESTR|FROMEXTEN|UNIQUEID|EPOCH|STRFTIME\([^}]*\))\}",
                        re.I)


def recording_folder(app: str, args: list[str]) -> str | None:
    """The folder a recording application writes into, or None when a variable that is not a
    date decides it (it might hold a tenant)."""
    index = _RECORDING_APPS[app]
    name = args[index].strip() if len(args) > index else ""
    folder = posixpath.dirname(name)
    folder = folder if folder.startswith("/") else posixpath.join(MONITOR_SPOOL, folder) if folder else MONITOR_SPOOL
    literal = _DATE_VARS.split(folder)[0]  # the part before the first date variable
    if "${" in literal or "$[" in literal:
        return None
    return posixpath.normpath(literal.rstrip("/")) or "/"


@check("CDR-03", "Channel events and recordings are not stored together with other tenants'", "medium", CHECKS)
def cel_and_recordings(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    s = pbx.config.settings
    cel = s.cel
    facts: list[Finding] = []
    cel_stores: list[Store] = []
    if cel.present and cel.enable.value:
        odbc = s.module_loaded("cel_odbc.so")
        if odbc is not False:
            cel_stores += [Store(f"database table {st.label}", st.loc, odbc,
                                 f"CEL is on ({cel.enable.loc}) and {_loaded_text(odbc, 'cel_odbc')}")
                           for st in cel.odbc if st.usable]
        custom = s.module_loaded("cel_custom.so")
        if custom is not False:
            cel_stores += [Store(f"file {m.path}", m.loc, custom,
                                 f"CEL is on ({cel.enable.loc}) and {_loaded_text(custom, 'cel_custom')}")
                           for m in cel.custom]
    elif cel.present:
        facts.append(Finding("channel event logging (CEL) is off", *_at(cel.enable.loc)))
    facts += _store_findings(cel_stores, "every channel event")
    # Recordings: which tenants reach a recording application, and which folder it writes into.
    recorders: dict[str | None, dict[str, Loc]] = {}  # folder -> tenant -> where
    if pbx.config.confs["extensions.conf"].complete:
        if pbx.inventory is None or not pbx.tenants:
            for ctx in pbx.config.dialplan.contexts.values():
                for ext in ctx.extensions.values():
                    for prio in ext.ordered():
                        if prio.app.lower() in _RECORDING_APPS:
                            folder = recording_folder(prio.app.lower(), prio.arg_list())
                            facts.append(Finding(f"{prio.app} records calls into "
                                                 f"{folder or 'a folder chosen at run time'}",
                                                 prio.loc.file, prio.loc.line))
                            break
        else:
            starts: dict[str | None, list[Start]] = {}  # pbx.starts_of(tenant) for every tenant, in one pass
            for st in pbx.starts:
                if st.purpose in ("call", "overlap"):
                    starts.setdefault(st.tenant, []).append(st)
            for tenant in pbx.tenants:
                for start in starts.get(tenant, []):
                    for reached in pbx.reached(start.context, *_RECORDING_APPS):
                        call = reached.call
                        folder = recording_folder(call.app, split_args(call.args) if call.args else [])
                        recorders.setdefault(folder, {}).setdefault(tenant, call.loc)
    facts = facts[:MAX_FINDINGS * 2]
    if pbx.inventory is None:
        return spec.not_evaluated(f"Not evaluated: {NO_INVENTORY}.", facts)
    failures: list[Finding] = []
    if pbx.multi_tenant:
        names = _tenant_list(len(pbx.tenants))
        failures += [Finding(f"{st.label} receives every channel event of this instance, so events of {names} are "
                             f"kept together ({st.why})", *_at(st.loc), tenants=tuple(pbx.tenants))
                     for st in cel_stores if st.loaded is True]
    for folder, by_tenant in recorders.items():
        if folder is None:
            for tenant, loc in by_tenant.items():
                facts.append(Finding("calls of {t0} are recorded into a folder chosen at run time (by a variable); "
                                     "whether it is the tenant's own is not known", loc.file, loc.line,
                                     tenants=(tenant,)))
            continue
        if len(by_tenant) < 2:
            continue
        tenants = tuple(by_tenant)
        first = by_tenant[tenants[0]]
        failures.append(Finding(
            f"calls of {_tenant_list(len(tenants))} are recorded into the same folder {folder}", first.file,
            first.line, tuple(f"{{t{i}}} reaches a recording application at {loc}"
                              for i, loc in enumerate(by_tenant.values())), tenants))
    if failures:
        return spec.failed("Channel events or call recordings of several tenants are kept in one place.",
                           failures + facts)
    gaps = [why for name in ("cel.conf", "extensions.conf") if (why := pbx.missing(name)) is not None]
    if pbx.multi_tenant and any(st.loaded is None for st in cel_stores):
        gaps.append("whether the CEL modules are loaded is unknown (modules.conf was not read)")
    if gaps:
        return spec.not_evaluated(f"Not evaluated: {'; '.join(gaps)}.", facts)
    if not pbx.multi_tenant:
        who = f"only {pbx.tenants[0]} has endpoints here" if pbx.tenants else "no endpoint maps to a tenant"
        return spec.passed(f"One store for the whole instance is fine: {who}.", facts)
    return spec.passed("No channel-event store or recording folder is shared by several tenants.", facts)
