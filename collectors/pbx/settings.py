"""The settings of an Asterisk instance that are not endpoints or dialplan but matter to tenant
isolation: call pickup, parking lots, voicemail contexts, call records (CDR/CEL and the modules
that write them), the management interfaces (AMI, ARI/HTTP), named ACLs, log channels and the
fail2ban jails that watch those logs.

Every fact keeps where it was read (`Loc`); a fact Asterisk takes from its built-in default when
the option is absent has `loc=None`. Secrets are never read into these objects: no AMI or ARI
password, no voicemail PIN (the value after `=>` of a mailbox line).

Access rules (permit/deny/acl) are evaluated the way Asterisk's `main/acl.c` does: one list of
rules is applied in order, the last rule that matches decides, an address no rule matches is
allowed; a rule of one address family never matches an address of the other (IPv4-mapped IPv6
addresses are compared as IPv4); when several lists apply (named ACLs and the item's own rules),
an address must pass all of them.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from collectors.pbx.conf import ConfFile, Loc, ReadIssue, Section
from collectors.pbx.dump import DumpFile

T = TypeVar("T")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOG_DIR = "/var/log/asterisk"
FAIL2BAN_PREFIX = "fail2ban/"
LOOPBACK_NETWORKS: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_TRUE = ("yes", "true", "y", "t", "1", "on")


def ast_true(value: str | None) -> bool:
    """Asterisk's `ast_true()`: yes/true/y/t/1/on, case-insensitive; anything else is false."""
    return value is not None and value.strip().lower() in _TRUE


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One option's value and where it was set; `loc` is None when it is Asterisk's default."""

    value: T
    loc: Loc | None = None

    @property
    def is_default(self) -> bool:
        return self.loc is None


def _str(section: Section | None, key: str, default: str) -> Setting[str]:
    opt = section.option(key) if section is not None else None
    return Setting(opt.value, opt.loc) if opt is not None else Setting(default)


def _opt_str(section: Section | None, key: str) -> Setting[str | None]:
    opt = section.option(key) if section is not None else None
    return Setting(opt.value, opt.loc) if opt is not None else Setting(None)


def _bool(section: Section | None, key: str, default: bool) -> Setting[bool]:
    opt = section.option(key) if section is not None else None
    return Setting(ast_true(opt.value), opt.loc) if opt is not None else Setting(default)


def _int(section: Section | None, key: str, default: int, issues: list[ReadIssue]) -> Setting[int]:
    opt = section.option(key) if section is not None else None
    if opt is None:
        return Setting(default)
    try:
        return Setting(int(opt.value.strip()), opt.loc)
    except ValueError:
        issues.append(ReadIssue("warning", f"{opt.key} = {opt.value!r} is not a number; Asterisk's default "
                                           f"{default} is assumed", opt.loc))
        return Setting(default, opt.loc)


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


# --- access rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AclRule:
    action: Literal["permit", "deny"]
    network: IPNetwork
    loc: Loc
    negate: bool = False  # `!addr/mask`: matches every address outside the network

    def matches(self, addr: IPAddress) -> bool:
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if addr.version != self.network.version:
            return False
        return (addr in self.network) != self.negate

    def __str__(self) -> str:
        return f"{self.action}={'!' if self.negate else ''}{self.network}"


def parse_acl_value(action: Literal["permit", "deny"], value: str, loc: Loc,
                    issues: list[ReadIssue]) -> list[AclRule]:
    """`permit = 10.0.0.0/255.0.0.0, !10.1.0.0/16` -> rules; what cannot be parsed is an issue."""
    rules = []
    for part in _split(value):
        text, negate = part, False
        if text.startswith("!"):
            text, negate = text[1:].strip(), True
        addr, _, mask = text.partition("/")
        addr = addr.strip().strip("[]")
        try:
            network = ipaddress.ip_network(f"{addr}/{mask.strip()}" if mask.strip() else addr, strict=False)
        except ValueError:
            issues.append(ReadIssue("warning", f"{action} = {part!r} is not an address or network; Asterisk "
                                               "rejects this rule", loc))
            continue
        rules.append(AclRule(action, network, loc, negate))
    return rules


def rules_of(section: Section, issues: list[ReadIssue], prefix: str = "") -> list[AclRule]:
    """The permit/deny rules of a section, in the order written (`prefix` e.g. "contact_")."""
    rules: list[AclRule] = []
    for opt in section.options:
        key = opt.key.lower()
        if key == f"{prefix}permit":
            rules += parse_acl_value("permit", opt.value, opt.loc, issues)
        elif key == f"{prefix}deny":
            rules += parse_acl_value("deny", opt.value, opt.loc, issues)
    return rules


def acl_refs_of(section: Section, prefix: str = "") -> list[tuple[str, Loc]]:
    return [(name, o.loc) for o in section.get_all(f"{prefix}acl") for name in _split(o.value)]


def allowed(rules: Sequence[AclRule], addr: IPAddress) -> bool:
    """One Asterisk access list (`ast_apply_ha`): the last matching rule decides, default allow."""
    verdict = True
    for rule in rules:
        if rule.matches(addr):
            verdict = rule.action == "permit"
    return verdict


def is_loopback_network(net: IPNetwork) -> bool:
    return any(net.version == lb.version and net.subnet_of(lb) for lb in LOOPBACK_NETWORKS)  # type: ignore[arg-type]


# Addresses shown as examples when a whole region of the address space behaves the same.
_EXAMPLES: tuple[IPAddress, ...] = (ipaddress.ip_address("203.0.113.10"), ipaddress.ip_address("10.0.0.10"),
                                    ipaddress.ip_address("2001:db8::10"))


def _pick(net: IPNetwork) -> IPAddress:
    for example in _EXAMPLES:
        if example.version == net.version and example in net:
            return example
    return net.network_address + 1 if net.num_addresses > 2 else net.network_address


def find_address(acls: Sequence[Sequence[AclRule]], families: Iterable[int], *, admitted: bool
                 ) -> IPAddress | None:
    """A non-loopback address (of the given IP versions) that passes every list in *acls*
    (``admitted=True``) or that some list refuses (``admitted=False``); None if there is none.

    Exact: CIDR networks are nested or disjoint, so the space is split in halves only where a
    rule's network (or the loopback network) lies strictly inside; elsewhere every address is
    treated alike and one stands for all."""
    boundaries: list[IPNetwork] = [r.network for acl in acls for r in acl]
    boundaries += LOOPBACK_NETWORKS

    def search(space: IPNetwork, inner: list[IPNetwork]) -> IPAddress | None:
        inside = [b for b in inner if b != space and b.subnet_of(space)]  # type: ignore[arg-type]
        if not inside:
            if is_loopback_network(space):
                return None
            addr = _pick(space)
            passes = all(allowed(acl, addr) for acl in acls)
            return addr if passes == admitted else None
        halves: list[IPNetwork] = list(space.subnets(prefixlen_diff=1))
        halves.sort(key=lambda h: not any(e.version == h.version and e in h for e in _EXAMPLES))  # examples first
        for half in halves:
            found = search(half, inside)
            if found is not None:
                return found
        return None

    for version in sorted(set(families)):
        space: IPNetwork = ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
        found = search(space, [b for b in boundaries if b.version == version])
        if found is not None:
            return found
    return None


def admitted_remote(acls: Sequence[Sequence[AclRule]], families: Iterable[int] = (4, 6)) -> IPAddress | None:
    """A non-loopback address every list lets in (no rules at all: everyone), or None."""
    return find_address(acls, families, admitted=True)


def bind_families(bindaddr: str | None) -> tuple[int, ...] | None:
    """The IP versions a listener bound to *bindaddr* accepts from other machines: () when it is
    loopback-only, (4,) for an IPv4 address, (4, 6) for `::` (dual stack), (6,) for another IPv6
    address; None when the address cannot be read (a host name)."""
    if bindaddr is None:
        return ()
    text = bindaddr.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # "0.0.0.0:5039"
        text = text.split(":", 1)[0]
    if text.lower() == "localhost":
        return ()
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if addr.is_loopback:
        return ()
    if addr.version == 4:
        return (4,)
    if addr.ipv4_mapped is not None:
        return () if addr.ipv4_mapped.is_loopback else (4,)
    return (4, 6) if addr.is_unspecified else (6,)


# --- features, parking, voicemail ----------------------------------------------------------


@dataclass
class Features:
    pickupexten: str = "*8"  # features.conf [general]; Asterisk's default *8
    pickupexten_loc: Loc | None = None


@dataclass
class ParkingLot:
    name: str
    loc: Loc | None  # the [section]; None for the implicit default lot
    parkext: str | None  # None: no park extension (nor slot extensions) is created
    parkpos: str  # "701-720"
    context: str
    parkext_exclusive: bool = False
    parkinghints: bool = False
    implicit: bool = False  # Asterisk made it: res_parking.conf has no [default]
    locs: dict[str, Loc] = field(default_factory=dict)  # option name (lower case) -> where it is set

    def positions(self) -> tuple[int, int] | None:
        m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", self.parkpos)
        return (int(m.group(1)), int(m.group(2))) if m else None

    @property
    def context_loc(self) -> Loc | None:
        return self.locs.get("context")


@dataclass
class Parking:
    present: bool
    lots: list[ParkingLot] = field(default_factory=list)

    def lot(self, name: str) -> ParkingLot | None:
        return next((lot for lot in self.lots if lot.name == name), None)


@dataclass
class VoicemailContext:
    name: str
    loc: Loc
    mailboxes: dict[str, Loc] = field(default_factory=dict)  # mailbox number -> line (never the PIN)


@dataclass
class Voicemail:
    present: bool
    contexts: dict[str, VoicemailContext] = field(default_factory=dict)
    searchcontexts: bool = False
    searchcontexts_loc: Loc | None = None


# --- call records --------------------------------------------------------------------------


@dataclass(frozen=True)
class OdbcFilter:
    column: str
    op: Literal["=", "!="]
    value: str
    loc: Loc


@dataclass
class OdbcStore:
    """A section of cdr_adaptive_odbc.conf / cel_odbc.conf: one table records are written to."""

    name: str
    loc: Loc
    connection: Setting[str | None]
    table: Setting[str | None]
    filters: list[OdbcFilter] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # record variable -> column

    @property
    def usable(self) -> bool:
        """The module skips a section without connection or table."""
        return bool(self.connection.value and self.table.value)

    @property
    def label(self) -> str:
        return f"{self.connection.value or '?'}.{self.table.value or '?'}"

    def accountcode_filters(self) -> list[OdbcFilter]:
        """`filter accountcode => X`: only records of that account code reach the table."""
        return [f for f in self.filters if f.column.lower() == "accountcode" and f.op == "="]


@dataclass(frozen=True)
class CustomMapping:
    """cdr_custom.conf / cel_custom.conf `[mappings]`: file => template (every record is written)."""

    file: str
    template: str
    loc: Loc
    folder: str = f"{LOG_DIR}/cdr-custom"  # where a relative file name is written

    @property
    def path(self) -> str:
        return self.file if self.file.startswith("/") else posixpath.join(self.folder, self.file)


@dataclass
class Modules:
    """modules.conf `[modules]`: which modules Asterisk loads."""

    present: bool
    autoload: Setting[bool] = field(default_factory=lambda: Setting(False))
    loads: dict[str, Loc] = field(default_factory=dict)  # load/preload/require/preload-require
    noloads: dict[str, Loc] = field(default_factory=dict)

    @staticmethod
    def _key(name: str) -> str:
        name = name.strip().lower()
        return name[:-3] if name.endswith(".so") else name

    def loaded(self, name: str) -> bool | None:
        """Asterisk's loader: `noload` wins, then an explicit load, then `autoload` (loads every
        module installed; absent means no). None when modules.conf is absent (not known)."""
        if not self.present:
            return None
        key = self._key(name)
        if key in self.noloads:
            return False
        if key in self.loads:
            return True
        return self.autoload.value

    def why(self, name: str) -> Loc | None:
        """The line that decides whether *name* is loaded."""
        key = self._key(name)
        return self.noloads.get(key) or self.loads.get(key) or self.autoload.loc


@dataclass
class Cdr:
    present: bool  # cdr.conf
    enable: Setting[bool] = field(default_factory=lambda: Setting(True))
    csv_loc: Loc | None = None  # the [csv] section of cdr.conf
    csv_options: int = 0  # cdr_csv declines to load when [csv] holds no option at all
    usegmtime: Setting[bool] = field(default_factory=lambda: Setting(False))
    loguniqueid: Setting[bool] = field(default_factory=lambda: Setting(False))
    accountlogs: Setting[bool] = field(default_factory=lambda: Setting(True))
    adaptive_odbc: list[OdbcStore] = field(default_factory=list)
    adaptive_odbc_present: bool = False
    odbc: OdbcStore | None = None  # cdr_odbc.conf [global] (dsn/table)
    custom: list[CustomMapping] = field(default_factory=list)
    custom_present: bool = False

    @property
    def csv_present(self) -> bool:
        return self.csv_loc is not None

    @property
    def csv_configured(self) -> bool:
        """cdr_csv writes Master.csv only if [csv] exists and holds at least one option."""
        return self.csv_options > 0


@dataclass
class Cel:
    present: bool
    enable: Setting[bool] = field(default_factory=lambda: Setting(False))
    apps: Setting[str | None] = field(default_factory=lambda: Setting(None))
    events: Setting[str | None] = field(default_factory=lambda: Setting(None))
    odbc: list[OdbcStore] = field(default_factory=list)
    custom: list[CustomMapping] = field(default_factory=list)


# --- management plane -----------------------------------------------------------------------


@dataclass
class ManagerUser:
    name: str
    loc: Loc
    read: list[str] = field(default_factory=list)  # lower-case class names
    read_loc: Loc | None = None
    write: list[str] = field(default_factory=list)
    write_loc: Loc | None = None
    eventfilters: list[tuple[str, Loc]] = field(default_factory=list)  # "key = value" text
    rules: list[AclRule] = field(default_factory=list)  # permit/deny in the order written
    acl_refs: list[tuple[str, Loc]] = field(default_factory=list)  # named ACLs (acl.conf)
    displayconnects: Setting[bool] | None = None

    @property
    def restricted(self) -> bool:
        return bool(self.rules or self.acl_refs)

    def include_filters(self) -> list[tuple[str, Loc]]:
        """Event filters that select events (not `!regex` / `action(exclude)` ones)."""
        found = []
        for text, loc in self.eventfilters:
            key, _, value = text.partition("=")
            if "action(exclude)" in key.replace(" ", "").lower() or value.strip().startswith("!"):
                continue
            found.append((text, loc))
        return found


@dataclass
class Manager:
    present: bool
    enabled: Setting[bool] = field(default_factory=lambda: Setting(False))
    bindaddr: Setting[str] = field(default_factory=lambda: Setting("0.0.0.0"))
    port: Setting[int] = field(default_factory=lambda: Setting(5038))
    tlsenable: Setting[bool] = field(default_factory=lambda: Setting(False))
    tlsbindaddr: Setting[str | None] = field(default_factory=lambda: Setting(None))  # None: bindaddr, port 5039
    webenabled: Setting[bool] = field(default_factory=lambda: Setting(False))  # AMI over http.conf's server
    users: list[ManagerUser] = field(default_factory=list)


@dataclass
class AriUser:
    name: str
    loc: Loc
    read_only: Setting[bool]
    password_format: Setting[str]


@dataclass
class Ari:
    present: bool
    enabled: Setting[bool] = field(default_factory=lambda: Setting(True))
    users: list[AriUser] = field(default_factory=list)


@dataclass
class Http:
    present: bool
    enabled: Setting[bool] = field(default_factory=lambda: Setting(False))
    bindaddr: Setting[str | None] = field(default_factory=lambda: Setting(None))  # none: no plain listener
    bindport: Setting[int] = field(default_factory=lambda: Setting(8088))
    tlsenable: Setting[bool] = field(default_factory=lambda: Setting(False))
    tlsbindaddr: Setting[str | None] = field(default_factory=lambda: Setting(None))

    def listeners(self) -> list[tuple[str, Loc | None]]:
        """(address, where set) of each socket the HTTP server opens; none when it is disabled."""
        if not self.enabled.value:
            return []
        found: list[tuple[str, Loc | None]] = []
        if self.bindaddr.value:
            found.append((self.bindaddr.value, self.bindaddr.loc))
        if self.tlsenable.value:
            tls = self.tlsbindaddr.value or self.bindaddr.value
            if tls:
                found.append((tls, self.tlsbindaddr.loc or self.bindaddr.loc or self.tlsenable.loc))
        return found


@dataclass
class NamedAcl:
    name: str
    loc: Loc
    rules: list[AclRule] = field(default_factory=list)


@dataclass
class Acls:
    present: bool
    named: dict[str, NamedAcl] = field(default_factory=dict)


# --- logs and fail2ban ----------------------------------------------------------------------


@dataclass(frozen=True)
class LogChannel:
    name: str  # as written: "messages", "/var/log/asterisk/full", "console", "syslog.local0"
    path: str | None  # the file written; None for console and syslog
    levels: frozenset[str]  # lower-case; "*" = every level; "!level" removes one
    loc: Loc

    def logs(self, level: str) -> bool:
        level = level.lower()
        if f"!{level}" in self.levels:
            return False
        return level in self.levels or "*" in self.levels


@dataclass
class Logger:
    present: bool
    channels: list[LogChannel] = field(default_factory=list)
    appendhostname: Setting[bool] = field(default_factory=lambda: Setting(False))

    def files(self) -> list[LogChannel]:
        return [c for c in self.channels if c.path is not None]


@dataclass
class Jail:
    name: str
    loc: Loc  # the last [section] header of this jail
    enabled: Setting[bool]
    logpaths: list[str]
    logpath_loc: Loc | None
    filter: Setting[str | None]
    backend: Setting[str | None]


@dataclass
class Fail2ban:
    present: bool  # the fail2ban folder was read
    files: list[str] = field(default_factory=list)  # jail files read, in fail2ban's order
    jails: dict[str, Jail] = field(default_factory=dict)  # jails whose name contains "asterisk"
    issues: list[ReadIssue] = field(default_factory=list)


@dataclass
class Settings:
    features: Features
    parking: Parking
    voicemail: Voicemail
    cdr: Cdr
    cel: Cel
    modules: Modules
    manager: Manager
    ari: Ari
    http: Http
    acl: Acls
    logger: Logger
    fail2ban: Fail2ban
    issues: list[ReadIssue] = field(default_factory=list)  # values Asterisk would reject

    def module_loaded(self, name: str) -> bool | None:
        return self.modules.loaded(name)


# --- readers --------------------------------------------------------------------------------


def _general(conf: ConfFile | None) -> Section | None:
    """The [general] section; several [general] blocks are merged the way loaders browse them."""
    if conf is None:
        return None
    found = conf.named("general")
    if len(found) <= 1:
        return found[0] if found else None
    merged = Section(name="general", loc=found[0].loc)
    for s in found:
        merged.options.extend(s.options)
    return merged


def _features(conf: ConfFile | None) -> Features:
    code = _str(_general(conf), "pickupexten", "*8")
    return Features(code.value, code.loc)


_LOT_KEYS = ("parkext", "parkpos", "context", "parkext_exclusive", "parkinghints")


def _parking(conf: ConfFile | None) -> Parking:
    parking = Parking(present=bool(conf and conf.present))
    for s in conf.categories() if conf else []:
        if s.name == "general":
            continue
        locs = {k: o.loc for k in _LOT_KEYS if (o := s.option(k)) is not None}
        parking.lots.append(ParkingLot(
            name=s.name, loc=s.loc, parkext=(s.get("parkext") or "").strip() or None,
            parkpos=_str(s, "parkpos", "701-750").value, context=_str(s, "context", "parkedcalls").value,
            parkext_exclusive=_bool(s, "parkext_exclusive", False).value,
            parkinghints=_bool(s, "parkinghints", False).value, locs=locs))
    if parking.lot("default") is None:
        parking.lots.insert(0, ParkingLot(name="default", loc=None, parkext="700", parkpos="701-720",
                                          context="parkedcalls", implicit=True))
    return parking


def _voicemail(conf: ConfFile | None) -> Voicemail:
    vm = Voicemail(present=bool(conf and conf.present))
    general = _general(conf)
    search = _bool(general, "searchcontexts", False)
    vm.searchcontexts, vm.searchcontexts_loc = search.value, search.loc
    aliases = (general.get("aliasescontext") or "").strip() if general else ""
    for s in conf.categories() if conf else []:
        if s.name in ("general", "zonemessages") or (aliases and s.name == aliases):
            continue
        ctx = vm.contexts.setdefault(s.name, VoicemailContext(s.name, s.loc))
        for opt in s.options:
            ctx.mailboxes[opt.key.strip()] = opt.loc  # the value holds the PIN: never kept
    return vm


_FILTER_KEY = re.compile(r"^filter\s+(\S+?)\s*(!)?$", re.I)
_ALIAS_KEY = re.compile(r"^alias\s+(\S+)$", re.I)


def _odbc_stores(conf: ConfFile | None) -> list[OdbcStore]:
    stores = []
    for s in conf.categories() if conf else []:
        store = OdbcStore(name=s.name, loc=s.loc, connection=_opt_str(s, "connection"), table=_opt_str(s, "table"))
        for opt in s.options:
            m = _FILTER_KEY.match(opt.key.strip())
            if m:
                store.filters.append(OdbcFilter(m.group(1), "!=" if m.group(2) else "=", opt.value, opt.loc))
                continue
            m = _ALIAS_KEY.match(opt.key.strip())
            if m:
                store.aliases[m.group(1)] = opt.value
        stores.append(store)
    return stores


def _custom_mappings(conf: ConfFile | None, folder: str) -> list[CustomMapping]:
    mappings: list[CustomMapping] = []
    for s in conf.named("mappings") if conf else []:
        mappings += [CustomMapping(o.key.strip(), o.value, o.loc, folder) for o in s.options]
    return mappings


def _modules(conf: ConfFile | None) -> Modules:
    mods = Modules(present=bool(conf and conf.present))
    for s in conf.named("modules") if conf else []:
        for opt in s.options:
            key = opt.key.strip().lower()
            if key == "autoload":
                mods.autoload = Setting(ast_true(opt.value), opt.loc)
            elif key in ("load", "preload", "require", "preload-require"):
                mods.loads[Modules._key(opt.value)] = opt.loc
            elif key == "noload":
                mods.noloads[Modules._key(opt.value)] = opt.loc
    return mods


def _cdr(confs: dict[str, ConfFile]) -> Cdr:
    conf = confs.get("cdr.conf")
    cdr = Cdr(present=bool(conf and conf.present))
    general = _general(conf)
    cdr.enable = _bool(general, "enable", True)
    csv = conf.named("csv") if conf else []
    if csv:
        cdr.csv_loc = csv[0].loc
        merged = Section("csv", csv[0].loc, options=[o for s in csv for o in s.options])
        cdr.csv_options = len(merged.options)
        cdr.usegmtime = _bool(merged, "usegmtime", False)
        cdr.loguniqueid = _bool(merged, "loguniqueid", False)
        cdr.accountlogs = _bool(merged, "accountlogs", True)
    adaptive = confs.get("cdr_adaptive_odbc.conf")
    cdr.adaptive_odbc_present = bool(adaptive and adaptive.present)
    cdr.adaptive_odbc = _odbc_stores(adaptive)
    odbc = confs.get("cdr_odbc.conf")
    glob = odbc.first("global") if odbc else None
    if glob is not None and glob.get("dsn"):
        table = _str(glob, "table", "cdr")
        cdr.odbc = OdbcStore(name="global", loc=glob.loc, connection=_opt_str(glob, "dsn"),
                             table=Setting[str | None](table.value, table.loc))
    custom = confs.get("cdr_custom.conf")
    cdr.custom_present = bool(custom and custom.present)
    cdr.custom = _custom_mappings(custom, f"{LOG_DIR}/cdr-custom")
    return cdr


def _cel(confs: dict[str, ConfFile]) -> Cel:
    conf = confs.get("cel.conf")
    cel = Cel(present=bool(conf and conf.present))
    general = _general(conf)
    cel.enable = _bool(general, "enable", False)
    cel.apps = _opt_str(general, "apps")
    cel.events = _opt_str(general, "events")
    cel.odbc = _odbc_stores(confs.get("cel_odbc.conf"))
    cel.custom = _custom_mappings(confs.get("cel_custom.conf"), f"{LOG_DIR}/cel-custom")
    return cel


def _manager(conf: ConfFile | None, issues: list[ReadIssue]) -> Manager:
    mgr = Manager(present=bool(conf and conf.present))
    general = _general(conf)
    mgr.enabled = _bool(general, "enabled", False)
    mgr.bindaddr = _str(general, "bindaddr", "0.0.0.0")
    mgr.port = _int(general, "port", 5038, issues)
    mgr.tlsenable = _bool(general, "tlsenable", False)
    mgr.tlsbindaddr = _opt_str(general, "tlsbindaddr")
    mgr.webenabled = _bool(general, "webenabled", False)
    for s in conf.categories() if conf else []:
        if s.name == "general":
            continue
        user = ManagerUser(name=s.name, loc=s.loc, rules=rules_of(s, issues), acl_refs=acl_refs_of(s))
        for key in ("read", "write"):
            opt = s.option(key)
            if opt is not None:
                classes = [c.lower() for c in _split(opt.value)]
                if key == "read":
                    user.read, user.read_loc = classes, opt.loc
                else:
                    user.write, user.write_loc = classes, opt.loc
        user.eventfilters = [(f"{o.key} = {o.value}", o.loc) for o in s.options
                             if o.key.strip().lower().startswith("eventfilter")]
        if s.option("displayconnects") is not None:
            user.displayconnects = _bool(s, "displayconnects", True)
        mgr.users.append(user)
    return mgr


def _ari(conf: ConfFile | None) -> Ari:
    ari = Ari(present=bool(conf and conf.present))
    ari.enabled = _bool(_general(conf), "enabled", True)
    for s in conf.categories() if conf else []:
        if s.name == "general" or (s.get("type") or "").strip().lower() != "user":
            continue
        ari.users.append(AriUser(s.name, s.loc, _bool(s, "read_only", False), _str(s, "password_format", "plain")))
    return ari


def _http(conf: ConfFile | None, issues: list[ReadIssue]) -> Http:
    general = _general(conf)
    return Http(present=bool(conf and conf.present), enabled=_bool(general, "enabled", False),
                bindaddr=_opt_str(general, "bindaddr"), bindport=_int(general, "bindport", 8088, issues),
                tlsenable=_bool(general, "tlsenable", False), tlsbindaddr=_opt_str(general, "tlsbindaddr"))


def _acls(conf: ConfFile | None, issues: list[ReadIssue]) -> Acls:
    acls = Acls(present=bool(conf and conf.present))
    for s in conf.categories() if conf else []:
        named = acls.named.setdefault(s.name, NamedAcl(s.name, s.loc))
        named.rules += rules_of(s, issues)
    return acls


def _logger(conf: ConfFile | None) -> Logger:
    log = Logger(present=bool(conf and conf.present))
    log.appendhostname = _bool(_general(conf), "appendhostname", False)
    for s in conf.named("logfiles") if conf else []:
        for opt in s.options:
            name = opt.key.strip()
            levels_text = re.sub(r"^\s*\[[^\]]*\]", "", opt.value)  # "[plain]notice,warning"
            levels = frozenset(p.lower() for p in _split(levels_text))
            low = name.lower()
            if low == "console" or low.startswith("syslog"):
                path = None
            else:
                path = name if name.startswith("/") else posixpath.join(LOG_DIR, name)
            log.channels.append(LogChannel(name, path, levels, opt.loc))
    return log


# --- fail2ban -------------------------------------------------------------------------------

_F2B_KV = re.compile(r"^([^=:\s][^=:]*?)\s*[=:]\s?(.*)$")
_F2B_INTERP = re.compile(r"%\(([^)]+)\)s")
_MAX_INTERP_DEPTH = 10


@dataclass
class _F2bValue:
    value: str
    loc: Loc
    history: list[str] = field(default_factory=list)  # earlier values (for %(known/…)s)


class _IniReader:
    """fail2ban's configuration files: Python configparser syntax (`[section]`, `key = value` or
    `key: value`, indented continuation lines, `#`/`;` comment lines, ` ;` inline comments),
    several files merged in order, `[INCLUDES] before/after`, `%(name)s` interpolation."""

    def __init__(self, tree: dict[str, DumpFile], issues: list[ReadIssue]) -> None:
        self.tree = tree
        self.issues = issues
        self.sections: dict[str, dict[str, _F2bValue]] = {}
        self.headers: dict[str, Loc] = {}
        self.files: list[str] = []
        self.stack: list[str] = []

    def read(self, path: str) -> None:
        if path in self.stack or len(self.stack) > 8:
            self.issues.append(ReadIssue("warning", f"{FAIL2BAN_PREFIX}{path}: include loop, not read again"))
            return
        file = self.tree.get(path)
        if file is None:
            return
        if file.data is None:
            self.issues.append(ReadIssue("error", f"{FAIL2BAN_PREFIX}{path} could not be read: {file.error}",
                                         Loc(FAIL2BAN_PREFIX + path, 0), blocking=True))
            return
        text = file.data.decode("utf-8", errors="replace")
        parsed = self._parse(path, text)
        includes = parsed.pop("INCLUDES", {})
        self.stack.append(path)
        try:
            for inc in self._include_names(includes.get("before"), path):
                self.read(inc)
            self.files.append(path)
            for name, values in parsed.items():
                target = self.sections.setdefault(name, {})
                for key, val in values.items():
                    old = target.get(key)
                    if old is not None:
                        val.history = [*old.history, old.value]
                    target[key] = val
            for inc in self._include_names(includes.get("after"), path):
                self.read(inc)
        finally:
            self.stack.pop()

    def _include_names(self, value: _F2bValue | None, path: str) -> list[str]:
        if value is None:
            return []
        base = posixpath.dirname(path)
        return [posixpath.normpath(posixpath.join(base, n)) for n in value.value.split() if n.strip()]

    def _parse(self, path: str, text: str) -> dict[str, dict[str, _F2bValue]]:
        out: dict[str, dict[str, _F2bValue]] = {}
        section: str | None = None
        last: _F2bValue | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            loc = Loc(FAIL2BAN_PREFIX + path, number)
            stripped = raw.strip()
            if not stripped or stripped[0] in "#;":
                if not stripped:
                    last = None
                continue
            if raw[0] in " \t" and last is not None:
                last.value += "\n" + self._uncomment(stripped)
                continue
            if stripped.startswith("[") and "]" in stripped:
                section = stripped[1:stripped.index("]")].strip()
                out.setdefault(section, {})
                self.headers[section] = loc
                last = None
                continue
            m = _F2B_KV.match(stripped)
            if m is None or section is None:
                self.issues.append(ReadIssue("warning", f"{loc}: not a 'key = value' line in a [section]", loc))
                last = None
                continue
            last = _F2bValue(self._uncomment(m.group(2)), loc)
            out[section][m.group(1).strip().lower()] = last
        return out

    @staticmethod
    def _uncomment(value: str) -> str:
        m = re.search(r"\s[;#]", value)
        return (value[:m.start()] if m else value).strip()

    def get(self, section: str, key: str) -> _F2bValue | None:
        return self.sections.get(section, {}).get(key) or self.sections.get("DEFAULT", {}).get(key)

    def interpolate(self, section: str, value: str, depth: int = 0) -> str:
        if depth > _MAX_INTERP_DEPTH:
            return value

        def sub(m: re.Match[str]) -> str:
            name = m.group(1).strip()
            lower = name.lower()
            if lower == "__name__":
                return section
            found: str | None = None
            if lower.startswith("default/"):
                v = self.sections.get("DEFAULT", {}).get(lower[8:])
                found = v.value if v else None
            elif lower.startswith("known/"):
                v = self.sections.get(section, {}).get(lower[6:])
                if v is not None and v.history:
                    found = v.history[-1]
                else:
                    d = self.sections.get("DEFAULT", {}).get(lower[6:])
                    found = d.value if d else None
            else:
                v = self.get(section, lower)
                found = v.value if v else None
            if found is None:
                return m.group(0)
            return self.interpolate(section, found, depth + 1)

        return _F2B_INTERP.sub(sub, value)


def _fail2ban(tree: dict[str, DumpFile] | None) -> Fail2ban:
    if tree is None:
        return Fail2ban(present=False)
    f2b = Fail2ban(present=True)
    reader = _IniReader(tree, f2b.issues)
    order = ["jail.conf", *sorted(p for p in tree if fnmatch.fnmatchcase(p, "jail.d/*.conf") and p.count("/") == 1),
             "jail.local", *sorted(p for p in tree if fnmatch.fnmatchcase(p, "jail.d/*.local") and p.count("/") == 1)]
    for path in order:
        reader.read(path)
    f2b.files = reader.files
    for name in reader.sections:
        if "asterisk" not in name.lower():
            continue
        enabled = reader.get(name, "enabled")
        logpath = reader.get(name, "logpath")
        flt = reader.get(name, "filter")
        backend = reader.get(name, "backend")
        paths = reader.interpolate(name, logpath.value).split() if logpath else []
        f2b.jails[name] = Jail(
            name=name, loc=reader.headers.get(name, Loc(FAIL2BAN_PREFIX + "jail.conf", 0)),
            enabled=Setting(ast_true(reader.interpolate(name, enabled.value)), enabled.loc) if enabled
            else Setting(False),
            logpaths=paths, logpath_loc=logpath.loc if logpath else None,
            filter=Setting(reader.interpolate(name, flt.value), flt.loc) if flt else Setting(None),
            backend=Setting(reader.interpolate(name, backend.value), backend.loc) if backend else Setting(None))
    return f2b


def logpath_matches(logpath: str, channel: LogChannel, appendhostname: bool = False) -> bool:
    """Whether a fail2ban `logpath` (a glob) names the file *channel* writes. With logger.conf's
    `appendhostname`, Asterisk writes `<file>.<hostname>`."""
    if channel.path is None:
        return False
    target = posixpath.normpath(channel.path)
    pattern = posixpath.normpath(logpath)
    if fnmatch.fnmatchcase(target, pattern):
        return True
    if not appendhostname:
        return False
    return pattern.startswith(target + ".") or fnmatch.fnmatchcase(target + ".hostname", pattern)


def read_settings(confs: dict[str, ConfFile], fail2ban: dict[str, DumpFile] | None) -> Settings:
    issues: list[ReadIssue] = []
    return Settings(
        features=_features(confs.get("features.conf")),
        parking=_parking(confs.get("res_parking.conf")),
        voicemail=_voicemail(confs.get("voicemail.conf")),
        cdr=_cdr(confs),
        cel=_cel(confs),
        modules=_modules(confs.get("modules.conf")),
        manager=_manager(confs.get("manager.conf"), issues),
        ari=_ari(confs.get("ari.conf")),
        http=_http(confs.get("http.conf"), issues),
        acl=_acls(confs.get("acl.conf"), issues),
        logger=_logger(confs.get("logger.conf")),
        fail2ban=_fail2ban(fail2ban),
        issues=issues,
    )

