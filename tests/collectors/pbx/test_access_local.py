"""read_local: a PBX read from a local folder (a root-like dump or an /etc/asterisk copy)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from collectors.pbx import dump as dump_mod
from collectors.pbx.dump import CLI_COMMANDS, CdrRow, PbxDump
from collectors.pbx.errors import PbxAccessError
from collectors.pbx.local import read_local
from collectors.pbx.tree_rules import KEY_ERROR, LocalFs

# Secrets written into the trees: none may appear anywhere in a dump.
SECRETS = ("hunter2", "4242", "s3cr3t-ami", "trunkpass", "f2b-token", "BEGIN PRIVATE KEY", "0039333444")
FREEPBX_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
BIG_FILE_BYTES = 5000


def master_csv_row(i: int, account: str = "acme") -> bytes:
    return (f'"{account}","10{i % 10}","0039333444","from-internal","""Alice"" <100>",'
            f'"PJSIP/10{i % 10}-{i:08x}","PJSIP/trunk-acme-{i + 1:08x}","Dial","PJSIP/0039333444@trunk-acme",'
            f'"2024-05-01 10:00:00","2024-05-01 10:00:05","2024-05-01 10:01:00",60,55,"ANSWERED",'
            f'"DOCUMENTATION","1714557600.{i}",""\n').encode()


