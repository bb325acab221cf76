"""SIP/IAX endpoints from `pjsip.conf` (+ `pjsip_wizard.conf`), chan_sip `sip.conf` and `iax.conf`,
in one shape: the contexts a call from the endpoint starts in, its pickup and call groups, the
channel variables it sets (SPYGROUP, parking lot), its IP restrictions and whether it is a trunk.

Defaults are Asterisk's: a PJSIP endpoint without `context` lands in `default`, subscribes are
allowed unless `allow_subscribe=no`, and `subscribe_context` falls back to `context`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from collectors.pbx.conf import ConfFile, Loc, Section

_GROUP_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")
_CALLERID_NUM = re.compile(r"<([^>]*)>")


def parse_groups(text: str | None) -> frozenset[int]:
    """`call_group = 1,3-5` -> {1, 3, 4, 5} (Asterisk accepts 0-63)."""
    found: set[int] = set()
    for part in (text or "").split(","):
        m = _GROUP_RANGE.match(part)
        if m:
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) else lo
            found.update(g for g in range(lo, hi + 1) if 0 <= g <= 63)
    return frozenset(found)


def parse_named_groups(text: str | None) -> frozenset[str]:
    return frozenset(p.strip() for p in (text or "").split(",") if p.strip())


@dataclass
class Endpoint:
    tech: str  # "PJSIP", "SIP" or "IAX2": what a dial string names it by
    name: str
    loc: Loc
    context: str = "default"
    context_loc: Loc | None = None
    subscribe_context: str | None = None
    message_context: str | None = None
    overlap_context: str | None = None
    allow_subscribe: bool = True
    call_groups: frozenset[int] = frozenset()
    pickup_groups: frozenset[int] = frozenset()
    named_call_groups: frozenset[str] = frozenset()
    named_pickup_groups: frozenset[str] = frozenset()
    group_locs: list[Loc] = field(default_factory=list)
    set_vars: dict[str, tuple[str, Loc]] = field(default_factory=dict)  # SPYGROUP, CHANNEL(parkinglot)…
    accountcode: str | None = None
    mailboxes: list[str] = field(default_factory=list)
    callerid_number: str | None = None
    aors: list[str] = field(default_factory=list)
    acl_refs: list[str] = field(default_factory=list)  # named ACLs (acl.conf / pjsip type=acl)
    permits: list[tuple[str, Loc]] = field(default_factory=list)
    denies: list[tuple[str, Loc]] = field(default_factory=list)
    is_trunk: bool = False
    trunk_reason: str | None = None
    identify_matches: list[tuple[str, Loc]] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return f"{self.tech}/{self.name}"

    @property
    def effective_subscribe_context(self) -> str:
        return self.subscribe_context or self.context

    def start_contexts(self) -> dict[str, str]:
        """Which contexts a request from this endpoint can start in: purpose -> context."""
        found = {"call": self.context}
        if self.overlap_context:
            found["overlap"] = self.overlap_context
        if self.allow_subscribe:
            found["subscribe"] = self.effective_subscribe_context
        if self.message_context:
            found["message"] = self.message_context
        return found

    @property
    def restricted(self) -> bool:
        """Whether the endpoint accepts requests only from some addresses."""
        return bool(self.acl_refs or self.permits or self.denies)


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() in ("yes", "true", "y", "t", "1", "on")


def _set_vars(section: Section, key: str) -> dict[str, tuple[str, Loc]]:
    found: dict[str, tuple[str, Loc]] = {}
    for opt in section.get_all(key):
        name, _, value = opt.value.partition("=")
        # `__VAR` / `_VAR` inherit to called channels; the variable is the same.
        found[name.strip().lstrip("_")] = (value.strip(), opt.loc)
    return found


def _fill_common(ep: Endpoint, s: Section, *, keys: dict[str, str]) -> None:
    """Options that differ between drivers only in name: keys maps our name -> the driver's."""
    opt = s.option(keys["context"])
    if opt is not None:
        ep.context, ep.context_loc = opt.value, opt.loc
    ep.subscribe_context = s.get(keys["subscribe_context"]) or None
    ep.allow_subscribe = _bool(s.get(keys["allow_subscribe"]), True)
    for ours in ("call_group", "pickup_group", "named_call_group", "named_pickup_group"):
        o = s.option(keys[ours])
        if o is None:
            continue
        ep.group_locs.append(o.loc)
        if ours == "call_group":
            ep.call_groups = parse_groups(o.value)
        elif ours == "pickup_group":
            ep.pickup_groups = parse_groups(o.value)
        elif ours == "named_call_group":
            ep.named_call_groups = parse_named_groups(o.value)
        else:
            ep.named_pickup_groups = parse_named_groups(o.value)
    ep.set_vars = _set_vars(s, keys["set_var"])
    ep.accountcode = s.get("accountcode") or None
    callerid = s.get("callerid")
    if callerid:
        m = _CALLERID_NUM.search(callerid)
        ep.callerid_number = (m.group(1) if m else callerid).strip() or None
    for o in s.get_all("acl"):
        ep.acl_refs += [a.strip() for a in o.value.split(",") if a.strip()]
    ep.permits = [(o.value, o.loc) for o in s.get_all("permit")]
    ep.denies = [(o.value, o.loc) for o in s.get_all("deny")]


