"""redact_config: secrets out, every line and every other byte kept."""

from __future__ import annotations

import posixpath
import random
import re
from pathlib import Path

import pytest

from attest.lab.pbx_trees import (
    write_dedicated_tree,
    write_freepbx_big_tree,
    write_isolated_big_tree,
    write_isolated_tree,
    write_leaky_tree,
)
from collectors.pbx.redact import REDACTED, _redact_fields, _redact_register, is_secret_key, redact_config


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _same_shape(before: bytes, after: bytes) -> None:
    assert len(_lines(before)) == len(_lines(after))
    assert before.count(b"\n") == after.count(b"\n")


@pytest.mark.parametrize(("line", "expected"), [
    (b"secret=hunter2\n", b"secret=REDACTED\n"),
    (b"secret = hunter2 ; the trunk's\n", b"secret = REDACTED ; the trunk's\n"),
    (b"  Password => s3cr3t;c\n", b"  Password => REDACTED;c\n"),
    (b"md5_cred=0123abcd\n", b"md5_cred=REDACTED\n"),
    (b"md5secret=0123abcd\n", b"md5secret=REDACTED\n"),
    (b"dbpass=x\n", b"dbpass=REDACTED\n"),
    (b"DBPASSWORD = x\n", b"DBPASSWORD = REDACTED\n"),
    (b"authpassword=x\n", b"authpassword=REDACTED\n"),
    (b"remotesecret=x\n", b"remotesecret=REDACTED\n"),
    (b"AMPDBPASS=x\n", b"AMPDBPASS=REDACTED\n"),
    (b"AMPMGRPASS=x\n", b"AMPMGRPASS=REDACTED\n"),
    (b"auth_password=x\n", b"auth_password=REDACTED\n"),
    (b"token = abc.def\n", b"token = REDACTED\n"),
    (b"api_key=abc\n", b"api_key=REDACTED\n"),
    (b"imappassword=abc\n", b"imappassword=REDACTED\n"),
    (b"passwd: abc\n", b"passwd: REDACTED\n"),
    (b"secret=a\\;b ; c\n", b"secret=REDACTED ; c\n"),  # an escaped ; is part of the value
    (b"secret=hunter2\r\n", b"secret=REDACTED\r\n"),
    (b"secret=hunter2", b"secret=REDACTED"),  # no final newline
])
def test_secret_keys(line: bytes, expected: bytes) -> None:
    assert redact_config("sip.conf", line) == expected


@pytest.mark.parametrize("line", [
    b"secret=\n", b"password_format=plain\n", b";secret=hunter2\n", b"context=from-internal\n",
    b"[secret]\n", b"type=auth\n", b"auth=100-auth\n", b"outbound_auth=ITEL\n", b"#include pjsip.auth.conf\n",
    b"exten => 100,1,Dial(PJSIP/100)\n",
])
def test_not_secrets_are_kept(line: bytes) -> None:
    assert redact_config("pjsip.conf", line) is line


def test_unchanged_input_is_returned_as_is() -> None:
    data = b"[general]\ncontext=default\n"
    assert redact_config("sip.conf", data) is data
    empty = b""
    assert redact_config("sip.conf", empty) is empty


@pytest.mark.parametrize(("line", "expected"), [
    (b"register => 1234:password@mysipprovider.com\n", b"register => 1234:REDACTED@mysipprovider.com\n"),
    (b"register => 2345:pw@sip_proxy/1234 ; in\n", b"register => 2345:REDACTED@sip_proxy/1234 ; in\n"),
    (b"register => tls://username:xxxxxx@sip-tls-proxy.example.org\n",
     b"register => tls://username:REDACTED@sip-tls-proxy.example.org\n"),
    (b"register=>trunk?user:pw:authuser@host:5060/100~3600\n",
     b"register=>trunk?user:REDACTED:authuser@host:5060/100~3600\n"),
    (b"register => 3456@mydomain:5082:pw:auth@host\n", b"register => 3456@mydomain:5082:REDACTED:auth@host\n"),
    (b"register => user:p@ss@host\n", b"register => user:REDACTED@host\n"),  # the host follows the last @
])
def test_register_lines(line: bytes, expected: bytes) -> None:
    assert redact_config("sip.conf", line) == expected


