"""The analysed PBX as checks see it: the configuration read from the dump, the tenant inventory
(if any), which tenant each endpoint belongs to, and the dialplan reachability engine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import NamedTuple

from attest.pbx.inventory import Inventory
from attest.pbx.patterns import literal_prefix, matches
from attest.pbx.reach import Call, Closure, Match, Walker
from collectors.pbx.conf import Loc, split_args
from collectors.pbx.dialplan import Context, Dialplan, Extension, Priority
from collectors.pbx.endpoints import Endpoint
from collectors.pbx.reader import PbxConfig
from collectors.pbx.settings import ParkingLot

# What a check needs, in the words of the files a reader can look for.
ENDPOINT_FILES = ("pjsip.conf", "pjsip_wizard.conf", "sip.conf", "iax.conf")


class Start(NamedTuple):
    """A context that requests from some tenant's endpoints start in, with one endpoint as example."""

    tenant: str | None
    purpose: str  # "call", "overlap", "subscribe", "message"
    context: str
    endpoint: Endpoint


class Reached(NamedTuple):
    match: Match
    call: Call


# A device in a dial string or argument: PJSIP/20, SIP/20, IAX2/x, Local/20@ctx (PJSIP/user@trunk
# names the endpoint after the @).
_DEVICE = re.compile(r"\b(PJSIP|SIP|IAX2|IAX|Local)/([^,&()\s@/|]+)(?:@([^,&()\s/|]+))?", re.IGNORECASE)
# Applications that may carry an extension number to ring as a plain argument (FreePBX's
# Macro(exten-vm,…,20), the sample's Gosub(stdexten,…)).
NUMBER_CARRIERS = ("macro", "gosub", "gosubif", "goto", "gotoif", "queue", "voicemail")


def _slots(parkpos: str) -> list[str]:
    lo, _, hi = parkpos.partition("-")
    if not lo.strip().isdigit() or not (hi or lo).strip().isdigit():
        return []
    a, b = int(lo), int(hi or lo)
    return [str(n) for n in range(a, min(b, a + 500) + 1)]


def with_parking(plan: Dialplan, lots: list[ParkingLot]) -> Dialplan:
    """The dialplan as it runs: res_parking adds each lot's park extension (Park) and slot
    extensions (ParkedCall) to the lot's context, creating the context if the files do not."""
    if not lots:
        return plan
    contexts = dict(plan.contexts)
    for lot in lots:
        loc = lot.loc or Loc("res_parking.conf", 0)
        base = contexts.get(lot.context)
        ctx = Context(lot.context, base.loc if base else loc, dict(base.extensions) if base else {},
                      list(base.includes) if base else [], list(base.switches) if base else [],
                      list(base.ignorepats) if base else [])
        contexts[lot.context] = ctx
        made = [(lot.parkext, "Park", lot.name)] if lot.parkext else []
        made += [(slot, "ParkedCall", f"{lot.name},{slot}") for slot in (_slots(lot.parkpos) if lot.parkext else [])]
        for name, app, args in made:
            if name not in ctx.extensions:
                ext = Extension(name=name, cid=None, loc=loc)
                ext.priorities[1] = Priority(1, None, app, args, loc)
                ctx.extensions[name] = ext
    return Dialplan(contexts=contexts, globals=plan.globals, general=plan.general, issues=plan.issues)


