"""Asterisk's configuration file syntax, read the way Asterisk's `main/config.c` reads it.

One top-level file (e.g. `pjsip.conf`) and everything it `#include`s / `#tryinclude`s (globs too)
is one stream: an included file continues the category it was included in (and after it, the
including file goes on in its own category). Categories are `[name]`, `[name](!)` (a template),
`[name](tpl1,tpl2)` (inherits the variables of the first category of each name, which must be
defined before), `[name](+)` (adds to the first non-template category of that name). Variables are
`key = value` or `key => value`. `;` starts a comment unless escaped (`\\;`), `;-- … --;` is a
block comment (nestable, across lines; like config.c, each file has its own comment state, so a
block comment left open ends with its file). Every variable keeps its file and line.

What Asterisk would refuse or cannot be known is never dropped silently: it becomes a `ReadIssue`
with file and line. An issue is `blocking` when part of the configuration is unknown (an
unreadable, binary or oversized file, an include loop, a `#exec`): the checks that need this file
then report `not_evaluated` instead of judging from half the facts.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from collectors.pbx.dump import DumpFile

# The folder Asterisk reads its configuration from; includes may name files under it absolutely.
CONFIG_ROOT = "/etc/asterisk/"
MAX_INCLUDE_DEPTH = 10  # config.c's MAX_INCLUDE_LEVEL: the top file and 9 levels of #include below it


@dataclass(frozen=True, order=True)
class Loc:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ReadIssue:
    severity: Literal["error", "warning"]
    message: str
    loc: Loc | None = None
    blocking: bool = False  # part of the configuration is unknown because of it

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message


@dataclass(frozen=True)
class Option:
    key: str
    value: str
    loc: Loc
    inherited: bool = False  # copied from a template


@dataclass
class Section:
    name: str
    loc: Loc
    is_template: bool = False
    templates: tuple[str, ...] = ()
    options: list[Option] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value Asterisk's object loaders keep for a single-valued option: the last one."""
        opt = self.option(key)
        return opt.value if opt is not None else default

    def option(self, key: str) -> Option | None:
        key = key.lower()
        for opt in reversed(self.options):
            if opt.key.lower() == key:
                return opt
        return None

    def get_all(self, key: str) -> list[Option]:
        key = key.lower()
        return [o for o in self.options if o.key.lower() == key]


@dataclass
class ConfFile:
    """One top-level configuration file with everything it includes."""

    name: str
    present: bool
    sections: list[Section] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # files read, top-level first

    @property
    def complete(self) -> bool:
        """Whether everything Asterisk would read from this file is known."""
        return self.present and not any(i.blocking for i in self.issues)

    def blocking_issues(self) -> list[ReadIssue]:
        return [i for i in self.issues if i.blocking]

    def categories(self, include_templates: bool = False) -> Iterator[Section]:
        return (s for s in self.sections if include_templates or not s.is_template)

    def named(self, name: str) -> list[Section]:
        return [s for s in self.sections if s.name == name and not s.is_template]

    def first(self, name: str) -> Section | None:
        found = self.named(name)
        return found[0] if found else None


def decode(file: DumpFile, issues: list[ReadIssue]) -> str | None:
    """The text of a file, or None (with a blocking issue) when it cannot be known."""
    if file.data is None:
        issues.append(ReadIssue("error", f"{file.path} could not be read: {file.error or 'no data'}",
                                Loc(file.path, 0), blocking=True))
        return None
    data = file.data
    if b"\x00" in data:
        issues.append(ReadIssue("error", f"{file.path} is a binary file (it holds NUL bytes), not a configuration "
                                         "file", Loc(file.path, 0), blocking=True))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        # Asterisk reads bytes; the syntax is ASCII, so Latin-1 keeps every structural character.
        issues.append(ReadIssue("warning", f"{file.path} is not UTF-8 (first bad byte on line {line}); read as "
                                           "Latin-1", Loc(file.path, line)))
        return data.decode("latin-1")