@pytest.mark.parametrize("line", [
    b"register => 3456@mydomain:5082::@mysipprovider.com\n", b"register => 1234@provider\n",
    b";register => 1234:password@mysipprovider.com\n",
])
def test_register_without_secret(line: bytes) -> None:
    assert redact_config("iax.conf", line) is line


VOICEMAIL = b"""[general]
format=wav49|gsm
emaildateformat=%A, %B %d, %Y at %r
imappassword = imapsecret

[zonemessages]
eastern=America/New_York|'vm-received' Q 'digits/at' IMp

[default]
1000 => 4242,Alice Example,alice@example.com,,attach=yes|saycid=no
1001 => -9911,Bob,bob@example.com ; a comment
1002 => ,No Pin,none@example.com
#include voicemail.conf.custom

[other-tenant](+)
2000=5555,Carol
"""


def test_voicemail_pins() -> None:
    out = redact_config("voicemail.conf", VOICEMAIL)
    _same_shape(VOICEMAIL, out)
    text = out.decode()
    for pin in ("4242", "9911", "5555", "imapsecret"):
        assert pin not in text
    assert "1000 => REDACTED,Alice Example,alice@example.com,,attach=yes|saycid=no\n" in text
    assert "1001 => REDACTED,Bob,bob@example.com ; a comment\n" in text
    assert "1002 => ,No Pin,none@example.com\n" in text
    assert "2000=REDACTED,Carol\n" in text
    assert "emaildateformat=%A, %B %d, %Y at %r\n" in text  # [general] values are not PINs
    assert "eastern=America/New_York|'vm-received' Q 'digits/at' IMp\n" in text


def test_voicemail_recognised_by_content() -> None:
    data = b"[zonemessages]\nx=y\n[ctx]\n100 => 1234,Name\n"
    assert b"1234" not in redact_config("vm_custom.conf", data)
    assert redact_config("sip.conf", b"[ctx]\n100 => 1234,Name\n") == b"[ctx]\n100 => 1234,Name\n"


def test_voicemail_fragment_without_section() -> None:
    data = b"1000 => 4242,Alice\nemailsubject=Hi, there\n"
    assert redact_config("voicemail.conf.custom", data) == b"1000 => REDACTED,Alice\nemailsubject=Hi, there\n"


def test_meetme_and_dialplan_passwords() -> None:
    assert redact_config("meetme.conf", b"conf => 800,1234,9999\n") == b"conf => 800,REDACTED,REDACTED\n"
    ext = b"exten => 555,1,Authenticate(916735)\n same => n,DISA(4321,from-internal)\n" \
          b"exten => 556,1,Authenticate(/etc/asterisk/pw.txt)\nexten => 557,1,Authenticate(${PIN})\n"
    out = redact_config("extensions.conf", ext)
    assert out == b"exten => 555,1,Authenticate(REDACTED)\n same => n,DISA(REDACTED,from-internal)\n" \
                  b"exten => 556,1,Authenticate(/etc/asterisk/pw.txt)\nexten => 557,1,Authenticate(${PIN})\n"


def test_php_assignments() -> None:
    data = b"<?php\n$amp_conf['AMPDBPASS'] = 'dbsecret';\n$amp_conf[\"AMPDBUSER\"] = \"freepbxuser\";\n"
    out = redact_config("freepbx.conf", data)
    assert out == b"<?php\n$amp_conf['AMPDBPASS'] = 'REDACTED';\n$amp_conf[\"AMPDBUSER\"] = \"freepbxuser\";\n"