_PJSIP_KEYS = {"context": "context", "subscribe_context": "subscribe_context", "allow_subscribe": "allow_subscribe",
               "call_group": "call_group", "pickup_group": "pickup_group", "named_call_group": "named_call_group",
               "named_pickup_group": "named_pickup_group", "set_var": "set_var"}
_SIP_KEYS = {"context": "context", "subscribe_context": "subscribecontext", "allow_subscribe": "allowsubscribe",
             "call_group": "callgroup", "pickup_group": "pickupgroup", "named_call_group": "namedcallgroup",
             "named_pickup_group": "namedpickupgroup", "set_var": "setvar"}


@dataclass
class PjsipExtras:
    """The parts of pjsip.conf that are not endpoints but matter to isolation."""

    global_acls: list[Section] = field(default_factory=list)  # type=acl sections (apply to all inbound SIP)
    identifies: list[Section] = field(default_factory=list)
    registrations: list[Section] = field(default_factory=list)
    global_section: Section | None = None


def pjsip_endpoints(conf: ConfFile) -> tuple[list[Endpoint], PjsipExtras]:
    by_type: dict[str, list[Section]] = {}
    for s in conf.categories():
        by_type.setdefault((s.get("type") or "").strip().lower(), []).append(s)
    extras = PjsipExtras(global_acls=by_type.get("acl", []), identifies=by_type.get("identify", []),
                         registrations=by_type.get("registration", []),
                         global_section=next(iter(by_type.get("global", [])), None))
    aors = {s.name: s for s in by_type.get("aor", [])}
    # Endpoints a type=identify section matches by source address. FreePBX writes an identify
    # section without `match` for every extension: that matches nothing and makes no trunk.
    identified: dict[str, list[tuple[str, Loc]]] = {}
    for ident in extras.identifies:
        target = (ident.get("endpoint") or "").strip()
        for m in ident.get_all("match"):
            values = [(v.strip(), m.loc) for v in m.value.split(",") if v.strip()]
            if values:
                identified.setdefault(target, []).extend(values)
    registered = {(r.get("endpoint") or "").strip() for r in extras.registrations} - {""}
    endpoints = []
    for s in by_type.get("endpoint", []):
        ep = Endpoint(tech="PJSIP", name=s.name, loc=s.loc)
        _fill_common(ep, s, keys=_PJSIP_KEYS)
        ep.message_context = s.get("message_context") or None
        ep.overlap_context = s.get("overlap_context") or None
        ep.aors = [a.strip() for a in (s.get("aors") or "").split(",") if a.strip()]
        ep.mailboxes = [m.strip() for m in (s.get("mailboxes") or "").split(",") if m.strip()]
        for aor in ep.aors:
            if aor in aors:
                ep.mailboxes += [m.strip() for m in (aors[aor].get("mailboxes") or "").split(",") if m.strip()]
        for o in s.get_all("contact_acl"):
            ep.acl_refs += [a.strip() for a in o.value.split(",") if a.strip()]
        ep.permits += [(o.value, o.loc) for o in s.get_all("contact_permit")]
        ep.denies += [(o.value, o.loc) for o in s.get_all("contact_deny")]
        if s.name in identified:
            ep.is_trunk, ep.trunk_reason = True, "a type=identify section matches it by source address"
            ep.identify_matches = identified[s.name]
        elif s.get("outbound_auth") and not s.get("auth"):
            ep.is_trunk, ep.trunk_reason = True, "it authenticates outbound only (outbound_auth, no auth)"
        elif s.name in registered:
            ep.is_trunk, ep.trunk_reason = True, "an outbound registration names it (type=registration, endpoint=)"
        endpoints.append(ep)
    return endpoints, extras


