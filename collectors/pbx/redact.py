"""Remove secrets from Asterisk, FreePBX and fail2ban configuration files, line by line.

Every line stays where it was (same number of lines, same line endings), so a `file:line`
citation made on the redacted file points at the same line of the real one. Only the secret value
is replaced by `REDACTED`; keys, spacing and inline `;comments` are kept.

The text is handled as latin-1, which maps every byte to one character and back: a file in any
ASCII-compatible encoding (UTF-8, latin-1, cp1252, broken mixtures) comes back byte for byte,
except for the redacted values.

What is redacted:
* the value of secret keys (`secret`, `password`, `md5_cred`, `dbpass`, `token`, `api_key`, …,
  and keys ending in `secret`, `password`, `passwd`, `token`, `passphrase`), written
  `key=value`, `key => value` or `key: value`, case-insensitive;
* the password of `register => user:secret@host` lines (chan_sip, chan_iax2);
* voicemail PINs: `mailbox => pin,Full Name,email,…` in the mailbox contexts of voicemail.conf-like
  files (not in `[general]` or `[zonemessages]`);
* MeetMe PINs (`conf => room,pin,adminpin` in meetme.conf-like files);
* the literal password of the `Authenticate()` and `DISA()` dialplan applications;
* PHP-style `$amp_conf['AMPDBPASS'] = '…';` assignments (FreePBX's freepbx.conf).
"""

from __future__ import annotations

import posixpath
import re

REDACTED = "REDACTED"

SECRET_KEYS = frozenset({
    "secret", "password", "passwd", "pass", "md5_cred", "md5secret", "dbpass", "dbpassword", "authpassword",
    "remotesecret", "ampdbpass", "ampmgrpass", "auth_password", "token", "api_key", "apikey", "pin",
    "adminpin", "dbsecret", "privatekey_password", "passphrase",
})
SECRET_SUFFIXES = ("secret", "password", "passwd", "token", "passphrase", "api_key", "apikey", "_pass", "_pin")

# Lines end at \n, \r\n or \r only (str.splitlines would also split at latin-1 \x85, \x0c…).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+\Z")
_KV = re.compile(r"^(\s*)([A-Za-z0-9_.\-]+)(\s*(?:=>|=|:)\s*)(.*)$", re.S | re.A)
_SECTION = re.compile(r"^\s*\[([^\]]*)\]", re.A)
_APP_PASSWORD = re.compile(r"\b(Authenticate|DISA)(\s*\(\s*)([^,)\s$/][^,)]*)", re.I | re.A)
_PHP_ASSIGN = re.compile(r"""(\[\s*['"])([A-Za-z0-9_]+)(['"]\s*\]\s*=\s*)(['"])(.*?)(\4)""", re.A)
_REGISTER_PREFIX = re.compile(r"^(?:[^?@:/]*\?)?(?:[A-Za-z0-9]+://)?")


def is_secret_key(key: str) -> bool:
    k = key.strip().lower()
    return k in SECRET_KEYS or k.endswith(SECRET_SUFFIXES)


# A value up to its first unescaped `;` (a backslash escapes the next character, whatever it is).
_BEFORE_COMMENT = re.compile(r"(?:[^\\;]++|\\.?)*+", re.S)


def _split_comment(value: str) -> tuple[str, str]:
    """Split an Asterisk value at its first unescaped `;`: (value without trailing blanks, rest)."""
    m = _BEFORE_COMMENT.match(value)
    i = m.end() if m else 0
    head, tail = value[:i], value[i:]
    stripped = head.rstrip()
    return stripped, head[len(stripped):] + tail


def _redact_register(value: str) -> str | None:
    """`[peer?][transport://]user[@domain[:port]][:secret[:authuser]]@host[:port][/ext][~expiry]`:
    the same value with the secret replaced, or None when it has no secret."""
    at = value.rfind("@")
    if at < 0:
        return None
    prefix = _REGISTER_PREFIX.match(value)
    start = prefix.end() if prefix else 0
    auth = value[start:at]
    parts = auth.split(":")
    rest = parts[1:]
    if not rest:
        return None
    idx = 2 if "@" in parts[0] and len(rest) >= 3 else 1  # user@domain:port:secret:authuser
    if not parts[idx]:
        return None
    parts[idx] = REDACTED
    return value[:start] + ":".join(parts) + value[at:]


def _redact_fields(value: str, indexes: tuple[int, ...]) -> str | None:
    fields = value.split(",")
    changed = False
    for i in indexes:
        if i < len(fields) and fields[i].strip():
            lead = fields[i][: len(fields[i]) - len(fields[i].lstrip())]
            fields[i] = lead + REDACTED
            changed = True
    return ",".join(fields) if changed else None


_PIN = re.compile(r"^\s*[-*]?\d+\s*$", re.A)