def test_non_utf8_bytes_survive() -> None:
    data = (b"; caf\xe9 \x85 \xff\xfe\r\n[trunk]\r\nsecret=\xe9t\xe9\r\ncallerid=\"Ren\xe9\" <100>\r\n"
            b"\x0c\r\ndescription=\xc3\xa9l\xc3\xa8ve\n")
    out = redact_config("sip.conf", data)
    assert out == data.replace(b"secret=\xe9t\xe9", b"secret=REDACTED")
    _same_shape(data, out)


def test_fail2ban_style() -> None:
    data = b"[cloudflare]\ncftoken = abcdef # token\ncfuser = me@example.com\n"
    out = redact_config("jail.local", data)
    assert out == b"[cloudflare]\ncftoken = REDACTED\ncfuser = me@example.com\n"


# --- the fast path gives exactly what the plain line-by-line implementation gives -------------------
# `_reference` is redact_config as it was before only candidate lines were looked at: every line
# through the same per-line logic, kept here to compare byte for byte.

_R_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+\Z")
_R_EOL = re.compile(r"(\r\n|\n|\r)\Z")
_R_KV = re.compile(r"^(\s*)([A-Za-z0-9_.\-]+)(\s*(?:=>|=|:)\s*)(.*)$", re.S | re.A)
_R_SECTION = re.compile(r"^\s*\[([^\]]*)\]", re.A)
_R_APP = re.compile(r"\b(Authenticate|DISA)(\s*\(\s*)([^,)\s$/][^,)]*)", re.I | re.A)
_R_PHP = re.compile(r"""(\[\s*['"])([A-Za-z0-9_]+)(['"]\s*\]\s*=\s*)(['"])(.*?)(\4)""", re.A)
_R_PIN = re.compile(r"^\s*[-*]?\d+\s*$", re.A)


def _r_split_comment(value: str) -> tuple[str, str]:
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


def _r_line(line: str, kind: str, section: str | None) -> str:
    m = _R_EOL.search(line)
    eol = m.group(1) if m else ""
    body = line[: len(line) - len(eol)]
    stripped = body.lstrip()
    if not stripped or stripped[0] in ";#[":
        return line
    out = body
    kv = _R_KV.match(body)
    if kv:
        lead, key, sep, raw = kv.groups()
        value, comment = _r_split_comment(raw)
        lkey = key.lower()
        new: str | None = None
        if value:
            if lkey == "register":
                new = _redact_register(value)
            elif kind == "voicemail" and section not in ("general", "zonemessages"):
                if section is not None or (_R_PIN.match(value.split(",", 1)[0]) and "," in value):
                    new = _redact_fields(value, (0,))
            elif kind == "meetme" and lkey == "conf":
                new = _redact_fields(value, (1, 2))
            if new is None and is_secret_key(key):
                new = REDACTED
        if new is not None:
            out = lead + key + sep + new + comment
    out = _R_APP.sub(lambda a: a.group(1) + a.group(2) + REDACTED, out)
    out = _R_PHP.sub(
        lambda p: p.group(0) if not is_secret_key(p.group(2)) or not p.group(5)
        else p.group(1) + p.group(2) + p.group(3) + p.group(4) + REDACTED + p.group(6), out)
    return line if out == body else out + eol


def _reference(path: str, data: bytes) -> bytes:
    if not data:
        return data
    text = data.decode("latin-1")
    name = posixpath.basename(path.replace("\\", "/")).lower()
    if "voicemail" in name or re.search(r"(?m)^[ \t]*\[zonemessages\]", text):
        kind = "voicemail"
    else:
        kind = "meetme" if "meetme" in name else "other"
    section: str | None = None
    changed = False
    out: list[str] = []
    for line in _R_LINE.findall(text):
        sec = _R_SECTION.match(line)
        if sec:
            section = sec.group(1).strip().lower()
        new = _r_line(line, kind, section)
        if new is not line:
            changed = True
        out.append(new)
    return "".join(out).encode("latin-1") if changed else data


