"""F. Voicemail and directory: shared voicemail contexts (VM-01), open VoiceMailMain logins
(VM-02), a dial-by-name directory spanning tenants (VM-03)."""

from __future__ import annotations

from attest.pbx.checks import CheckSpec, check
from attest.pbx.checks.common import needs, one_per_pair, verdict
from attest.pbx.checks.steps import actors, path_to_call
from attest.pbx.facts import Pbx
from attest.pbx.reach import caller_controlled
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.conf import Loc, split_args

CHECKS: list[CheckSpec] = []


def _owners(pbx: Pbx, context: str) -> dict[str, tuple[str, Loc]]:
    """tenant -> (an example mailbox, where) for the mailboxes of a voicemail context."""
    cache: dict[str, dict[str, tuple[str, Loc]]] = pbx.__dict__.setdefault("_vm_owners", {})
    if context in cache:
        return cache[context]
    found: dict[str, tuple[str, Loc]] = cache.setdefault(context, {})
    ctx = pbx.config.settings.voicemail.contexts.get(context)
    if ctx is None or pbx.inventory is None:
        return found
    for box, loc in ctx.mailboxes.items():
        owner = pbx.inventory.tenant_of_extension(box)
        if owner:
            found.setdefault(owner, (box, loc))
    return found


@check("VM-01", "Voicemail contexts are not shared between tenants", "medium", CHECKS)
def shared_voicemail(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "voicemail.conf", endpoints=False)) is not None:
        return gap
    failures, facts = [], []
    for name, ctx in pbx.config.settings.voicemail.contexts.items():
        facts.append(Finding(f"voicemail context {name} holds {len(ctx.mailboxes)} mailbox(es)", ctx.loc.file,
                             ctx.loc.line))
        owners = _owners(pbx, name)
        tenants = list(owners)
        for other in tenants[1:]:
            box, loc = owners[tenants[0]]
            box2, loc2 = owners[other]
            failures.append(Finding(f"voicemail context {name} holds mailboxes of {{t0}} and {{t1}}", loc.file,
                                    loc.line, (f"mailbox {box}@{name} of {{t0}} ({loc})",
                                               f"mailbox {box2}@{name} of {{t1}} ({loc2})"), (tenants[0], other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "Mailboxes of different tenants live in one voicemail context.",
                   "Each voicemail context holds one tenant's mailboxes.")


def _vm_context(arg: str) -> tuple[str, str]:
    """VoiceMailMain's first argument -> (mailbox, context); an unresolved context means
    `default`, where FreePBX keeps every mailbox."""
    first = arg.split("&", 1)[0]
    box, _, context = first.partition("@")
    if not context or "${" in context:
        context = "default"
    return box.strip(), context.strip()


@check("VM-02", "Voicemail logins cannot reach another tenant's mailboxes", "medium", CHECKS)
def open_login(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf", "voicemail.conf")) is not None:
        return gap
    vm = pbx.config.settings.voicemail
    failures, facts = [], []
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap"):
            continue
        for r in pbx.reached(start.context, "voicemailmain"):
            call = r.call
            box, context = _vm_context((split_args(call.args) or [""])[0])
            open_box = not box or caller_controlled(box)
            steps = path_to_call(start, r.match, call)
            if not open_box:
                # a fixed mailbox: fine when it is the caller's own, a leak when it is another tenant's
                options = split_args(call.args)[1] if len(split_args(call.args)) > 1 else ""
                owner = pbx.inventory.tenant_of_extension(box) if pbx.inventory and "${" not in box else None
                in_context = box in getattr(vm.contexts.get(context), "mailboxes", {})
                if start.tenant is not None and owner is not None and owner != start.tenant and in_context:
                    pin = " without a PIN (option s)" if "s" in options else ""
                    failures.append(Finding(
                        f"{{t0}} can open {{t1}}'s mailbox {box}@{context}{pin}", call.loc.file, call.loc.line,
                        (*steps, f"mailbox {box}@{context} belongs to {{t1}}"), (start.tenant, owner)))
                continue
            facts.append(Finding(f"VoiceMailMain({call.args}) asks the caller which mailbox of context {context} "
                                 "to open", call.loc.file, call.loc.line, steps,
                                 actors(start)))
            if start.tenant is None:
                continue
            searched = list(vm.contexts) if vm.searchcontexts else [context]
            for other in pbx.tenants:
                if other == start.tenant:
                    continue
                hit = next(((c, _owners(pbx, c)[other]) for c in searched if other in _owners(pbx, c)), None)
                if hit:
                    ctx_name, (box2, loc2) = hit
                    extra = " (searchcontexts=yes searches every context)" if vm.searchcontexts else ""
                    failures.append(Finding(
                        f"{{t0}} can try to log in to {{t1}}'s mailboxes (e.g. {box2}@{ctx_name}){extra}; only the "
                        "PIN stands in the way", call.loc.file, call.loc.line,
                        (*steps, f"mailbox {box2}@{ctx_name} belongs to {{t1}} ({loc2})"), (start.tenant, other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "A tenant's phones can ask for another tenant's mailbox at the voicemail login.",
                   "No voicemail login offers another tenant's mailboxes.")


@check("VM-03", "The dial-by-name directory does not list other tenants", "low", CHECKS)
def directory(pbx: Pbx, spec: CheckSpec) -> CheckResult:
    if (gap := needs(pbx, spec, "extensions.conf", "voicemail.conf")) is not None:
        return gap
    failures, facts = [], []
    for start in pbx.starts:
        if start.purpose not in ("call", "overlap"):
            continue
        for r in pbx.reached(start.context, "directory"):
            call = r.call
            args = split_args(call.args) if call.args else [""]
            context = args[0].strip() if args[0].strip() and "${" not in args[0] else "default"
            steps = path_to_call(start, r.match, call)
            facts.append(Finding(f"Directory lists the names in voicemail context {context}", call.loc.file,
                                 call.loc.line, steps, actors(start)))
            if start.tenant is None:
                continue
            for other, (box, loc) in _owners(pbx, context).items():
                if other != start.tenant:
                    failures.append(Finding(f"{{t0}}'s directory lists {{t1}}'s people (context {context})",
                                            call.loc.file, call.loc.line,
                                            (*steps, f"mailbox {box}@{context} of {{t1}} ({loc})"),
                                            (start.tenant, other)))
    return verdict(pbx, spec, one_per_pair(failures), facts,
                   "A tenant's directory lists another tenant's people.",
                   "No reachable directory lists another tenant's people.")
