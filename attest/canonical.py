"""Canonical JSON (RFC 8785) and digests: the byte form every record and document is hashed in."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import rfc8785


def canonical_json(value: Any) -> bytes:
    """Serialise *value* as RFC 8785 (JCS) bytes: sorted keys, no whitespace, UTF-8.

    Floats are allowed by JCS but their text form is easy to get wrong across tools, so
    collectors keep numbers integral where the source does.
    """
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_of(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of *value*."""
    return sha256_hex(canonical_json(value))


def utc_iso(moment: datetime) -> str:
    """RFC 3339 UTC with a trailing Z and whole seconds: the only time format stored in records."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
