"""Parsers for the text that `asterisk -rx "<command>"` prints.

Each parser is a pure function of the captured text and never raises: lines it does not recognise
are skipped and counted (`skipped`), and lines that look like data of the command but do not parse
are reported in `warnings` with their 1-based line number. Output noise that `asterisk -rx` can add
(ANSI colour escapes, CR of Windows line endings, the "Connected to Asterisk" banner) is removed
before parsing.

The layouts follow Asterisk's own format strings (see tests/collectors/pbx/recorded/README.md for
the source function behind each one):

* `pjsip show endpoints` - res/res_pjsip/pjsip_configuration.c `cli_endpoint_print_body`
  ("%*s:  %-*.*s  %-12.12s  %d of %.0f") and the child formatters for auth, aor, contact,
  transport, identify and channel; res/res_pjsip/pjsip_cli.c prints the header block and the
  "Objects found: N" footer.
* `dialplan show` - main/pbx.c `show_dialplan_helper`, `show_dialplan_helper_extension_output`
  ("  %-17s %-45s [%s:%d]" / "  %-17s %-45s [%s]") and `print_ext` ("%d. %s(%s)" / "hint: %s").
* `core show hints` - main/pbx.c (Asterisk <= 22: "%-20.20s: %-20.20s  State:...") or
  main/extension_state.c (master: "%-30.30s: %-60.60s  State:..."); both are read here.
* `features show` - main/features_config.c `handle_feature_show` (HFS_FORMAT "%-25s %-7s %-7s"),
  plus the "Call parking" blocks of the Asterisk <= 11 main/features.c.
* `core show version` - main/asterisk.c: "Asterisk %s built by %s @ %s on a %s running %s on %s".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "CliAor",
    "CliAuth",
    "CliChannel",
    "CliContact",
    "CliDialplan",
    "CliEndpoint",
    "CliEndpoints",
    "CliExtension",
    "CliFeatureGroup",
    "CliFeatures",
    "CliHint",
    "CliHints",
    "CliIdentify",
    "CliIgnorePattern",
    "CliInclude",
    "CliParkingLot",
    "CliPriority",
    "CliSwitch",
    "CliTransport",
    "DialplanContext",
    "clean_cli_lines",
    "parse_core_show_hints",
    "parse_core_show_version",
    "parse_dialplan_show",
    "parse_features_show",
    "parse_pjsip_show_endpoints",
]

# ---------------------------------------------------------------------------------------- cleaning

# CSI sequences (colours: ESC [ 1;37;40 m), OSC sequences (window titles) and stray single escapes.
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# Lines `asterisk -r`/`-rx` or a wrapper may print around a command's own output.
_NOISE_RES = (
    re.compile(r"^Connected to Asterisk\b"),
    re.compile(r"^Unable to connect to remote asterisk\b", re.IGNORECASE),
    re.compile(r"^Asterisk \S+, Copyright \(C\)"),
    re.compile(r"^Created by Mark Spencer"),
    re.compile(r"^Asterisk comes with ABSOLUTELY NO WARRANTY"),
    re.compile(r"^This is free software, with components licensed under"),
    re.compile(r"^License version 2 and other licenses; you are welcome"),
    re.compile(r"^certain conditions\. Type 'core show license'"),
    re.compile(r"^=+$"),
    re.compile(r"^Verbosity (?:is at least|was \d+ and is now)"),
    re.compile(r"^No such command '"),
    re.compile(r"^\S*\*CLI>"),
)


def _to_text(text: str | bytes | None) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes | bytearray):
        return bytes(text).decode("utf-8", errors="replace")
    return text if isinstance(text, str) else str(text)


def clean_cli_lines(text: str | bytes | None) -> list[tuple[int, str]]:
    """Split captured output into (1-based line number, line) with ANSI escapes, CR characters,
    other control characters and trailing whitespace removed. Leading whitespace is kept: several
    layouts indent their child lines."""
    raw = _to_text(text)
    result: list[tuple[int, str]] = []
    # str.splitlines would also split on \x0b, \x0c, \x1c..\x1e, \x85 and U+2028; only CR/LF count.
    for number, line in enumerate(re.split(r"\r\n|\r|\n", raw), start=1):
        cleaned = _CONTROL_RE.sub("", _ANSI_RE.sub("", line)).rstrip()
        result.append((number, cleaned))
    if result and result[-1][1] == "" and raw.endswith(("\n", "\r")):
        result.pop()
    return result


def _is_noise(line: str) -> bool:
    stripped = line.strip()
    return any(pattern.search(stripped) for pattern in _NOISE_RES)


def _split_source(source: str) -> tuple[str | None, int | None, str]:
    """'extensions.conf:123' -> ('extensions.conf', 123, ''); 'pbx_config' -> (None, None,
    'pbx_config'). The third item is the registrar when no file is given."""
    match = re.fullmatch(r"(?P<file>.+):(?P<line>\d+)", source)
    if match:
        return match["file"], int(match["line"]), ""
    return None, None, source


# -------------------------------------------------------------------------------- pjsip endpoints


@dataclass(frozen=True)
class CliAuth:
    direction: str  # "In" (inbound: the phone authenticates to us) or "Out"
    name: str  # the auth object's id, e.g. "10-auth"
    username: str
    line: int


@dataclass(frozen=True)
class CliAor:
    name: str
    max_contacts: int | None
    line: int
    truncated: bool = False  # the id filled its column (%-*.*s), so it may have been cut


@dataclass(frozen=True)
class CliContact:
    aor: str
    uri: str
    hash: str
    status: str  # short status label: "Avail", "Unavail", "NonQual", "Unknown", "Created", "Removed"
    rtt_ms: float | None  # None when Asterisk printed "nan"
    line: int
    truncated: bool = False  # "aor/uri" filled its 42-column field, so the URI may be cut


@dataclass(frozen=True)
class CliTransport:
    name: str
    type: str
    cos: int
    tos: int
    bind: str
    line: int


@dataclass(frozen=True)
class CliIdentify:
    name: str
    endpoint: str
    matches: list[str]
    line: int


@dataclass(frozen=True)
class CliChannel:
    name: str  # "PJSIP/11-0000002a"
    application: str
    state: str
    duration: str  # "00:02:17" (newer) or seconds (older releases)
    line: int
    exten: str | None = None
    connected_line: str | None = None


@dataclass(frozen=True)
class CliEndpoint:
    name: str
    callerid: str | None  # the number printed after "/", i.e. the "<...>" part of callerid=
    state: str  # device state: "Not in use", "In use", "Unavailable", ...
    channels: str  # "0 of inf"
    line: int
    truncated: bool = False  # "name/number" filled its 51-column field and may be cut
    auths: list[CliAuth] = field(default_factory=list)
    aors: list[CliAor] = field(default_factory=list)
    contacts: list[CliContact] = field(default_factory=list)
    transports: list[CliTransport] = field(default_factory=list)
    identifies: list[CliIdentify] = field(default_factory=list)
    active_channels: list[CliChannel] = field(default_factory=list)

    @property
    def transport(self) -> CliTransport | None:
        """The transport pinned with `transport=`; None when the endpoint has none (the usual case:
        Asterisk then picks one per request and prints no Transport line)."""
        return self.transports[0] if self.transports else None

    @property
    def identify_matches(self) -> list[str]:
        return [match for ident in self.identifies for match in ident.matches]


@dataclass(frozen=True)
class CliEndpoints:
    endpoints: list[CliEndpoint]
    objects_found: int | None  # the "Objects found: N" footer, None when absent
    notices: list[str]  # messages such as "No objects found."
    warnings: list[str]
    skipped: int

    @property
    def count_matches(self) -> bool | None:
        """Whether the footer agrees with the endpoints parsed (None without a footer)."""
        if self.objects_found is None:
            return None
        return self.objects_found == len(self.endpoints)

    def by_name(self) -> dict[str, CliEndpoint]:
        return {endpoint.name: endpoint for endpoint in self.endpoints}


_ENDPOINT_WIDTH = 51  # CLI_LAST_TABSTOP (62) - CLI_INDENT_TO_SPACES(0) (9) - 2
_AOR_WIDTH = 39  # CLI_LAST_TABSTOP - CLI_INDENT_TO_SPACES(1) (11) - 12
_CONTACT_WIDTH = 42  # "aor/uri" together: CLI_LAST_TABSTOP - indent(13) - 9 + 1 + 1

_EP_KEY_RE = re.compile(r"^\s*(?P<key>Endpoint|InAuth|OutAuth|Aor|Contact|Transport|Identify|Match|Channel|Exten):")
_EP_RE = re.compile(r"^\s*Endpoint:\s+(?P<id>\S+)\s+(?P<state>\S(?:.*?\S)?)\s+(?P<ch>\d+ of (?:inf|\d+))$")
_AUTH_RE = re.compile(r"^\s*(?P<dir>In|Out)Auth:\s+(?P<value>\S+)$")
_AOR_RE = re.compile(r"^\s*Aor:\s+(?P<name>\S+)\s+(?P<max>\d+)$")
_CONTACT_RE = re.compile(
    r"^\s*Contact:\s+(?P<aoruri>\S+)\s+(?P<hash>[0-9A-Za-z]{1,10})\s+(?P<status>\S+)\s+(?P<rtt>\S+)$"
)
_TRANSPORT_RE = re.compile(
    r"^\s*Transport:\s+(?P<name>\S+)\s+(?P<type>\S+)\s+(?P<cos>\d+)\s+(?P<tos>\d+)\s+(?P<bind>\S+)$"
)
_IDENTIFY_RE = re.compile(r"^\s*Identify:\s+(?P<value>\S+)$")
_MATCH_RE = re.compile(r"^\s*Match:\s+(?P<value>\S.*)$")
_CHANNEL_RE = re.compile(r"^\s*Channel:\s+(?P<chan>\S+)\s+(?P<state>\S(?:.*?\S)?)\s+(?P<time>\d[\d:]*)$")
_EXTEN_RE = re.compile(r"^\s*Exten:\s*(?P<exten>\S*)\s+CLCID:\s*(?P<clcid>.*)$")
_EP_HEADER_RE = re.compile(r"^\s*[\w/]+:\s+<[A-Za-z][^>]*\.{3,}[^>]*>")
_OBJECTS_RE = re.compile(r"^\s*Objects found:\s*(?P<n>\d+)$")


def _rtt(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return None if number != number else number  # NaN


def parse_pjsip_show_endpoints(text: str | bytes | None) -> CliEndpoints:
    """Parse `pjsip show endpoints` (the recursive form: endpoints with their auths, aors,
    contacts, transport, identifies and channels)."""
    endpoints: list[CliEndpoint] = []
    notices: list[str] = []
    warnings: list[str] = []
    skipped = 0
    objects_found: int | None = None
    current: CliEndpoint | None = None
    current_aor: str | None = None

    for number, line in clean_cli_lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        if _EP_HEADER_RE.match(line) or re.fullmatch(r"=+", stripped):
            continue  # a column header line: " Endpoint:  <Endpoint/CID....>", "Exten: <DialedExten..."
        key_match = _EP_KEY_RE.match(line)
        if stripped in ("No objects found.", "No object specified.") or stripped.startswith(
            ("Unable to find object", "No container returned")
        ):
            notices.append(stripped)
            continue
        found = _OBJECTS_RE.match(line)
        if found:
            objects_found = int(found["n"])
            continue
        if _is_noise(line):
            skipped += 1
            continue
        if not key_match:
            skipped += 1
            continue
        key = key_match["key"]
        if key == "Endpoint":
            ep = _EP_RE.match(line)
            if not ep:
                warnings.append(f"line {number}: endpoint line not understood: {stripped!r}")
                current = None
                continue
            ident = ep["id"]
            name, _, callerid = ident.rpartition("/") if "/" in ident else (ident, "", "")
            current = CliEndpoint(
                name=name,
                callerid=callerid or None,
                state=ep["state"],
                channels=ep["ch"],
                line=number,
                truncated=len(ident) >= _ENDPOINT_WIDTH,
            )
            current_aor = None
            endpoints.append(current)
            continue
        if current is None:
            warnings.append(f"line {number}: {key} line outside any endpoint: {stripped!r}")
            continue
        if key in ("InAuth", "OutAuth"):
            auth = _AUTH_RE.match(line)
            if not auth:
                warnings.append(f"line {number}: auth line not understood: {stripped!r}")
                continue
            auth_name, _, username = auth["value"].partition("/")
            current.auths.append(CliAuth(auth["dir"], auth_name, username, number))
        elif key == "Aor":
            aor = _AOR_RE.match(line)
            if not aor:
                warnings.append(f"line {number}: aor line not understood: {stripped!r}")
                continue
            current_aor = aor["name"]
            current.aors.append(CliAor(aor["name"], int(aor["max"]), number, truncated=len(aor["name"]) >= _AOR_WIDTH))
        elif key == "Contact":
            contact = _CONTACT_RE.match(line)
            if not contact:
                warnings.append(f"line {number}: contact line not understood: {stripped!r}")
                continue
            aoruri = contact["aoruri"]
            if current_aor is not None and aoruri.startswith(current_aor + "/"):
                aor_name, uri = current_aor, aoruri[len(current_aor) + 1 :]
            else:
                aor_name, _, uri = aoruri.partition("/")
            current.contacts.append(
                CliContact(
                    aor=aor_name,
                    uri=uri,
                    hash=contact["hash"],
                    status=contact["status"],
                    rtt_ms=_rtt(contact["rtt"]),
                    line=number,
                    truncated=len(aoruri) >= _CONTACT_WIDTH,
                )
            )
        elif key == "Transport":
            transport = _TRANSPORT_RE.match(line)
            if not transport:
                warnings.append(f"line {number}: transport line not understood: {stripped!r}")
                continue
            current.transports.append(
                CliTransport(
                    transport["name"],
                    transport["type"],
                    int(transport["cos"]),
                    int(transport["tos"]),
                    transport["bind"],
                    number,
                )
            )
        elif key == "Identify":
            identify = _IDENTIFY_RE.match(line)
            if not identify:
                warnings.append(f"line {number}: identify line not understood: {stripped!r}")
                continue
            ident_name, _, ident_endpoint = identify["value"].partition("/")
            current.identifies.append(CliIdentify(ident_name, ident_endpoint, [], number))
        elif key == "Match":
            match = _MATCH_RE.match(line)
            if not match or not current.identifies:
                warnings.append(f"line {number}: match line without an identify: {stripped!r}")
                continue
            current.identifies[-1].matches.append(match["value"].strip())
        elif key == "Channel":
            channel = _CHANNEL_RE.match(line)
            if not channel:
                warnings.append(f"line {number}: channel line not understood: {stripped!r}")
                continue
            chan, _, app = channel["chan"].rpartition("/")
            if not chan or not chan.count("/"):
                chan, app = channel["chan"], ""
            current.active_channels.append(CliChannel(chan, app, channel["state"], channel["time"], number))
        elif key == "Exten":
            exten = _EXTEN_RE.match(line)
            if not exten or not current.active_channels:
                warnings.append(f"line {number}: exten line without a channel: {stripped!r}")
                continue
            last = current.active_channels[-1]
            current.active_channels[-1] = CliChannel(
                last.name,
                last.application,
                last.state,
                last.duration,
                last.line,
                exten=exten["exten"] or None,
                connected_line=exten["clcid"].strip() or None,
            )

    if objects_found is not None and objects_found != len(endpoints):
        warnings.append(f"footer says {objects_found} objects but {len(endpoints)} endpoints were parsed")
    return CliEndpoints(endpoints, objects_found, notices, warnings, skipped)


# ---------------------------------------------------------------------------------- dialplan show


@dataclass(frozen=True)
class CliPriority:
    priority: int | Literal["hint"]
    application: str  # "" for a hint
    arguments: str  # the raw argument string; for a hint, the hint text "PJSIP/10&Custom:DND10,..."
    label: str | None
    file: str | None  # "extensions_additional.conf" when the source was "[file:line]"
    file_line: int | None
    registrar: str | None  # "pbx_config", "res_parking"... when the source was "[registrar]"
    line: int

    @property
    def is_hint(self) -> bool:
        return self.priority == "hint"

    @property
    def source(self) -> str:
        if self.file is not None:
            return f"{self.file}:{self.file_line}"
        return self.registrar or ""


@dataclass(frozen=True)
class CliExtension:
    name: str  # as printed, pattern "_" prefix kept: "_**."
    cid_match: str | None
    priorities: list[CliPriority]
    line: int

    @property
    def hint(self) -> CliPriority | None:
        return next((p for p in self.priorities if p.is_hint), None)


@dataclass(frozen=True)
class CliInclude:
    name: str
    timing: str | None  # "09:00-17:00,mon-fri,*,*" for a timed include
    registrar: str
    line: int


@dataclass(frozen=True)
class CliIgnorePattern:
    pattern: str
    registrar: str
    line: int


@dataclass(frozen=True)
class CliSwitch:
    name: str  # "Realtime"
    data: str  # "@extensions"
    registrar: str
    line: int


@dataclass(frozen=True)
class DialplanContext:
    name: str
    registrar: str
    line: int
    included: bool = False  # printed as "[ Included context ... ]" (exten@context searches)
    autohints: bool = False
    extensions: list[CliExtension] = field(default_factory=list)
    includes: list[CliInclude] = field(default_factory=list)
    ignore_patterns: list[CliIgnorePattern] = field(default_factory=list)
    switches: list[CliSwitch] = field(default_factory=list)

    def extension(self, name: str) -> CliExtension | None:
        return next((e for e in self.extensions if e.name == name), None)


@dataclass(frozen=True)
class CliDialplan:
    contexts: list[DialplanContext]
    total_extensions: int | None  # from the "-= N extensions (N priorities) in N contexts. =-" summary
    total_priorities: int | None
    total_contexts: int | None
    notices: list[str]  # "There is no existence of 'x' context" and the like
    warnings: list[str]
    skipped: int

    def context(self, name: str) -> DialplanContext | None:
        return next((c for c in self.contexts if c.name == name), None)

    @property
    def counts_match(self) -> bool | None:
        """Whether the summary agrees with what was parsed (None without a summary)."""
        if self.total_extensions is None:
            return None
        return (
            self.total_extensions == sum(len(c.extensions) for c in self.contexts)
            and self.total_priorities == sum(len(e.priorities) for c in self.contexts for e in c.extensions)
            and self.total_contexts == len(self.contexts)
        )


_CTX_RE = re.compile(r"^\[\s*(?P<inc>Included\s+)?[Cc]ontext\s+'(?P<name>[^']*)'\s+created by\s+'(?P<reg>[^']*)'\s*\]$")
_SOURCE_TAIL_RE = re.compile(r"^(?P<body>.*?)\s+\[(?P<src>[^\[\]]*)\]$")
_FIRST_RE = re.compile(r"^\s*'(?P<ext>.*?)'(?:\s+\(CID match '(?P<cid>.*?)'\))?\s*=>\s*(?P<rest>.*)$")
_LATER_RE = re.compile(r"^\s+(?:\[(?P<label>[^\]]*)\]\s+)?(?P<rest>(?:\d+\.|hint:).*)$")
_BODY_APP_RE = re.compile(r"^(?P<n>\d+)\.\s+(?P<app>[^()\s]*)\((?P<args>.*)\)$")
_BODY_APP_CUT_RE = re.compile(r"^(?P<n>\d+)\.\s+(?P<app>[^()\s]*)\((?P<args>.*)$")
_BODY_HINT_RE = re.compile(r"^hint:\s?(?P<hint>.*)$")
_INCLUDE_RE = re.compile(r"^\s*Include\s*=>\s*'(?P<name>.*)'\s+\[(?P<reg>[^\[\]]*)\]$")
_IGNORE_RE = re.compile(r"^\s*Ignore pattern\s*=>\s*'(?P<pat>.*)'\s+\[(?P<reg>[^\[\]]*)\]$")
_SWITCH_RE = re.compile(r"^\s*Alt\. Switch\s*=>\s*'(?P<sw>.*)'\s+\[(?P<reg>[^\[\]]*)\]$")
_SUMMARY_RE = re.compile(
    r"^-=\s*(?P<e>\d+)\s+extensions?\s+\((?P<p>\d+)\s+priorit(?:y|ies)\)\s+in\s+(?P<c>\d+)\s+contexts?\.\s*=-$"
)
_DP_NOTICE_RE = re.compile(r"^There is no existence of\b")


def _priority_from(body: str, source: str, label: str | None, number: int, warnings: list[str]) -> CliPriority | None:
    file, file_line, registrar = _split_source(source)
    hint = _BODY_HINT_RE.match(body)
    if hint:
        return CliPriority("hint", "", hint["hint"], label, file, file_line, registrar or None, number)
    app = _BODY_APP_RE.match(body)
    if not app:
        app = _BODY_APP_CUT_RE.match(body)
        if not app:
            warnings.append(f"line {number}: priority not understood: {body!r}")
            return None
        warnings.append(f"line {number}: arguments without a closing parenthesis (cut by Asterisk's buffer?)")
    return CliPriority(int(app["n"]), app["app"], app["args"], label, file, file_line, registrar or None, number)


def parse_dialplan_show(text: str | bytes | None) -> CliDialplan:
    """Parse `dialplan show` (whole dialplan or `dialplan show [exten@]context`)."""
    contexts: list[DialplanContext] = []
    notices: list[str] = []
    warnings: list[str] = []
    skipped = 0
    totals: tuple[int, int, int] | None = None
    context: DialplanContext | None = None
    extension: CliExtension | None = None
    autohints: set[int] = set()  # indexes into contexts

    for number, line in clean_cli_lines(text):
        stripped = line.strip()
        if not stripped:
            extension = None
            continue
        header = _CTX_RE.match(stripped)
        if header:
            context = DialplanContext(header["name"], header["reg"], number, included=bool(header["inc"]))
            contexts.append(context)
            extension = None
            continue
        summary = _SUMMARY_RE.match(stripped)
        if summary:
            totals = (int(summary["e"]), int(summary["p"]), int(summary["c"]))
            continue
        if _DP_NOTICE_RE.match(stripped):
            notices.append(stripped)
            continue
        if stripped == "Autohints support enabled":
            if contexts:
                autohints.add(len(contexts) - 1)
            continue
        if _is_noise(line):
            skipped += 1
            continue
        looks_like_entry = stripped.startswith(("Include", "Ignore pattern", "Alt. Switch", "'")) or bool(
            _LATER_RE.match(line)
        )
        if context is None:
            if looks_like_entry:
                warnings.append(f"line {number}: dialplan entry before any context header: {stripped!r}")
            else:
                skipped += 1
            continue
        if stripped.startswith("Include"):
            include = _INCLUDE_RE.match(line)
            if not include:
                warnings.append(f"line {number}: include line not understood: {stripped!r}")
                continue
            name, sep, timing = include["name"].partition(",")
            context.includes.append(CliInclude(name, timing if sep else None, include["reg"], number))
            continue
        if stripped.startswith("Ignore pattern"):
            ignore = _IGNORE_RE.match(line)
            if not ignore:
                warnings.append(f"line {number}: ignore pattern line not understood: {stripped!r}")
                continue
            context.ignore_patterns.append(CliIgnorePattern(ignore["pat"], ignore["reg"], number))
            continue
        if stripped.startswith("Alt. Switch"):
            switch = _SWITCH_RE.match(line)
            if not switch:
                warnings.append(f"line {number}: switch line not understood: {stripped!r}")
                continue
            sw_name, _, sw_data = switch["sw"].partition("/")
            context.switches.append(CliSwitch(sw_name, sw_data, switch["reg"], number))
            continue
        tail = _SOURCE_TAIL_RE.match(line)
        first = _FIRST_RE.match(tail["body"]) if tail else None
        if first and tail:
            extension = CliExtension(first["ext"], first["cid"], [], number)
            context.extensions.append(extension)
            priority = _priority_from(first["rest"].strip(), tail["src"], None, number, warnings)
            if priority is not None:
                extension.priorities.append(priority)
            continue
        later = _LATER_RE.match(tail["body"]) if tail else None
        if later and tail:
            if extension is None:
                warnings.append(f"line {number}: priority line without an extension: {stripped!r}")
                continue
            priority = _priority_from(later["rest"].strip(), tail["src"], later["label"], number, warnings)
            if priority is not None:
                extension.priorities.append(priority)
            continue
        if looks_like_entry:
            warnings.append(f"line {number}: dialplan line not understood: {stripped!r}")
        else:
            skipped += 1

    contexts = [replace(c, autohints=True) if i in autohints else c for i, c in enumerate(contexts)]
    result = CliDialplan(
        contexts,
        totals[0] if totals else None,
        totals[1] if totals else None,
        totals[2] if totals else None,
        notices,
        warnings,
        skipped,
    )
    if totals is not None and result.counts_match is False:
        parsed_e = sum(len(c.extensions) for c in contexts)
        parsed_p = sum(len(e.priorities) for c in contexts for e in c.extensions)
        warnings.append(
            f"summary says {totals[0]} extensions ({totals[1]} priorities) in {totals[2]} contexts"
            f" but {parsed_e} ({parsed_p}) in {len(contexts)} were parsed"
        )
    return result


# -------------------------------------------------------------------------------- core show hints


@dataclass(frozen=True)
class CliHint:
    exten: str
    context: str
    devices: list[str]  # the hint's device part split on "&"
    presence_provider: str | None  # the part after "," ("CustomPresence:10"), if shown
    state: str
    presence: str | None  # None on releases that do not print a Presence column
    watchers: int
    line: int
    truncated: bool = False  # a column was filled to its width, so exten@context or devices may be cut

    @property
    def raw(self) -> str:
        text = "&".join(self.devices)
        return f"{text},{self.presence_provider}" if self.presence_provider is not None else text


@dataclass(frozen=True)
class CliHints:
    hints: list[CliHint]
    registered: int | None  # from "- N hints registered"; 0 for "There are no registered dialplan hints"
    notices: list[str]
    warnings: list[str]
    skipped: int

    @property
    def count_matches(self) -> bool | None:
        if self.registered is None:
            return None
        return self.registered == len(self.hints)

    def find(self, exten: str, context: str) -> CliHint | None:
        return next((h for h in self.hints if h.exten == exten and h.context == context), None)


_HINT_RE = re.compile(
    r"^(?P<ec>\S+?)\s*: (?P<dev>.*?)\s+State:(?P<state>\S(?:.*?\S)?)"
    r"(?:\s+Presence:(?P<pres>\S(?:.*?\S)?))?\s+Watchers\s+(?P<w>\d+)$"
)
_HINT_FOOTER_RE = re.compile(r"^-\s*(?P<n>\d+)\s+hints? registered$")
_HINT_NOTICE_RE = re.compile(
    r"^(?:There are no registered dialplan hints|No hints matching extension\b|\d+ hints? matching extension\b)"
)
# (exten@context column width, devices column width) of the known releases.
_HINT_WIDTHS = {20: 20, 30: 60}


def parse_core_show_hints(text: str | bytes | None) -> CliHints:
    """Parse `core show hints` (either column layout; older releases without "Presence:" too)."""
    hints: list[CliHint] = []
    notices: list[str] = []
    warnings: list[str] = []
    skipped = 0
    registered: int | None = None

    for number, line in clean_cli_lines(text):
        stripped = line.strip()
        if not stripped or stripped == "-= Registered Asterisk Dial Plan Hints =-" or re.fullmatch(r"-{4,}", stripped):
            continue
        footer = _HINT_FOOTER_RE.match(stripped)
        if footer:
            registered = int(footer["n"])
            continue
        if _HINT_NOTICE_RE.match(stripped):
            notices.append(stripped)
            if stripped.startswith("There are no registered"):
                registered = 0
            continue
        if _is_noise(line):
            skipped += 1
            continue
        match = _HINT_RE.match(stripped)
        if not match:
            if "State:" in stripped or "Watchers" in stripped:
                warnings.append(f"line {number}: hint line not understood: {stripped!r}")
            else:
                skipped += 1
            continue
        ec = match["ec"]
        exten, at, context = ec.rpartition("@")
        if not at:
            exten, context = ec, ""
        colon = stripped.index(": ")
        dev_start = colon + 2
        raw_dev = stripped[dev_start : dev_start + len(match["dev"])]
        dev_width = _HINT_WIDTHS.get(colon)
        truncated = len(ec) >= colon and colon in _HINT_WIDTHS  # no padding before ":" -> column filled
        if dev_width is not None and len(raw_dev) >= dev_width:
            truncated = True
        device_part, comma, provider = match["dev"].partition(",")
        hints.append(
            CliHint(
                exten=exten,
                context=context,
                devices=[d for d in device_part.split("&") if d],
                presence_provider=provider if comma else None,
                state=match["state"],
                presence=match["pres"],
                watchers=int(match["w"]),
                line=number,
                truncated=truncated,
            )
        )

    if registered is not None and registered != len(hints):
        warnings.append(f"footer says {registered} hints registered but {len(hints)} were parsed")
    return CliHints(hints, registered, notices, warnings, skipped)


# ----------------------------------------------------------------------------------- features show


@dataclass(frozen=True)
class CliFeatureGroup:
    name: str
    items: list[tuple[str, str]]  # (application map item, DTMF)
    line: int


@dataclass(frozen=True)
class CliParkingLot:
    name: str
    fields: dict[str, str]  # "Parking extension" -> "700", "Parked call extensions" -> "701-720", ...
    line: int

    @property
    def extension(self) -> str | None:
        return self.fields.get("Parking extension")

    @property
    def context(self) -> str | None:
        return self.fields.get("Parking context")

    @property
    def positions(self) -> str | None:
        return self.fields.get("Parked call extensions")


@dataclass(frozen=True)
class CliFeatures:
    builtin: dict[str, tuple[str, str]]  # name -> (default, current)
    dynamic: dict[str, tuple[str, str]]  # application map name -> ("no def", DTMF)
    groups: list[CliFeatureGroup]
    parking_lots: list[CliParkingLot]
    notices: list[str]
    warnings: list[str]
    skipped: int

    @property
    def pickup_extension(self) -> str | None:
        """The current pickup extension (features.conf `pickupexten`), None when not shown or empty."""
        for name in ("Pickup", "Pickup extension"):
            if name in self.builtin:
                return self.builtin[name][1] or None
        return None


_HFS_NAME_WIDTH = 25
_HFS_VALUE_WIDTH = 7
_PARK_HEADER_RE = re.compile(r"^Call parking(?:\s*\(Parking lot:\s*(?P<lot>[^)]*)\))?$")
_PARK_FIELD_RE = re.compile(r"^(?P<key>[^:]+?)\s*:\s+(?P<value>.*)$")


def _hfs_row(line: str) -> tuple[str, str, str]:
    """Split a "%-25s %-7s %-7s" row. Column positions matter: an empty default prints as seven
    spaces, so splitting on whitespace would move the current value into the default column."""
    if len(line) > _HFS_NAME_WIDTH and line[_HFS_NAME_WIDTH] == " " and line[:_HFS_NAME_WIDTH].strip():
        name = line[:_HFS_NAME_WIDTH].strip()
        rest = line[_HFS_NAME_WIDTH + 1 :]
    elif len(line) <= _HFS_NAME_WIDTH:
        return line.strip(), "", ""
    else:  # a name longer than its column pushes the rest right; fall back to whitespace
        parts = line.split(None, 1)
        name, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        tokens = rest.split()
        return name, (tokens[0] if tokens else ""), (tokens[1] if len(tokens) > 1 else "")
    if len(rest) > _HFS_VALUE_WIDTH and rest[_HFS_VALUE_WIDTH] == " ":  # "no def" has a space in it
        return name, rest[:_HFS_VALUE_WIDTH].strip(), rest[_HFS_VALUE_WIDTH + 1 :].strip()
    if len(rest) <= _HFS_VALUE_WIDTH and len(rest.split()) <= 1:
        return name, rest.strip(), ""
    tokens = rest.split()
    return name, (tokens[0] if tokens else ""), (tokens[1] if len(tokens) > 1 else "")


def parse_features_show(text: str | bytes | None) -> CliFeatures:
    """Parse `features show`."""
    builtin: dict[str, tuple[str, str]] = {}
    dynamic: dict[str, tuple[str, str]] = {}
    groups: list[CliFeatureGroup] = []
    lots: list[CliParkingLot] = []
    notices: list[str] = []
    warnings: list[str] = []
    skipped = 0
    section: str | None = None

    for number, line in clean_cli_lines(text):
        stripped = line.strip()
        if not stripped or re.fullmatch(r"-+(?:\s+-+)*", stripped):
            continue
        if stripped.startswith("Builtin Feature") and "Default" in stripped:
            section = "builtin"
            continue
        if stripped.startswith("Dynamic Feature") and "Default" in stripped:
            section = "dynamic"
            continue
        if stripped == "Feature Groups:":
            section = "groups"
            continue
        park = _PARK_HEADER_RE.match(stripped)
        if park:
            section = "parking"
            lots.append(CliParkingLot((park["lot"] or "default").strip(), {}, number))
            continue
        if stripped == "(none)":
            continue
        if _is_noise(line):
            skipped += 1
            continue
        if section in ("builtin", "dynamic"):
            name, default, current = _hfs_row(line.rstrip())
            if not name:
                warnings.append(f"line {number}: feature line not understood: {stripped!r}")
                continue
            (builtin if section == "builtin" else dynamic)[name] = (default, current)
        elif section == "groups":
            group = re.match(r"^===>\s*Group:\s*(?P<name>.*)$", stripped)
            item = re.match(r"^===>\s*-->\s*(?P<item>\S+)\s*\((?P<dtmf>[^)]*)\)$", stripped)
            if group:
                groups.append(CliFeatureGroup(group["name"].strip(), [], number))
            elif item and groups:
                groups[-1].items.append((item["item"], item["dtmf"]))
            else:
                warnings.append(f"line {number}: feature group line not understood: {stripped!r}")
        elif section == "parking":
            pfield = _PARK_FIELD_RE.match(stripped)
            if not pfield:
                warnings.append(f"line {number}: parking line not understood: {stripped!r}")
                continue
            key, value = pfield["key"].strip(), pfield["value"].strip()
            if key == "Parking lot":
                lots.append(CliParkingLot(value, {}, number))
            elif lots:
                lots[-1].fields[key] = value
        else:
            skipped += 1

    return CliFeatures(builtin, dynamic, groups, lots, notices, warnings, skipped)


# ------------------------------------------------------------------------------ core show version

_VERSION_RE = re.compile(r"^Asterisk\s+(?P<v>\S+)\s+built by\b")
_CONNECTED_RE = re.compile(r"^Connected to Asterisk\s+(?P<v>\S+)\s+currently running\b")


def parse_core_show_version(text: str | bytes | None) -> str | None:
    """The version from "Asterisk 18.20.0 built by ...", e.g. "18.20.0" (also "certified/18.9-cert5"
    or "GIT-master-abc123" as printed). Falls back to the "Connected to Asterisk X currently
    running" banner of `asterisk -r`. None when neither is present."""
    fallback: str | None = None
    for _number, line in clean_cli_lines(text):
        stripped = line.strip()
        match = _VERSION_RE.match(stripped)
        if match:
            return match["v"]
        connected = _CONNECTED_RE.match(stripped)
        if connected and fallback is None:
            fallback = connected["v"]
    return fallback
