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
_EOL = re.compile(r"(\r\n|\n|\r)\Z")
_KV = re.compile(r"^(\s*)([A-Za-z0-9_.\-]+)(\s*(?:=>|=|:)\s*)(.*)$", re.S | re.A)
_SECTION = re.compile(r"^\s*\[([^\]]*)\]", re.A)
_APP_PASSWORD = re.compile(r"\b(Authenticate|DISA)(\s*\(\s*)([^,)\s$/][^,)]*)", re.I | re.A)
_PHP_ASSIGN = re.compile(r"""(\[\s*['"])([A-Za-z0-9_]+)(['"]\s*\]\s*=\s*)(['"])(.*?)(\4)""", re.A)
_REGISTER_PREFIX = re.compile(r"^(?:[^?@:/]*\?)?(?:[A-Za-z0-9]+://)?")


def is_secret_key(key: str) -> bool:
    k = key.strip().lower()
    return k in SECRET_KEYS or k.endswith(SECRET_SUFFIXES)


def _split_comment(value: str) -> tuple[str, str]:
    """Split an Asterisk value at its first unescaped `;`: (value without trailing blanks, rest)."""
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "\\":
            i += 2
            continue
        if c == ";":
            break
        i += 1
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
    m = _EOL.search(line)
    eol = m.group(1) if m else ""
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


def _kind(path: str, text: str) -> str:
    name = posixpath.basename(path.replace("\\", "/")).lower()
    if "voicemail" in name or re.search(r"(?m)^[ \t]*\[zonemessages\]", text):
        return "voicemail"
    if "meetme" in name:
        return "meetme"
    return "other"


def redact_config(path: str, data: bytes) -> bytes:
    """`data` (the bytes of the file at `path`, which only serves to recognise voicemail.conf and
    meetme.conf) with its secrets replaced by `REDACTED`, every line kept in place. Returns `data`
    itself when nothing was redacted."""
    if not data:
        return data
    text = data.decode("latin-1")
    kind = _kind(path, text)
    lines = _LINE.findall(text)
    section: str | None = None
    changed = False
    out: list[str] = []
    for line in lines:
        sec = _SECTION.match(line)
        if sec:
            section = sec.group(1).strip().lower()
        new = _redact_line(line, kind, section)
        if new is not line:
            changed = True
        out.append(new)
    if not changed:
        return data
    return "".join(out).encode("latin-1")
