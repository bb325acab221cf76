"""The scrubber's fast paths change nothing: `scrub_bytes` (pre-check, then parse and walk) gives
exactly what the full walk gives, and a record body built on the fast path is byte for byte the
body the exact path (scrub, json_safe, rfc8785) builds -- on inputs that hold secrets, that only
look like they might, and that are clean."""

from __future__ import annotations

import json
import random
import re
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from attest.canonical import canonical_json, utc_iso
from evidence import scrub as scrub_module
from evidence.log import RECORD_VERSION, NewRecord, _fast_canonical, json_safe, record_body
from evidence.scrub import might_hold_secret, scrub, scrub_bytes, scrub_bytes_full

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _reference_body(run_id: int, rec: NewRecord) -> bytes:
    """record_body as it was before the fast path: always scrub, json_safe, rfc8785."""
    return canonical_json({
        "v": RECORD_VERSION, "run": run_id, "source": rec.source, "kind": rec.kind, "subject": rec.subject,
        "collected_at": utc_iso(rec.collected_at), "payload": json_safe(scrub(rec.payload)),
        "artifacts": list(rec.artifacts)})


SECRETS = [
    b'{"data":{"ticket":"PVE:root@pam:1234::sig","username":"root@pam"}}',
    b'{"data":{"CSRFPreventionToken":"abc","x":[1,2]}}',
    b'{"pass\\u0077ord":"hunter2"}',  # a key name spelled with an escape
    b'{"password\\n":"hunter2"}',  # `$` admits a trailing newline
    b'{"Set-Cookie":"PVEAuthCookie=xyz"}',
    b'{"a":[{"b":{"client_secret":"s3"}}]}',
    b'{"net0":"virtio=aa,secret=sesame,bridge=vmbr0"}',
    b'{"h":"Authorization: PVEAPIToken=attest@pve!evidence=3f1c2a7e-5b9d"}',
    b'{"u":"https://user:pw@host/x"}',
    b'{"u":"https:\\/\\/user:pw@host\\/x"}',  # JSON may escape the slashes
    b'{"u":"secret\\u003dsesame"}',  # `=` as an escape
    '{"to\u212aen":"abc"}'.encode(),  # KELVIN SIGN folds onto k
    '{"ſecret":"abc"}'.encode(),  # LATIN SMALL LETTER LONG S folds onto s
    '{"tıcket":"abc"}'.encode(),  # dotless i
    '{"passwd":"x"}'.encode("utf-16"),  # json.loads reads UTF-16 too
    '{"passwd":"x"}'.encode("utf-32-le"),
    '{"passwd":"x"}'.encode("utf-16-be"),
    '{"passwd":"x"}'.encode("utf-32"),
    b"password=hunter2 in a plain text log line",
    b"GET https://u:p@backup.example/api",
    b'"token=abc"',  # a top-level JSON string
]
LOOK_ALIKES = [
    b'{"cipassword":"x","sshkeys":"ssh-rsa AAAA"}',  # names that contain, but are not, secret keys
    b'{"password":""}',  # an empty secret is kept as is
    b'{"password":null}',
    b'{"password":"REDACTED"}',  # already redacted: nothing changes
    b'{"u":"https://host/x","user":"root@pam"}',
    b'{"\\u00e9":"\\u00e9t\\u00e9"}',  # escaped non-ASCII that cannot spell a secret
]
CLEAN = [
    b'{"data":[]}',
    b'{"data":{"vmid":100,"name":"web-1","net0":"virtio=BC:24:11:00:00:01,bridge=vmbr0","tags":"a;b"}}',
    '{"data":{"description":"Zürich ✓ café","node":"pve-01"}}'.encode(),
    b'{"data":{"url":"https://pve.example:8006/api2/json","user":"attest@pve"}}',
    b"\x89PNG\r\n\x1a\n\x00\x00\x00binary",
    b"not json \xff\xfe at all",
    b"plain text without anything to hide",
    b"",
]


@pytest.mark.parametrize("data", SECRETS + LOOK_ALIKES + CLEAN)
def test_scrub_bytes_equals_the_full_walk(data: bytes) -> None:
    assert scrub_bytes(data) == scrub_bytes_full(data)


@pytest.mark.parametrize("data", SECRETS)
def test_secrets_are_always_caught_by_the_pre_check(data: bytes) -> None:
    assert might_hold_secret(data)
    assert scrub_bytes(data) != data


@pytest.mark.parametrize("data", [d for d in CLEAN if b"\x00" not in d[:4]])
def test_clean_answers_skip_the_walk(data: bytes) -> None:
    assert not might_hold_secret(data)
    assert scrub_bytes(data) is data  # returned as received, never parsed