def build_asterisk_tree(etc: Path, outside: Path) -> None:
    """A small /etc/asterisk at `etc` with a symlink to `outside` (like FreePBX's extensions.conf),
    key material, a non-UTF-8 file, a big file, a loop and a broken link."""
    etc.mkdir(parents=True)
    outside.mkdir(parents=True, exist_ok=True)
    (etc / "sip.conf").write_bytes(b"[general]\ncontext=default\nregister => 1234:trunkpass@sip.example.com\n\n"
                                   b"[100]\ntype=friend\nsecret=hunter2 ; the phone\ncontext=from-internal\n")
    (etc / "pjsip.auth.conf").write_bytes(b"[100-auth]\ntype=auth\nauth_type=userpass\npassword=hunter2\n"
                                          b"username=100\n")
    (etc / "manager.conf").write_bytes(b"[general]\nenabled=yes\n\n[admin]\nsecret = s3cr3t-ami\n")
    (etc / "voicemail.conf").write_bytes(b"[general]\nformat=wav49\n\n[default]\n100 => 4242,Alice,a@example.com\n")
    (etc / "freepbx-id").write_text(FREEPBX_ID + "\n")
    (etc / "latin1.conf").write_bytes(b"; r\xe9ception\n[caf\xe9]\ncallerid=\"Ren\xe9\" <100>\nsecret=hunter2\n")
    (etc / "big.conf").write_bytes(b";" * BIG_FILE_BYTES + b"\n")
    (outside / "extensions.conf").write_bytes(b"[from-internal]\nexten => 100,1,Dial(PJSIP/100)\n")
    os.symlink(outside / "extensions.conf", etc / "extensions.conf")
    (etc / "keys").mkdir()
    (etc / "keys" / "asterisk.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    (etc / "keys" / "notes.txt").write_bytes(b"BEGIN PRIVATE KEY in a text file\n")
    (etc / "tls.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nMIIE\n")
    (etc / "sub").mkdir()
    (etc / "sub" / "pjsip.endpoint.conf").write_bytes(b"[100]\ntype=endpoint\nauth=100-auth\n")
    os.symlink("..", etc / "sub" / "loop")  # back to the root: must not be read twice
    os.symlink(etc / "missing.conf", etc / "broken.conf")


def build_root_dump(root: Path) -> Path:
    """A root-like dump: etc/asterisk, etc/fail2ban, etc/hostname, Master.csv, asterisk-rx/."""
    build_asterisk_tree(root / "etc" / "asterisk", root / "var" / "lib" / "asterisk")
    f2b = root / "etc" / "fail2ban"
    (f2b / "jail.d").mkdir(parents=True)
    (f2b / "filter.d").mkdir()
    (f2b / "jail.conf").write_bytes(b"[DEFAULT]\nbantime = 10m\n[asterisk]\nenabled = false\n")
    (f2b / "jail.local").write_bytes(b"[asterisk]\nenabled = true\n[cloudflare]\ncftoken = f2b-token\n")
    (f2b / "jail.d" / "defaults-debian.conf").write_bytes(b"[sshd]\nenabled = true\n")
    (f2b / "filter.d" / "asterisk.conf").write_bytes(b"[Definition]\nfailregex = x\n")
    (root / "etc" / "hostname").write_text("pbx-acme\n")
    cdr = root / "var" / "log" / "asterisk" / "cdr-csv"
    cdr.mkdir(parents=True)
    (cdr / "Master.csv").write_bytes(b"".join(master_csv_row(i) for i in range(30)))
    rx = root / "asterisk-rx"
    rx.mkdir()
    (rx / "pjsip_show_endpoints.txt").write_text(" Endpoint:  100   Not in use    0 of inf\n")
    (rx / "core_show_version.txt").write_text("Asterisk 20.5.0 built by root\n")
    return root


def dump_text(dump: PbxDump) -> str:
    """Everything of a dump as one string, to look for leaked secrets."""
    parts: list[str] = [repr(dump)]
    for tree in (dump.asterisk, dump.fail2ban or {}):
        for f in tree.values():
            parts.append((f.data or b"").decode("latin-1"))
    return "\n".join(parts)


def assert_no_secrets(dump: PbxDump) -> None:
    text = dump_text(dump)
    for secret in SECRETS:
        assert secret not in text, secret


def test_root_like_dump(tmp_path: Path) -> None:
    root = build_root_dump(tmp_path / "acme")
    dump = read_local(root)
    assert dump.instance == "pbx-acme"
    assert dump.origin == f"dir:{root}"
    assert dump.identity == {"hostname": "pbx-acme", "freepbx_id": FREEPBX_ID}
    files = dump.asterisk
    assert files["extensions.conf"].data == b"[from-internal]\nexten => 100,1,Dial(PJSIP/100)\n"  # followed outside
    assert files["sub/pjsip.endpoint.conf"].data is not None
    assert files["sub/loop"].data is None and "not read again" in (files["sub/loop"].error or "")
    assert not any(p.startswith("sub/loop/") for p in files)
    assert files["broken.conf"].error == "broken symbolic link"
    for key_file in ("keys/asterisk.pem", "keys/notes.txt", "tls.key"):
        assert files[key_file].data is None and files[key_file].error == KEY_ERROR
    sip = files["sip.conf"]
    assert sip.data is not None and b"secret=REDACTED ; the phone\n" in sip.data
    assert sip.data.count(b"\n") == 8 and sip.size == len((root / "etc/asterisk/sip.conf").read_bytes())
    assert files["latin1.conf"].data == (root / "etc/asterisk/latin1.conf").read_bytes().replace(
        b"secret=hunter2", b"secret=REDACTED")
    assert files["big.conf"].data is not None  # under the real cap
    assert sorted(dump.fail2ban or {}) == ["jail.conf", "jail.d/defaults-debian.conf", "jail.local"]
    assert dump.cli == {"pjsip_show_endpoints": " Endpoint:  100   Not in use    0 of inf\n",
                        "core_show_version": "Asterisk 20.5.0 built by root\n"}
    assert dump.cli_errors == {k: "not recorded" for k in CLI_COMMANDS if k not in dump.cli}
    [sample] = dump.cdr
    assert sample.store == f"csv:{root}/var/log/asterisk/cdr-csv/Master.csv"
    assert sample.rows_read == 30 and len(sample.rows) == 30
    assert sample.rows[-1] == CdrRow("acme", "PJSIP/109", "PJSIP/trunk-acme", "from-internal")
    assert_no_secrets(dump)


def test_etc_asterisk_copy(tmp_path: Path) -> None:
    etc = tmp_path / "asterisk-copy"
    build_asterisk_tree(etc, tmp_path / "outside")
    dump = read_local(etc, instance="pbx-b")
    assert dump.instance == "pbx-b"
    assert dump.fail2ban is None
    assert dump.cdr == []
    assert set(dump.cli_errors) == set(CLI_COMMANDS)
    assert dump.identity == {"freepbx_id": FREEPBX_ID}
    assert "sip.conf" in dump.asterisk
    assert read_local(etc).instance == "asterisk-copy"  # the folder name without a hostname
    assert_no_secrets(dump)


def test_cdr_csv_override_reads_the_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    etc = tmp_path / "etc-asterisk"
    etc.mkdir()
    (etc / "sip.conf").write_text("[general]\n")
    csv = tmp_path / "Master.csv"
    csv.write_bytes(b"".join(master_csv_row(i, account=f"acct{i}") for i in range(500)))
    monkeypatch.setattr("collectors.pbx.cdr.CDR_TAIL_BYTES_PER_ROW", 300)  # ~300 bytes a row: a partial first line
    dump = read_local(etc, cdr_csv=csv, cdr_rows=20)
    [sample] = dump.cdr
    assert [r.accountcode for r in sample.rows] == [f"acct{i}" for i in range(480, 500)]
    assert sample.rows_read == 20
    missing = read_local(etc, cdr_csv=tmp_path / "nope.csv")
    assert missing.cdr == [] and any("nope.csv" in n for n in missing.notes)


def test_file_bigger_than_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_asterisk_tree(tmp_path / "etc", tmp_path / "out")
    monkeypatch.setattr(dump_mod, "MAX_FILE_BYTES", BIG_FILE_BYTES - 1)
    big = read_local(tmp_path / "etc").asterisk["big.conf"]
    assert big.data is None and big.error == f"larger than {BIG_FILE_BYTES - 1} bytes; not read"
    assert big.size == BIG_FILE_BYTES + 1


def test_tree_and_count_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    for i in range(10):
        (etc / f"f{i}.conf").write_bytes(b"x" * 100)
    monkeypatch.setattr(dump_mod, "MAX_TREE_BYTES", 350)
    dump = read_local(etc)
    read = [f for f in dump.asterisk.values() if f.data is not None]
    assert len(read) == 3 and len(dump.asterisk) == 10
    assert dump.asterisk["f9.conf"].error == "tree size limit reached; not read"
    assert any("tree size limit" in n for n in dump.notes)
    monkeypatch.setattr(dump_mod, "MAX_TREE_BYTES", 10_000)
    monkeypatch.setattr(dump_mod, "MAX_FILES", 4)
    dump = read_local(etc)
    assert sorted(dump.asterisk) == ["f0.conf", "f1.conf", "f2.conf", "f3.conf"]
    assert any("file count limit" in n for n in dump.notes)


def test_unreadable_and_special_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "ok.conf").write_text("[a]\n")
    (etc / "denied.conf").write_text("[b]\n")
    os.mkfifo(etc / "fifo.conf")
    (etc / "self-loop.conf").symlink_to(etc / "self-loop.conf")
    real_read = LocalFs.read

    def read(self: LocalFs, path: str, limit: int) -> bytes:  # root reads everything: simulate EACCES
        if path.endswith("denied.conf"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_read(self, path, limit)

    monkeypatch.setattr(LocalFs, "read", read)
    files = read_local(etc).asterisk
    assert files["ok.conf"].data == b"[a]\n"
    assert files["denied.conf"].error == "permission denied"
    assert files["fifo.conf"].error == "not a regular file; not read"
    assert files["self-loop.conf"].data is None and files["self-loop.conf"].error


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_for_real(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "ok.conf").write_text("[a]\n")
    (etc / "denied.conf").write_text("[b]\n")
    (etc / "denied.conf").chmod(0)
    assert read_local(etc).asterisk["denied.conf"].error == "permission denied"


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(PbxAccessError, match="no such folder"):
        read_local(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PbxAccessError, match="holds no file"):
        read_local(tmp_path / "empty")
    (tmp_path / "file.conf").write_text("x")
    with pytest.raises(PbxAccessError, match="not a folder"):
        read_local(tmp_path / "file.conf")