_PATHS = ("sip.conf", "meetme.conf", "voicemail.conf", "freepbx.conf", "cli/pjsip show endpoints")


def _same_as_reference(path: str, data: bytes) -> None:
    expected = _reference(path, data)
    got = redact_config(path, data)
    assert got == expected, path
    if expected is data:
        assert got is data, path


_TRICKY = [
    VOICEMAIL, b"secret=x", b"secret=x\r", b"a=b\rsecret=x\rc=d\r", b"a=b\r\nsecret = x\r\n\r\n", b"\n\r\n\r",
    b"secret=a\\", b"secret=\\;x;c", b"secret=a\\\\;c", b"  PASSWORD  :  x  ; y", b"Secret\t=>\tx\n",
    b"x_pin=1\nmy_pass=2\nnotapin=3\npinx=4\nspinning=5\n", b"disallow=all\nexten => 1,1,Disa (123)\n",
    b"exten => 1,1,Authenticate( 123 ,a)\nexten => 2,1,AUTHENTICATE(\n", b"register\n=> a:b@c\nregister =>\n",
    b"conf => 1,2,3\nconf=4\n[x]\nconf : 5 , , 6\n", b"$amp_conf['AMPMGRPASS'] = \"x\";\n$a[ 'TOKEN' ]='';",
    b"[zonemessages]\n[a]\n100 => 1\n", b"100 => 12,A\r101 => 13\r", b"api_key:x\napikey =x\nmd5_cred=y\n",
    b"\xe9secret=\xe9\n\x85password=\x85\x85\n", b"secret=x\xc2\x85y\n", b"token\x0b=\x0cx\n",
]


@pytest.mark.parametrize("data", _TRICKY)
@pytest.mark.parametrize("path", _PATHS)
def test_same_as_line_by_line(path: str, data: bytes) -> None:
    _same_as_reference(path, data)


_PIECES = [
    b"secret", b"Password", b"PASS", b"pin", b"_pin", b"token", b"api_key", b"md5_cred", b"register", b"conf",
    b"Authenticate", b"disa", b"DISA", b"exten", b"100", b"1234", b"user:pw@host", b"[general]", b"[zonemessages]",
    b"[ctx]", b"$amp_conf['AMPDBPASS']", b"'", b"\"", b"=", b"=>", b":", b"(", b")", b",", b";", b"\\", b" ",
    b"\t", b"\n", b"\r", b"\r\n", b"#include x", b"\xe9", b"\x85", b"@", b"/", b"-", b"*", b"${X}", b"a",
]


def test_same_as_line_by_line_on_random_files() -> None:
    rng = random.Random(20240611)
    for _ in range(3000):
        data = b"".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 40)))
        for path in _PATHS:
            _same_as_reference(path, data)


def _tree_files(root: Path) -> list[tuple[str, bytes]]:
    return [(p.relative_to(root).as_posix(), p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]


def test_same_as_line_by_line_on_generated_trees(tmp_path: Path) -> None:
    trees = [write_leaky_tree(tmp_path / "leaky"), write_isolated_tree(tmp_path / "isolated"),
             write_dedicated_tree(tmp_path / "dedicated"),
             write_freepbx_big_tree(tmp_path / "big", tenant_count=4, per_tenant=20),
             write_isolated_big_tree(tmp_path / "isolated-big", tenant_count=4, per_tenant=20)]
    for root in trees:
        files = _tree_files(root)
        assert files
        for rel, data in files:
            _same_as_reference(rel, data)


REFERENCE_CONFIGS = Path("/work/shared/reference/pbx/configs")


@pytest.mark.skipif(not REFERENCE_CONFIGS.is_dir(), reason="no reference configuration files here")
def test_same_as_line_by_line_on_reference_configs() -> None:
    files = _tree_files(REFERENCE_CONFIGS)
    assert files
    for rel, data in files:
        _same_as_reference(rel, data)
        for path in _PATHS:  # each file also as if it had another name (voicemail, meetme…)
            _same_as_reference(path, data)