def wizard_endpoints(conf: ConfFile) -> list[Endpoint]:
    """`pjsip_wizard.conf`: each `type=wizard` section makes an endpoint of the same name whose
    options are the section's `endpoint/…` keys."""
    endpoints = []
    for s in conf.categories():
        if (s.get("type") or "").strip().lower() != "wizard":
            continue
        inner = Section(name=s.name, loc=s.loc, options=[
            type(o)(o.key.split("/", 1)[1], o.value, o.loc, o.inherited)
            for o in s.options if o.key.lower().startswith("endpoint/")])
        ep = Endpoint(tech="PJSIP", name=s.name, loc=s.loc)
        _fill_common(ep, inner, keys=_PJSIP_KEYS)
        ep.message_context = inner.get("message_context") or None
        ep.mailboxes = [m.strip() for m in (s.get("aor/mailboxes") or "").split(",") if m.strip()]
        hosts = s.option("remote_hosts")
        if _bool(s.get("sends_registrations"), False) or (hosts and not _bool(s.get("accepts_registrations"), False)):
            ep.is_trunk, ep.trunk_reason = True, "a wizard trunk (remote_hosts / sends_registrations)"
            if hosts:
                ep.identify_matches = [(h.strip(), hosts.loc) for h in hosts.value.split(",") if h.strip()]
        endpoints.append(ep)
    return endpoints


def sip_peers(conf: ConfFile, tech: str) -> list[Endpoint]:
    """chan_sip `sip.conf` / chan_iax2 `iax.conf` peers. `[general]` gives the default context and
    subscribe context; a peer with a fixed `host=` (not dynamic) is a trunk."""
    general = conf.first("general")
    default_context = (general.get("context") if general else None) or "default"
    default_subscribe = general.get("subscribecontext") if general else None
    default_allow = _bool(general.get("allowsubscribe") if general else None, True)
    endpoints = []
    for s in conf.categories():
        if s.name in ("general", "authentication") or not s.get("type"):
            continue
        ep = Endpoint(tech=tech, name=s.name, loc=s.loc, context=default_context,
                      subscribe_context=default_subscribe, allow_subscribe=default_allow)
        _fill_common(ep, s, keys=_SIP_KEYS)
        if s.get("allowsubscribe") is None:
            ep.allow_subscribe = default_allow
        ep.subscribe_context = s.get("subscribecontext") or default_subscribe
        ep.mailboxes = [m.strip() for m in (s.get("mailbox") or "").split(",") if m.strip()]
        host = (s.get("host") or "dynamic").strip().lower()
        if host != "dynamic":
            ep.is_trunk, ep.trunk_reason = True, f"it has a fixed host ({host})"
        endpoints.append(ep)
    return endpoints