def test_only_four_non_ascii_letters_fold_onto_ascii() -> None:
    """The pre-check names İ ı ſ K because Python's case-insensitive matching folds them onto
    i and s and k; it must be told if a Python release adds another."""
    names = set(re.findall(r"[a-z_-]", scrub_module._SECRET_NAMES + scrub_module._INLINE_NAMES))
    any_letter = re.compile("|".join(map(re.escape, sorted(names))), re.IGNORECASE)
    folding = set(any_letter.findall("".join(map(chr, range(0x80, sys.maxunicode + 1)))))
    assert folding == {"\u0130", "\u0131", "\u017f", "\u212a"}


_KEYS = ["vmid", "name", "password", "Password", "PASSWD", "pass", "token", "token_value", "tokenvalue", "ticket",
         "CSRFPreventionToken", "api_key", "apikey", "private_key", "authorization", "cookie", "set-cookie",
         "secret_key", "client_secret", "cipassword", "passwordx", "password\n", "keyboard", "sshkeys", "tokens",
         "to\u212aen", "ſecret", "tıcket", "é", "net0", "url"]
_STRINGS = ["", "web-1", "virtio=aa,bridge=vmbr0", "virtio=aa,secret=sesame,bridge=vmbr0", "pass=x", "Pass=",
            "token=abc;x", "api_key=k&y", "PVEAPIToken=u@pve!t=uuid", "https://u:p@h/x", "https://h/x",
            "ssh://git@host:22/r", "a:b@c", "root@pam", "café ✓", "line\nbreak", "tab\tsecret=1", "quote\"pass=2",
            "back\\slash", "REDACTED", "passwd= x", "ſecret=1", "secret\u212a=1", "to\u212aen=1", "x" * 40]


def _random_value(rnd: random.Random, depth: int = 0) -> Any:
    roll = rnd.random()
    if depth < 3 and roll < 0.3:
        return {rnd.choice(_KEYS): _random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 5))}
    if depth < 3 and roll < 0.45:
        return [_random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    if roll < 0.8:
        return rnd.choice(_STRINGS)
    return rnd.choice([None, True, False, 0, -7, 2**40, 2**60, 0.5, 1e-7, 3.0, -1.25, 1e22])


def _serialisations(value: Any, rnd: random.Random) -> list[bytes]:
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return [compact, json.dumps(value).encode(),  # \u escapes for every non-ASCII letter
            compact.replace(b"/", b"\\/"),  # PHP-style escaped slashes
            json.dumps(value, indent=rnd.choice([1, 2])).encode()]


def test_scrub_bytes_equals_the_full_walk_on_random_answers() -> None:
    rnd = random.Random(6962)
    hits = misses = 0
    for _ in range(3000):
        value = _random_value(rnd)
        for data in _serialisations(value, rnd):
            assert scrub_bytes(data) == scrub_bytes_full(data), data
            hits += might_hold_secret(data)
            misses += not might_hold_secret(data)
    assert hits and misses  # both paths were exercised


def test_record_body_equals_the_exact_path_on_random_payloads() -> None:
    rnd = random.Random(8785)
    fast = 0
    for i in range(3000):
        payload = {rnd.choice(_KEYS): _random_value(rnd) for _ in range(rnd.randint(0, 6))}
        if i % 7 == 0:
            payload["tuple"] = ("a", "secret=x", 2**60)  # tuples are never walked by scrub, only listed
        rec = NewRecord("pve-main", "proxmox.guest", f"pve-main/qemu/{i}", payload, T0, ("ab" * 32,))
        assert record_body(3, rec) == _reference_body(3, rec), payload
        fast += _fast_canonical(payload) is not None and not might_hold_secret(record_body(3, rec))
    assert fast > 100  # the fast path was taken often


def test_fast_canonical_writes_floats_and_text_as_rfc8785() -> None:
    rnd = random.Random(1)
    values: list[Any] = [rnd.uniform(-1e6, 1e6) for _ in range(2000)]
    values += [rnd.uniform(0, 1) * 10 ** rnd.randint(-4, 15) for _ in range(2000)]
    values += [0.1, 0.0001, 123456789012345.6, -0.5, "\x00\x1f\x7f\u2028é😀\"\\", {"b": 1, "a": [None, True]}]
    for v in values:
        fast = _fast_canonical(v)
        if fast is not None:
            assert fast == canonical_json(v), v
    for awkward in (1.0, -0.0, 1e-7, 1e16, 2**53, float("nan"), (1, 2), {"é": 1}, {1: 2}, "\ud800"):
        assert _fast_canonical(awkward) is None  # left to rfc8785