def _redact_line(line: str, kind: str, section: str | None) -> str:
    eol = "\r\n" if line.endswith("\r\n") else line[-1:] if line.endswith(("\n", "\r")) else ""
    body = line[: len(line) - len(eol)]
    stripped = body.lstrip()
    if not stripped or stripped[0] in ";#[":  # comment, #include/#exec, section header
        return line
    out = body
    kv = _KV.match(body)
    if kv:
        lead, key, sep, raw = kv.groups()
        value, comment = _split_comment(raw)
        lkey = key.lower()
        new: str | None = None
        if value:
            if lkey == "register":
                new = _redact_register(value)
            elif kind == "voicemail" and section not in ("general", "zonemessages"):
                # a mailbox: `mailbox => pin,Full Name,email,pager,options`. Before any section
                # header (an included fragment) only what looks like one.
                if section is not None or (_PIN.match(value.split(",", 1)[0]) and "," in value):
                    new = _redact_fields(value, (0,))
            elif kind == "meetme" and lkey == "conf":
                new = _redact_fields(value, (1, 2))
            if new is None and is_secret_key(key):
                new = REDACTED
        if new is not None:
            out = lead + key + sep + new + comment
    out = _APP_PASSWORD.sub(lambda a: a.group(1) + a.group(2) + REDACTED, out)
    out = _PHP_ASSIGN.sub(
        lambda p: p.group(0) if not is_secret_key(p.group(2)) or not p.group(5)
        else p.group(1) + p.group(2) + p.group(3) + p.group(4) + REDACTED + p.group(6), out)
    return line if out == body else out + eol


_ZONEMESSAGES = re.compile(rb"(?m)^[ \t]*\[zonemessages\]")


def _kind(path: str, data: bytes) -> str:
    name = posixpath.basename(path.replace("\\", "/")).lower()
    if "voicemail" in name or _ZONEMESSAGES.search(data):
        return "voicemail"
    if "meetme" in name:
        return "meetme"
    return "other"


# Every line `_redact_line` can change (outside voicemail files) holds one of these, in ASCII lower
# case: a key ending like a secret key (see SECRET_KEYS and SECRET_SUFFIXES) followed by its
# separator or, in PHP, by its closing quote; `register =>`; `Authenticate(` / `DISA(`; in
# meetme.conf-like files `conf =>`. Each word is looked for with bytes.find over the lowered bytes
# of the whole file (much faster than a regex scan) and checked with `_CANDIDATE` where found, so
# only those lines go through the exact per-line logic and the rest is copied as is.
_SECRET_ENDINGS = rb"secret|pass|passwd|password|passphrase|md5_cred|token|api_key|apikey|pin"
_CANDIDATE = re.compile(rb"(?:" + _SECRET_ENDINGS + rb"""|register|conf)(?:\s*[=:]|['"])|(?:authenticate|disa)\s*\(""")
_WORDS = (b"secret", b"pass", b"md5_cred", b"token", b"api_key", b"apikey", b"pin", b"register", b"authenticate",
          b"disa")  # the words `_CANDIDATE` starts with ("passwd"… start with "pass")
_WORDS_MEETME = (*_WORDS, b"conf")


def _redact_sections(text: str, kind: str) -> list[str] | None:
    """Every line, section by section (voicemail files): the redacted lines, or None if none changed."""
    section: str | None = None
    changed = False
    out: list[str] = []
    for line in _LINE.findall(text):
        sec = _SECTION.match(line)
        if sec:
            section = sec.group(1).strip().lower()
        new = _redact_line(line, kind, section)
        if new is not line:
            changed = True
        out.append(new)
    return out if changed else None


def _candidate_lines(data: bytes, kind: str) -> list[tuple[int, int]]:
    """(start, end) of the lines `_redact_line` may change, in order; `end` is after the line end."""
    low = data.lower()  # ASCII only, byte for byte: positions stay those of `data`
    n = len(data)
    lines: dict[int, int] = {}
    for word in _WORDS_MEETME if kind == "meetme" else _WORDS:
        at = low.find(word)
        while at >= 0:
            if _CANDIDATE.match(low, at):
                # The line around `at`; every search stays within it (a file may have no \r at all).
                start = data.rfind(b"\n", 0, at) + 1
                start = data.rfind(b"\r", start, at) + 1 or start
                nl = data.find(b"\n", at)
                nl = n if nl < 0 else nl
                cr = data.find(b"\r", at, nl)
                stop = cr if cr >= 0 else nl  # the first \r or \n after `at`, or the end
                end = stop + (2 if data.startswith(b"\r\n", stop) else 1) if stop < n else n
                lines[start] = end
                at = end
            else:
                at += 1
            at = low.find(word, at)
    return sorted(lines.items())


def _redact_candidates(data: bytes, kind: str) -> list[bytes] | None:
    """Only the candidate lines (files where the section does not matter): the pieces of the
    redacted file, or None if no line changed."""
    out: list[bytes] = []
    done = 0  # data[:done] is in `out`
    for start, end in _candidate_lines(data, kind):
        line = data[start:end].decode("latin-1")
        new = _redact_line(line, kind, None)
        if new is not line:
            out += (data[done:start], new.encode("latin-1"))
            done = end
    if not out:
        return None
    out.append(data[done:])
    return out


def redact_config(path: str, data: bytes) -> bytes:
    """`data` (the bytes of the file at `path`, which only serves to recognise voicemail.conf and
    meetme.conf) with its secrets replaced by `REDACTED`, every line kept in place. Returns `data`
    itself when nothing was redacted."""
    if not data:
        return data
    kind = _kind(path, data)
    if kind == "voicemail":  # mailbox lines are redacted by section: every line is looked at
        lines = _redact_sections(data.decode("latin-1"), kind)
        return data if lines is None else "".join(lines).encode("latin-1")
    pieces = _redact_candidates(data, kind)
    return data if pieces is None else b"".join(pieces)
