"""Asterisk extension patterns: `_` then `X` (0-9), `Z` (1-9), `N` (2-9), `[…]` (a set, ranges
allowed), `.` (one or more of anything), `!` (zero or more); other characters are literal and `-`
outside brackets is ignored (`_1-800-NXX` is `_1800NXX`). Patterns are tried from the most
specific to the least, as pbx.c's `ext_cmp` orders them: character by character, a class with
fewer members first, `.` and `!` last."""

from __future__ import annotations

import re
from functools import lru_cache

_CLASS = {"x": "0123456789", "z": "123456789", "n": "23456789"}
_WILD_ONE_OR_MORE = 0x40000
_WILD_ZERO_OR_MORE = 0x50000


def _expand_set(body: str) -> str:
    chars: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = body[i], body[i + 2]
            chars.extend(chr(c) for c in range(ord(lo), ord(hi) + 1))
            i += 3
        else:
            chars.append(body[i])
            i += 1
    return "".join(dict.fromkeys(chars))


def _tokens(pattern: str) -> list[tuple[str, str]]:
    """[(kind, chars)] with kind "lit", "set", "one_or_more", "zero_or_more"."""
    body = pattern[1:] if pattern.startswith("_") else pattern
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        c = body[i]
        low = c.lower()
        if low in _CLASS:
            out.append(("set", _CLASS[low]))
        elif c == "[":
            end = body.find("]", i + 1)
            if end < 0:  # Asterisk treats an unclosed set as a literal "["
                out.append(("lit", c))
            else:
                out.append(("set", _expand_set(body[i + 1:end])))
                i = end
        elif c == ".":
            out.append(("one_or_more", ""))
        elif c == "!":
            out.append(("zero_or_more", ""))
        elif c == "-":
            pass
        else:
            out.append(("lit", c))
        i += 1
    return out


@lru_cache(maxsize=65536)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    for kind, chars in _tokens(pattern):
        if kind == "lit":
            parts.append(re.escape(chars))
        elif kind == "set":
            parts.append("[" + "".join(re.escape(c) for c in chars) + "]")
        elif kind == "one_or_more":
            parts.append(".+")
            break  # nothing after `.` matters: it takes the rest
        else:
            parts.append(".*")
            break
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def matches(pattern: str, dialled: str) -> bool:
    """Whether an extension name (literal or `_pattern`) matches a dialled string."""
    if not pattern.startswith("_"):
        return pattern == dialled
    return compile_pattern(pattern).match(dialled) is not None


@lru_cache(maxsize=65536)
def specificity(pattern: str) -> tuple[int, ...]:
    """Sort key: smaller is tried first."""
    key = []
    for kind, chars in _tokens(pattern):
        if kind == "lit":
            key.append((1 << 8) | ord(chars[0]))
        elif kind == "set":
            key.append((len(chars) << 8) | ord(min(chars)) if chars else 0)
        elif kind == "one_or_more":
            key.append(_WILD_ONE_OR_MORE)
        else:
            key.append(_WILD_ZERO_OR_MORE)
    return tuple(key)


def literal_prefix(pattern: str) -> str:
    """The literal characters a pattern starts with: "_**." -> "**", "_*80." -> "*80"."""
    prefix = []
    for kind, chars in _tokens(pattern):
        if kind != "lit":
            break
        prefix.append(chars)
    return "".join(prefix)


def example(pattern: str) -> str:
    """A dialled string the pattern matches: "_*80XXXX" -> "*800000", "_2X." -> "200"."""
    out = []
    for kind, chars in _tokens(pattern):
        if kind in ("lit", "set"):
            out.append(chars[0] if chars else "0")
        elif kind == "one_or_more":
            out.append("0")
    return "".join(out)


def suffix_pattern(pattern: str, skip: int) -> str:
    """The pattern of what `${EXTEN:skip}` holds for a string *pattern* matched: "_*80XXX", 3 ->
    "_XXX". A negative or too large skip gives the pattern that matches anything."""
    if not pattern.startswith("_"):
        return pattern[skip:]
    body = pattern[1:]
    out: list[str] = []
    i = count = 0
    while i < len(body):
        c = body[i]
        end = i + 1
        if c == "[":
            close = body.find("]", i + 1)
            end = close + 1 if close >= 0 else i + 1
        elif c == "-":
            i += 1
            continue
        if count >= skip:
            out.append(body[i:end])
        if c in ".!":
            if count < skip:
                out.append(c)  # a wildcard swallows the skipped part and the rest
            break
        count += 1
        i = end
    return "_" + "".join(out) if out else "_!"


def _shape(name: str) -> tuple[list[set[str]], str]:
    """An extension name as fixed positions (each a set of characters) and what may follow:
    "" nothing, "." one or more characters, "!" zero or more."""
    if not name.startswith("_"):
        return [{c} for c in name], ""
    fixed: list[set[str]] = []
    for kind, chars in _tokens(name):
        if kind in ("lit", "set"):
            fixed.append(set(chars))
        else:
            return fixed, "." if kind == "one_or_more" else "!"
    return fixed, ""


def overlaps(a: str, b: str) -> bool:
    """Whether some dialled string matches both extension names (literal or pattern)."""
    fa, ta = _shape(a)
    fb, tb = _shape(b)
    if any(not (x & y) for x, y in zip(fa, fb, strict=False)):
        return False
    if len(fa) == len(fb):
        # "." needs at least one more character, which the other can only give with a tail of its own
        return not ((ta == "." and not tb) or (tb == "." and not ta))
    # the shorter one must take the longer one's extra fixed characters with a wildcard
    shorter_tail = tb if len(fa) > len(fb) else ta
    return shorter_tail in (".", "!")
