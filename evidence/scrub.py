"""Remove secrets from what collectors store, before anything is hashed or written (DESIGN §3.1)."""

from __future__ import annotations

import json
import re
from typing import Any

REDACTED = "REDACTED"

_SECRET_KEY = re.compile(
    r"(?i)^(password|passwd|pass|secret|token|token_?value|ticket|csrfpreventiontoken|api_?key|private_?key"
    r"|authorization|cookie|set-cookie|secret_?key|client_?secret)$"
)
# Secrets embedded in strings: auth headers, `key=value` property strings, URLs with credentials.
_INLINE = [
    (re.compile(r"(?i)\b(PVEAPIToken|PBSAPIToken)=\S+"), r"\1=" + REDACTED),
    (re.compile(r"(?i)\b(secret|password|passwd|pass|token|api_?key)=([^,;&\s\"']+)"), r"\1=" + REDACTED),
    (re.compile(r"(?i)(\w+://[^/:@\s]+):([^@/\s]+)@"), r"\1:" + REDACTED + "@"),
]


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