class Pbx:
    def __init__(self, config: PbxConfig, inventory: Inventory | None) -> None:
        self.config = config
        self.inventory = inventory

    @property
    def instance(self) -> str:
        return self.config.dump.instance

    # --- tenants ----------------------------------------------------------------------------

    @cached_property
    def endpoint_tenants(self) -> dict[str, tuple[str, str]]:
        """channel ("PJSIP/10") -> (tenant, why), for the endpoints the inventory maps."""
        found: dict[str, tuple[str, str]] = {}
        if self.inventory is None:
            return found
        for ep in self.config.endpoints:
            owner = self.inventory.tenant_of_endpoint(ep)
            if owner is not None:
                found[ep.channel] = owner
        return found

    def tenant_of(self, ep: Endpoint) -> str | None:
        owner = self.endpoint_tenants.get(ep.channel)
        return owner[0] if owner else None

    @cached_property
    def endpoints_by_channel(self) -> dict[str, Endpoint]:
        return {ep.channel: ep for ep in self.config.endpoints}

    def endpoint(self, channel: str) -> Endpoint | None:
        """The endpoint a channel or dial string names: "PJSIP/10", "PJSIP/10-0000002a", "SIP/10"."""
        tech, _, rest = channel.partition("/")
        tech = tech.upper()
        if tech == "IAX":
            tech = "IAX2"
        name = rest.split("@", 1)[0]
        ep = self.endpoints_by_channel.get(f"{tech}/{name}")
        if ep is None and "-" in name:
            ep = self.endpoints_by_channel.get(f"{tech}/{name.rsplit('-', 1)[0]}")
        return ep

    def tenant_of_channel(self, channel: str) -> str | None:
        ep = self.endpoint(channel)
        return self.tenant_of(ep) if ep is not None else None

    @cached_property
    def user_endpoints(self) -> list[Endpoint]:
        """Endpoints phones register as: not trunks (an endpoint the inventory maps is never a trunk)."""
        return [ep for ep in self.config.endpoints if not ep.is_trunk or ep.channel in self.endpoint_tenants]

    @cached_property
    def tenants(self) -> list[str]:
        """Tenants of the inventory with at least one endpoint on this instance, in inventory order."""
        present = {t for t, _ in self.endpoint_tenants.values()}
        if self.inventory is None:
            return []
        return [t for t in self.inventory.tenants if t in present]

    @cached_property
    def endpoints_of(self) -> dict[str, list[Endpoint]]:
        found: dict[str, list[Endpoint]] = {t: [] for t in self.tenants}
        for ep in self.config.endpoints:
            t = self.tenant_of(ep)
            if t is not None:
                found[t].append(ep)
        return found

    @property
    def multi_tenant(self) -> bool:
        return len(self.tenants) > 1

    # --- what a check can rely on -----------------------------------------------------------

    def missing(self, *files: str, any_of: tuple[str, ...] = ()) -> str | None:
        """Why a check cannot be evaluated: a needed file is absent or not completely known.
        *files* are all needed; of *any_of* at least one must be present (e.g. endpoint files)."""
        problems = []
        for name in files:
            conf = self.config.confs[name]
            if not conf.present:
                problems.append(f"{name} is absent")
            elif not conf.complete:
                first = conf.blocking_issues()[0]
                problems.append(f"{name} is not completely known ({first})")
        if any_of:
            present = [self.config.confs[n] for n in any_of if self.config.confs[n].present]
            if not present:
                problems.append(f"none of {', '.join(any_of)} is present")
            for conf in present:
                if not conf.complete:
                    problems.append(f"{conf.name} is not completely known ({conf.blocking_issues()[0]})")
        return "; ".join(problems) or None

    def missing_endpoints(self) -> str | None:
        return self.missing(any_of=ENDPOINT_FILES)


    # --- dialplan reachability ---------------------------------------------------------------

    @cached_property
    def walker(self) -> Walker:
        return Walker(with_parking(self.config.dialplan, self.config.settings.parking.lots))

    def closure(self, context: str) -> Closure:
        return self.walker.closure(context)

    @cached_property
    def starts(self) -> list[Start]:
        """Every (tenant, purpose, context) requests start in, one example endpoint each."""
        seen: dict[tuple[str | None, str, str], Start] = {}
        for ep in self.user_endpoints:
            tenant = self.tenant_of(ep)
            for purpose, context in ep.start_contexts().items():
                seen.setdefault((tenant, purpose, context), Start(tenant, purpose, context, ep))
        return list(seen.values())

    def starts_of(self, tenant: str, purposes: tuple[str, ...] = ("call", "overlap")) -> list[Start]:
        return [s for s in self.starts if s.tenant == tenant and s.purpose in purposes]

    def calls_from(self, context: str) -> list[Reached]:
        """Every application call reachable from *context* by dialling anything. Patterns are
        walked first and without a dialled value, so `${EXTEN}` stays visible where the caller
        chooses it; each priority is run once across the closure (see `Walker.walk`)."""
        cache: dict[str, list[Reached]] = self.__dict__.setdefault("_calls_from", {})
        found = cache.get(context)
        if found is None:
            found = []
            seen: set[tuple[str, str, int, str]] = set()
            closure = self.closure(context)
            exts = sorted(closure.extensions(), key=lambda m: not m.ext.is_pattern)
            for m in exts:
                dialled = None if m.ext.is_pattern else m.ext.name
                if dialled is not None and closure.match(dialled) != m:
                    continue  # shadowed: dialling it runs an earlier context's extension instead
                found.extend(Reached(m, c) for c in self.walker.walk(m.context, m.ext, dialled, seen=seen))
            cache[context] = found
        return found

    def reached(self, context: str, *apps: str) -> list[Reached]:
        """The calls of `calls_from(context)` to any of *apps* (lower case)."""
        index: dict[str, dict[str, list[Reached]]] = self.__dict__.setdefault("_reached", {})
        by_app = index.get(context)
        if by_app is None:
            by_app = index[context] = {}
            for r in self.calls_from(context):
                by_app.setdefault(r.call.app, []).append(r)
        return [r for app in apps for r in by_app.get(app, [])]

    def ringing_calls(self, number: str) -> list[Call]:
        """The calls of every extension literally named *number*, in any context: what runs when
        a call for it arrives, wherever from (another phone, a trunk's inbound route…)."""
        cache: dict[str, list[Call]] = self.__dict__.setdefault("_ringing", {})
        if number not in cache:
            if not self.__dict__.get("_literal_index"):
                index: dict[str, list[tuple[str, Extension]]] = {}
                for ctx in self.walker.plan.contexts.values():
                    for ext in ctx.extensions.values():
                        if not ext.is_pattern and 1 in ext.priorities:
                            index.setdefault(ext.name, []).append((ctx.name, ext))
                self.__dict__["_literal_index"] = index
            calls: list[Call] = []
            for context, ext in self.__dict__["_literal_index"].get(number, []):
                calls.extend(self.walker.walk(context, ext, number))
            cache[number] = calls
        return cache[number]

    def walk_dialled(self, context: str, dialled: str) -> tuple[Match, Iterator[Call]] | None:
        """Like `dial`, lazily: the caller stops walking once it has seen enough."""
        m = self.closure(context).match(dialled)
        if m is None:
            return None
        return m, self.walker.walk(m.context, m.ext, dialled)

    def dial(self, context: str, dialled: str) -> tuple[Match, list[Call]] | None:
        """What dialling *dialled* from *context* runs: the matched extension and its calls."""
        m = self.closure(context).match(dialled)
        if m is None:
            return None
        return m, list(self.walker.walk(m.context, m.ext, dialled))

    # --- whose is it ------------------------------------------------------------------------

    def device_tenants(self, text: str) -> list[tuple[str, str]]:
        """(tenant, device) for every device named in *text* that belongs to a tenant."""
        found = []
        for m in _DEVICE.finditer(text):
            tech, name, at = m.group(1).upper(), m.group(2), m.group(3)
            if tech == "LOCAL":
                owner = self.inventory.tenant_of_extension(name) if self.inventory else None
                if owner:
                    found.append((owner, m.group(0)))
                continue
            channel = f"{tech}/{at}" if at and tech in ("PJSIP",) else f"{tech}/{name}"
            owner = self.tenant_of_channel(channel)
            if owner:
                found.append((owner, channel))
        return found

    def call_targets(self, call: Call, carriers: tuple[str, ...] = NUMBER_CARRIERS) -> list[tuple[str, str]]:
        """(tenant, what) this call reaches: devices it names, extension numbers handed to the
        macros/subroutines that ring them (applications in *carriers*; add "set" where a variable
        carries the target, as FreePBX's intercom does), and contexts owned by one tenant."""
        found = self.device_tenants(call.args)
        if call.app in ("queue", "followme"):
            found += self._group_targets(call)
        if self.inventory is not None and call.app in carriers:
            for token in re.split(r"[,&|()=]", call.args):
                owner = self.inventory.tenant_of_extension(token.strip())
                if owner:
                    found.append((owner, f"extension {token.strip()}"))
        owner = self.context_owner.get(call.context)
        if owner:
            found.append((owner, f"context {call.context}"))
        return found

    def _group_targets(self, call: Call) -> list[tuple[str, str]]:
        """Queue(name) rings the queue's members (queues.conf `member =>`); FollowMe(name) rings
        its numbers in its context (followme.conf `number =>`, `context =>`)."""
        name = (split_args(call.args) or [""])[0].strip()
        found: list[tuple[str, str]] = []
        if call.app == "queue":
            for section in self.config.confs["queues.conf"].named(name):
                for opt in section.get_all("member"):
                    device = opt.value.split(",", 1)[0].strip()
                    found += [(owner, f"{what} (a member of queue {name})")
                              for owner, what in self.device_tenants(device)]
        elif self.inventory is not None:
            for section in self.config.confs["followme.conf"].named(name):
                for opt in section.get_all("number"):
                    for number in opt.value.split(",", 1)[0].split("&"):
                        owner = self.inventory.tenant_of_extension(number.strip())
                        if owner:
                            found.append((owner, f"extension {number.strip()} (followed by {name})"))
        return found

    @cached_property
    def context_owner(self) -> dict[str, str]:
        """Contexts requests of exactly one tenant start in (and nobody else's)."""
        users: dict[str, set[str | None]] = {}
        for s in self.starts:
            users.setdefault(s.context, set()).add(s.tenant)
        return {c: next(iter(t)) for c, t in users.items() if len(t) == 1 and None not in t}  # type: ignore[misc]

    def numbers_of(self, tenant: str) -> list[str]:
        """What can be dialled to reach *tenant*: its extensions and its endpoints' names."""
        cache: dict[str, list[str]] = self.__dict__.setdefault("_numbers_of", {})
        if tenant not in cache:
            numbers = dict.fromkeys(self.inventory.extensions_of(tenant) if self.inventory else [])
            for ep in self.endpoints_of.get(tenant, []):
                numbers.setdefault(ep.name)
            cache[tenant] = list(numbers)
        return cache[tenant]

    def foreign_numbers(self, pattern: str, tenant: str) -> Iterator[tuple[str, Iterator[tuple[str, str]]]]:
        """For a caller-controlled pattern like `_**.`: per other tenant, (number, dialled) for its
        numbers that the pattern's prefix + the number would match -- lazily, as callers stop at
        the first number that proves their point for a tenant."""
        prefix = literal_prefix(pattern)

        def numbers(other: str) -> Iterator[tuple[str, str]]:
            for number in self.numbers_of(other):
                if matches(pattern, prefix + number):
                    yield number, prefix + number

        for other in self.tenants:
            if other != tenant:
                yield other, numbers(other)
