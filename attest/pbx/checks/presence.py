"""E. Presence/BLF: can a tenant's phones subscribe to another tenant's hints (HINT-01), and does the
running PBX show watchers on such hints (HINT-02)."""

from __future__ import annotations

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import needs, one_per_pair, verdict
from attest.pbx.checks.steps import chain_steps, start_step
from attest.pbx.facts import Pbx
from attest.pbx.patterns import matches
from attest.pbx.reach import Match, substitute
from attest.pbx.result import CheckResult, Finding

CHECKS: list[CheckSpec] = []


def _hint_owner(pbx: Pbx, exten: str, devices: tuple[str, ...]) -> tuple[str, str] | None:
    for device in devices:
        owner = pbx.tenant_of_channel(device) if "/" in device else None
        if owner:
            return owner, device
    if pbx.inventory is not None:
        owner = pbx.inventory.tenant_of_extension(exten)
        if owner:
            return owner, f"extension {exten}"
    return None


def _owned_hints(pbx: Pbx, context: str) -> list[tuple[Match, str, str]]:
    """(hint, owning tenant, what) for every hint of a tenant reachable from *context*."""
    cache: dict[str, list[tuple[Match, str, str]]] = pbx.__dict__.setdefault("_owned_hints", {})
    if context not in cache:
        found = []
        for m in pbx.closure(context).hints:
            assert m.ext.hint is not None
            if m.ext.is_pattern:
                # A pattern hint becomes a hint for each extension subscribed to that it matches,
                # with ${EXTEN} in its devices filled in: one per tenant is enough to show it.
                seen: set[str] = set()
                for tenant in pbx.tenants:
                    for number in pbx.numbers_of(tenant):
                        if tenant not in seen and matches(m.ext.name, number):
                            devices = tuple(substitute(d, {"EXTEN": number}) for d in m.ext.hint.devices)
                            owner = _hint_owner(pbx, number, devices)
                            if owner is not None:
                                found.append((m, owner[0], owner[1]))
                                seen.add(tenant)
                continue
            owner = _hint_owner(pbx, m.ext.name, m.ext.hint.devices)
            if owner is not None:
                found.append((m, owner[0], owner[1]))
        cache[context] = found
    return cache[context]


def cross_hints(pbx: Pbx, every_hint: bool = False) -> list[Finding]:
    """Findings where a tenant can watch a hint showing another tenant's devices: the first per
    (watcher, owner) pair, or one per (watcher, hint) with *every_hint*."""
    findings = []
    pairs: set[tuple[str, str]] = set()
    for start in pbx.starts:
        if start.purpose != "subscribe" or start.tenant is None:
            continue
        for m, owner, what in _owned_hints(pbx, start.context):
            if owner == start.tenant or (not every_hint and (start.tenant, owner) in pairs):
                continue
            pairs.add((start.tenant, owner))
            hint = m.ext.hint
            assert hint is not None
            steps = (start_step(start), *chain_steps(start.context, m.chain),
                     f"hint {m.ext.name}@{m.context} watches {'&'.join(hint.devices)} ({hint.loc})",
                     f"{what} belongs to {{t1}}")
            findings.append(Finding(f"{{t0}}'s phones can watch the state of {{t1}}'s {what} (hint "
                                    f"{m.ext.name}@{m.context})", hint.loc.file, hint.loc.line, steps,
                                    (start.tenant, owner)))
    return findings


@check("HINT-01", "No tenant can watch another tenant's phones (BLF/presence)", "medium", CHECKS)
def hints(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    facts = []
    if pbx.inventory is None:
        for start in pbx.starts:
            if start.purpose == "subscribe":
                n = len(pbx.closure(start.context).hints)
                if n:
                    facts.append(Finding(f"{n} hint(s) can be watched from subscribe context {start.context}"))
    return verdict(pbx, spec, one_per_pair(cross_hints(pbx)), facts,
                   "A tenant's phones can see when another tenant's phones ring or are busy.",
                   "No tenant can subscribe to another tenant's hints.")


@check("HINT-02", "No watchers on cross-tenant hints", "medium", CHECKS)
def watchers(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    cli = pbx.config.cli.hints
    if cli is None:
        why = pbx.config.dump.cli_errors.get("core_show_hints", "no 'core show hints' output was read")
        return spec.not_evaluated(f"Not evaluated: the running PBX's hints are unknown ({why}).")
    if (gap := needs(pbx, spec, "extensions.conf")) is not None:
        return gap
    exposed = {(f.file, f.line): f for f in cross_hints(pbx, every_hint=True)}
    by_name = {}
    for f in exposed.values():
        hint_text = f.template.split("(hint ", 1)[1].rstrip(")")
        by_name[hint_text] = f
    failures, facts = [], []
    for h in cli.hints:
        key = f"{h.exten}@{h.context}"
        if h.watchers and key in by_name:
            f = by_name[key]
            failures.append(Finding(f"hint {key} of {{t1}} had {h.watchers} watcher(s) when read; {{t0}} may be one",
                                    f.file, f.line, f.path, f.tenants))
        elif h.watchers:
            facts.append(Finding(f"hint {key}: {h.watchers} watcher(s)"))
    if pbx.inventory is None:
        return spec.not_evaluated("Not evaluated: no tenant inventory was given.", facts)
    if failures:
        return spec.failed("Hints that another tenant can watch have active watchers.", one_per_pair(failures))
    return spec.passed(f"{len(cli.hints)} hint(s) read from the running PBX; none exposed to another tenant "
                       "has watchers.", facts)