class _Reader:
    def __init__(self, tree: dict[str, DumpFile], top: str) -> None:
        self.tree = tree
        self.result = ConfFile(name=top, present=top in tree)
        self.current: Section | None = None  # the category this file's variables go to
        self.latest: Section | None = None  # config.c's cfg->current: where an included file starts
        self.comment_depth = 0
        self.comment_opened: list[Loc] = []  # where each open ';--' block comment began
        self.stack: list[str] = []

    # --- files and includes ----------------------------------------------------------------

    def read_file(self, path: str, origin: Loc | None) -> None:
        if path in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(path):], path])
            self.issue("error", f"include loop: {chain}; Asterisk would include these files without end",
                       origin, blocking=True)
            return
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            self.issue("error", f"includes nested deeper than {MAX_INCLUDE_DEPTH} levels at {path}", origin,
                       blocking=True)
            return
        known = len(self.result.issues)
        text = decode(self.tree[path], self.result.issues)
        if origin is not None:  # say where the file is included from: that is the line to look at
            self.result.issues[known:] = [ReadIssue(i.severity, f"{i.message} (included at {origin})", i.loc,
                                                    i.blocking) for i in self.result.issues[known:]]
        if path not in self.result.files:
            self.result.files.append(path)
        if text is None:
            return
        self.stack.append(path)
        # config.c keeps the block-comment state per file (a local of config_text_file_load).
        # So is the current category: an included file starts in the latest category, and once it is
        # read the including file goes on in its own (config.c's local `cat`).
        outer = (self.comment_depth, self.comment_opened, self.current)
        self.comment_depth, self.comment_opened, self.current = 0, [], self.latest
        try:
            for number, raw in enumerate(text.splitlines(), start=1):
                self.line(raw, Loc(path, number))
            if self.comment_depth:
                self.issue("warning", "a ';--' block comment is never closed; it ends with the file",
                           self.comment_opened[-1])
        finally:
            self.stack.pop()
            self.comment_depth, self.comment_opened, self.current = outer

    def include(self, arg: str, loc: Loc, optional: bool) -> None:
        name = arg.strip()
        if len(name) >= 2 and name[0] in "\"<" and name[-1] in "\">":
            name = name[1:-1].strip()
        if not name:
            self.issue("warning", "#include without a file name", loc)
            return
        if name.startswith(CONFIG_ROOT):
            name = name[len(CONFIG_ROOT):]
        elif name.startswith("/"):
            # Outside the configuration folder: not part of what was read, so not known.
            if optional:
                self.issue("warning", f"#tryinclude of {name}, outside {CONFIG_ROOT}: not read", loc)
            else:
                self.issue("error", f"#include of {name}, outside {CONFIG_ROOT}: not read", loc, blocking=True)
            return
        if any(c in name for c in "*?["):
            matches = sorted(p for p in self.tree if fnmatch.fnmatchcase(p, name) and p.count("/") == name.count("/"))
        else:
            matches = [name] if name in self.tree else []
        if not matches:
            if not optional:
                self.issue("warning", f"#include {name}: no such file; Asterisk refuses to load "
                                      f"{self.result.name} when an #include is missing", loc)
            return
        for match in matches:
            self.read_file(match, loc)

    # --- lines ----------------------------------------------------------------------------

    def strip_comments(self, raw: str, loc: Loc) -> str:
        if ";" not in raw and self.comment_depth == 0:
            return raw
        out: list[str] = []
        i, n = 0, len(raw)
        while i < n:
            c = raw[i]
            if self.comment_depth:
                if raw.startswith("--;", i):
                    self.comment_depth -= 1
                    self.comment_opened.pop()
                    i += 3
                elif raw.startswith(";--", i) and not raw.startswith(";---", i):
                    self.comment_depth += 1
                    self.comment_opened.append(loc)
                    i += 3
                else:
                    i += 1
                continue
            if c == "\\" and i + 1 < n and raw[i + 1] == ";":
                out.append(";")
                i += 2
                continue
            if c == ";":
                # ";--" opens a block comment, but not ";---": config.c checks the fourth
                # character, so FreePBX's ";-----…" banners stay line comments.
                if raw.startswith(";--", i) and not raw.startswith(";---", i):
                    self.comment_depth += 1
                    self.comment_opened.append(loc)
                    i += 3
                    continue
                break
            out.append(c)
            i += 1
        return "".join(out)

    def line(self, raw: str, loc: Loc) -> None:
        text = self.strip_comments(raw, loc).strip()
        if not text:
            return
        first = text[0]
        if first == "[":
            self.category(text, loc)
        elif first == "#":
            self.directive(text, loc)
        else:
            self.variable(text, loc)

    def directive(self, text: str, loc: Loc) -> None:
        word, _, arg = text[1:].partition(" ")
        if "\t" in word:
            word, _, rest = word.partition("\t")
            arg = rest + " " + arg
        word = word.lower()
        if word == "include":
            self.include(arg, loc, optional=False)
        elif word == "tryinclude":
            self.include(arg, loc, optional=True)
        elif word == "exec":
            self.issue("error", f"#exec {arg.strip()}: the output of a command is part of this configuration and "
                                "cannot be known from the files", loc, blocking=True)
        else:
            self.issue("warning", f"unknown directive #{word}", loc)

    def category(self, text: str, loc: Loc) -> None:
        end = text.find("]")
        if end < 0:
            self.issue("error", f"category header without ']': {text[:60]}; Asterisk refuses this file", loc,
                       blocking=True)
            return
        name = text[1:end].strip()
        rest = text[end + 1:].strip()
        is_template, append, templates = False, False, []
        if rest:
            if not (rest.startswith("(") and ")" in rest):
                self.issue("warning", f"unexpected text after [{name}]: {rest[:40]}", loc)
            else:
                for part in rest[1:rest.index(")")].split(","):
                    part = part.strip()
                    if part == "!":
                        is_template = True
                    elif part.startswith("+"):
                        append = True  # "+" or "+type=endpoint"-style filters: add to the existing one
                    elif part:
                        templates.append(part)
        if append:
            # config.c's ast_category_get: the first category of that name (case-insensitive), not a template
            existing = [s for s in self.result.sections if s.name.lower() == name.lower() and not s.is_template]
            if existing:
                self.current = self.latest = existing[0]
                return
            self.issue("warning", f"[{name}](+) adds to a category that does not exist yet; a new one is made", loc)
        section = Section(name=name, loc=loc, is_template=is_template, templates=tuple(templates))
        for tpl in templates:
            # config.c looks the base up with ast_category_get: the first category of that name
            source = next((s for s in self.result.sections if s.name.lower() == tpl.lower()), None)
            if source is None:
                self.issue("error", f"[{name}] inherits from [{tpl}], which is not defined before it; Asterisk "
                                    "refuses this file", loc, blocking=True)
                continue
            section.options.extend(Option(o.key, o.value, o.loc, inherited=True) for o in source.options)
        self.result.sections.append(section)
        self.current = self.latest = section

    def variable(self, text: str, loc: Loc) -> None:
        eq = text.find("=")
        if eq < 0:
            self.issue("warning", f"no '=' in line: {text[:60]}", loc)
            return
        key = text[:eq].strip()
        value = text[eq + 1:]
        if self.current is None:
            self.issue("error", f"'{key.rstrip('+').strip()}' is outside any [category]; Asterisk refuses this "
                                "file", loc, blocking=True)
            return
        if key.endswith("+"):  # `name += more`: config.c appends the raw text after '=' to the last value
            key = key[:-1].strip()
            options = self.current.options
            prior = next((i for i in range(len(options) - 1, -1, -1) if options[i].key == key), None)
            if prior is not None:  # ...and updates that variable in place
                options[prior] = Option(key, (options[prior].value + value).strip(), loc)
                return
        elif value.startswith(">"):
            value = value[1:]
        self.current.options.append(Option(key, value.strip(), loc))

    def issue(self, severity: Literal["error", "warning"], message: str, loc: Loc | None,
              blocking: bool = False) -> None:
        self.result.issues.append(ReadIssue(severity, message, loc, blocking))


def read_conf(tree: dict[str, DumpFile], top: str) -> ConfFile:
    """Read *top* (a path relative to the configuration folder) with everything it includes."""
    reader = _Reader(tree, top)
    if top in tree:
        reader.read_file(top, None)
    return reader.result


def split_args(text: str) -> list[str]:
    """Split an application's arguments on top-level commas (not inside (), [], {} or quotes)."""
    args: list[str] = []
    depth, quote, start, i = 0, "", 0, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
        elif c == '"':
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif c == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
        i += 1
    args.append(text[start:])
    return args
