"""Remove secrets from what collectors store, before anything is hashed or written (DESIGN §3.1).

Almost nothing a collector stores holds a secret, and walking every parsed answer cost more than
everything else the log does. So `might_hold_secret` first looks in the serialised bytes for what
any redaction below needs (a secret key name in quotes, `name=`, a `scheme://user:pass@`, or an
escape or letter that could spell one); only when it finds one is the value parsed and walked. It
is a necessary condition, never a judgement: the result is always exactly what the full walk gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "REDACTED"
# Known secret values shorter than this are not redacted by value: "admin" or "1234" would
# blank out ordinary words and numbers everywhere (such values are weak secrets anyway).
MIN_KNOWN_SECRET = 8

_SECRET_NAMES = (r"password|passwd|pass|secret|token|token_?value|ticket|csrfpreventiontoken|api_?key|private_?key"
                 r"|authorization|cookie|set-cookie|secret_?key|client_?secret")
_SECRET_KEY = re.compile(rf"(?i)^({_SECRET_NAMES})$")
_INLINE_NAMES = r"secret|password|passwd|pass|token|api_?key"
# Secrets embedded in strings: auth headers, `key=value` property strings, URLs with credentials.
_INLINE = [
    (re.compile(r"(?i)\b(PVEAPIToken|PBSAPIToken)=\S+"), r"\1=" + REDACTED),
    (re.compile(rf"(?i)\b({_INLINE_NAMES})=([^,;&\s\"']+)"), r"\1=" + REDACTED),
    (re.compile(r"(?i)(\w+://[^/:@\s]+):([^@/\s]+)@"), r"\1:" + REDACTED + "@"),
]

# What the serialised form (JSON as RFC 8259 allows it, or plain UTF-8 text) must contain for
# `scrub_bytes`, or `scrub` of a value serialised with json.dumps / RFC 8785, to change anything.
# Searched in the ASCII-lowercased bytes, each only when cheap substring tests say it may match:
# a regex alternation tried at every position costs ~100 µs a kilobyte, `in` a few hundredths.
_NAMED = re.compile(
    # a key named like a secret: JSON writes it between quotes; `$` in _SECRET_KEY also admits a
    # trailing newline, which JSON writes as \n
    rb'"(?:' + _SECRET_NAMES.encode() + rb')(?:\\n)?"'
    # `name=value` in a string, PVEAPIToken=… included (its name ends in "token")
    rb"|(?:" + _INLINE_NAMES.encode() + rb")="
)  # every name in it contains pass, secret, token, ticket, key, authorization or cookie: tested first
# user:password@ after a scheme. JSON may write / as \/ and never writes whitespace, `:` or `@`
# other than as themselves or as \u escapes (below).
_URL_CREDENTIALS = re.compile(rb":\\?/\\?/[^\s@/:]+:[^\s@/]+@")
# \u escapes that may spell any of the above: ASCII, and the four non-ASCII letters Python's
# case-insensitive matching folds onto ASCII ones (İ ı ſ K; tests/evidence pin that list)…
_ESCAPES = re.compile(rb"\\u(?:00[0-7][0-9a-f]|013[01]|017f|212a)")
# …and those four letters written as UTF-8.
_FOLDING_LETTERS = (b"\xc4\xb0", b"\xc4\xb1", b"\xc5\xbf", b"\xe2\x84\xaa")


def might_hold_secret(data: bytes) -> bool:
    """False only when no redaction of `scrub_bytes` (or of `scrub` on the value *data* was
    serialised from as JSON) can apply. json.loads also reads UTF-16/32, where ASCII names are
    interleaved with NUL bytes: such input (a JSON text starts with an ASCII character, so one of
    its first four bytes is then NUL, after a byte order mark too) always takes the full path."""
    if data[:4].count(0):
        return True
    low = data.lower()  # ASCII only, like the case-insensitive matching of ASCII names
    if (b"pass" in low or b"secret" in low or b"token" in low or b"ticket" in low or b"key" in low
            or b"authorization" in low or b"cookie" in low) and _NAMED.search(low):
        return True
    if b"@" in data and _URL_CREDENTIALS.search(data):
        return True
    if b"\\" in data and _ESCAPES.search(low):
        return True
    # One-byte tests first (memchr): the lead bytes of the four letters' UTF-8 forms.
    return ((b"\xc4" in data or b"\xc5" in data or b"\xe2" in data)
            and any(letter in data for letter in _FOLDING_LETTERS))


def scrub_text(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def scrub(value: Any) -> Any:
    """A copy of *value* with secret-named keys' values and inline secrets replaced by REDACTED."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_KEY.match(k) and v not in (None, "")
                    else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def scrub_bytes(data: bytes) -> bytes:
    """Scrub a raw response: structurally when it is JSON, textually otherwise. The bytes are
    only rewritten when a secret was found, so clean responses are kept exactly as received."""
    if not might_hold_secret(data):
        return data
    return scrub_bytes_full(data)


def scrub_bytes_full(data: bytes) -> bytes:
    """`scrub_bytes` without the pre-check: parse and walk every answer (kept for the tests that
    prove the pre-check changes nothing)."""
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        cleaned = scrub_text(text)
        return data if cleaned == text else cleaned.encode("utf-8")
    cleaned_obj = scrub(parsed)
    if cleaned_obj == parsed:
        return data
    return json.dumps(cleaned_obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class KnownSecrets:
    """Redaction by value: the configured secrets themselves (API tokens, passwords), wherever
    they turn up in what a source said, under any key or none (a token pasted into a VM's notes).
    Each value must be at least MIN_KNOWN_SECRET characters long."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: tuple[str, ...] = ()
        self._encoded: tuple[bytes, ...] = ()
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        new = [v for v in values if len(v) >= MIN_KNOWN_SECRET and v not in self._values]
        # Longest first, so a secret that contains another is replaced whole.
        self._values = tuple(sorted((*self._values, *new), key=len, reverse=True))
        # As the bytes may hold them: UTF-8, and JSON-escaped (a value with quotes, backslashes
        # or non-ASCII is written differently inside a JSON string).
        encoded = {v.encode("utf-8") for v in self._values} | {json.dumps(v)[1:-1].encode("ascii")
                                                                for v in self._values}
        self._encoded = tuple(encoded)

    def __bool__(self) -> bool:
        return bool(self._values)

    def found_in(self, data: bytes) -> bool:
        return any(e in data for e in self._encoded)

    def redact_text(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, REDACTED)
        return text

    def redact(self, value: Any) -> Any:
        """A copy of a parsed JSON value with every known secret replaced, in keys and strings."""
        if isinstance(value, dict):
            return {self.redact(k): self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        if isinstance(value, str):
            return self.redact_text(value)
        return value

    def redact_bytes(self, data: bytes) -> bytes:
        """*data* with every known secret replaced: structurally when it is JSON (so escaped
        forms are found too), textually otherwise; the same bytes when none is there."""
        if not self.found_in(data):
            return data
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            out = data
            for value in self._values:
                out = out.replace(value.encode("utf-8"), REDACTED.encode())
            return out
        return json.dumps(self.redact(parsed), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
