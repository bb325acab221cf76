"""`extensions.conf` as pbx_config builds it: contexts, extensions (literal or `_pattern`, with an
optional `/callerid` match), priorities (`1`, `n`, `n(label)`, `hint`, `same =>`), `include =>`
(timed includes kept with their timing: they count as reachable), switches and ignore patterns.
`[general]` and `[globals]` are settings, not contexts."""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.pbx.conf import ConfFile, Loc, ReadIssue, split_args

SETTINGS_SECTIONS = ("general", "globals")


@dataclass(frozen=True)
class Priority:
    number: int
    label: str | None
    app: str  # as written ("Dial", "Macro"…); compare case-insensitively
    args: str  # the raw argument text
    loc: Loc

    @property
    def app_lower(self) -> str:
        return self.app.lower()

    def arg_list(self) -> list[str]:
        return split_args(self.args) if self.args else []

    def __str__(self) -> str:
        return f"{self.app}({self.args})"


@dataclass(frozen=True)
class Hint:
    devices: tuple[str, ...]  # "PJSIP/10", "Custom:DND10", "park:71@parkedcalls"…
    presence: str | None
    loc: Loc


@dataclass
class Extension:
    name: str  # "100", "_2X", "s", "h"…; patterns keep their leading "_"
    cid: str | None
    loc: Loc
    priorities: dict[int, Priority] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    hint: Hint | None = None
    last: int = 0  # the priority `n` continues from

    @property
    def is_pattern(self) -> bool:
        return self.name.startswith("_")

    def ordered(self) -> list[Priority]:
        return [self.priorities[k] for k in sorted(self.priorities)]


@dataclass(frozen=True)
class Include:
    context: str
    timing: str | None  # "9:00-17:00,mon-fri,*,*": reachable at those times, so reachable
    loc: Loc


@dataclass
class Context:
    name: str
    loc: Loc
    extensions: dict[str, Extension] = field(default_factory=dict)  # key: name or name/cid
    includes: list[Include] = field(default_factory=list)
    switches: list[tuple[str, str, Loc]] = field(default_factory=list)  # (kind, data, loc)
    ignorepats: list[tuple[str, Loc]] = field(default_factory=list)


@dataclass
class Dialplan:
    contexts: dict[str, Context] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)
    general: dict[str, str] = field(default_factory=dict)
    issues: list[ReadIssue] = field(default_factory=list)


def _parse_priority(text: str) -> tuple[str, str | None]:
    """"n(label)" -> ("n", "label"); "1" -> ("1", None)."""
    text = text.strip()
    if text.endswith(")") and "(" in text:
        base, _, label = text[:-1].partition("(")
        return base.strip(), label.strip() or None
    return text, None


def _parse_app(text: str) -> tuple[str, str]:
    """"Dial(PJSIP/10,20)" -> ("Dial", "PJSIP/10,20"); "Hangup" -> ("Hangup", ""); old "Dial,x" too."""
    text = text.strip()
    paren = text.find("(")
    comma = text.find(",")
    if paren >= 0 and (comma < 0 or paren < comma):
        app = text[:paren].strip()
        rest = text[paren + 1:]
        if rest.endswith(")"):
            rest = rest[:-1]
        return app, rest
    if comma >= 0:
        return text[:comma].strip(), text[comma + 1:]
    return text, ""


class _Builder:
    def __init__(self, plan: Dialplan) -> None:
        self.plan = plan
        self.last_ext: dict[str, Extension] = {}  # context -> the extension `same =>` continues

    def warn(self, message: str, loc: Loc) -> None:
        self.plan.issues.append(ReadIssue("warning", message, loc))

    def extension_line(self, ctx: Context, value: str, loc: Loc, same: bool) -> None:
        if same:
            ext = self.last_ext.get(ctx.name)
            if ext is None:
                self.warn("'same =>' without an 'exten =>' before it in this context", loc)
                return
            prio_text, _, app_text = value.partition(",")
        else:
            name, _, rest = value.partition(",")
            prio_text, _, app_text = rest.partition(",")
            name = name.strip()
            if not name or not prio_text.strip():
                self.warn(f"incomplete extension line: {value[:60]}", loc)
                return
            cid: str | None = None
            if "/" in name and not name.startswith("/"):
                name, _, cid = name.partition("/")
            key = f"{name}/{cid}" if cid else name
            ext = ctx.extensions.get(key)
            if ext is None:
                ext = ctx.extensions[key] = Extension(name=name, cid=cid, loc=loc)
            self.last_ext[ctx.name] = ext
        base, label = _parse_priority(prio_text)
        offset = 0
        if "+" in base:  # pbx_config: "n+2", "1+1", "label+101": the base, then the offset added
            base, _, plus = base.partition("+")
            offset = int(plus) if plus.strip().isdigit() else 0
            base = base.strip()
        low = base.lower()
        if low == "hint":
            devices, _, presence = app_text.partition(",")
            ext.hint = Hint(tuple(d.strip() for d in devices.split("&") if d.strip()), presence.strip() or None, loc)
            return
        if low in ("n", "next"):
            number = ext.last + (offset or 1)
        elif low in ("s", "same"):
            number = ext.last + offset  # "same priority": an alias line; rarely used
        elif base.isdigit():
            number = int(base) + offset
        elif base in ext.labels:
            number = ext.labels[base] + offset
        else:
            self.warn(f"unknown priority or label {prio_text.strip()!r}", loc)
            return
        app, args = _parse_app(app_text)
        if number in ext.priorities:
            # pbx_config: "Unable to register extension … priority … already in use": the first stays.
            self.warn(f"priority {number} of {ext.name} in [{ctx.name}] is already defined at "
                      f"{ext.priorities[number].loc}; Asterisk keeps the first", loc)
        else:
            ext.priorities[number] = Priority(number, label, app, args, loc)
            if label:
                ext.labels[label] = number
        ext.last = number


def read_dialplan(conf: ConfFile) -> Dialplan:
    plan = Dialplan()
    builder = _Builder(plan)
    for section in conf.categories():
        if section.name in SETTINGS_SECTIONS:
            target = plan.general if section.name == "general" else plan.globals
            for opt in section.options:
                target[opt.key] = opt.value
            continue
        ctx = plan.contexts.get(section.name)
        if ctx is None:
            ctx = plan.contexts[section.name] = Context(section.name, section.loc)
        for opt in section.options:
            key = opt.key.lower()
            if key == "exten":
                builder.extension_line(ctx, opt.value, opt.loc, same=False)
            elif key == "same":
                builder.extension_line(ctx, opt.value, opt.loc, same=True)
            elif key == "include":
                name, sep, timing = opt.value.replace("|", ",").partition(",")
                ctx.includes.append(Include(name.strip(), timing.strip() if sep else None, opt.loc))
            elif key in ("switch", "lswitch", "eswitch"):
                ctx.switches.append((key, opt.value, opt.loc))
                kind, _, data = opt.value.partition("/")
                if kind.strip().lower() == "loopback" and data.strip():
                    # Loopback/ctx looks the extension up in another local context: an include
                    ctx.includes.append(Include(data.strip().split("@")[-1], None, opt.loc))
                else:
                    plan.issues.append(ReadIssue(
                        "error", f"[{ctx.name}] switches unmatched calls to {opt.value}: extensions found there are "
                                 "not in these files, so the dialplan is not completely known", opt.loc,
                        blocking=True))
            elif key == "ignorepat":
                ctx.ignorepats.append((opt.value, opt.loc))
            else:
                builder.warn(f"unknown dialplan keyword {opt.key!r} in [{ctx.name}]", opt.loc)
    return plan
