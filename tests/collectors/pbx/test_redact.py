"""redact_config: secrets out, every line and every other byte kept."""

from __future__ import annotations

import pytest

from collectors.pbx.redact import redact_config


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
