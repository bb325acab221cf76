"""read_ssh against a real OpenSSH server (sshd.py) serving a small PBX tree, with a fake
`asterisk` script standing in for the Asterisk CLI, and a private MariaDB for the CDR table."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from collectors.pbx import dump as dump_mod
from collectors.pbx.dump import CLI_COMMANDS, CdrRow
from collectors.pbx.errors import PbxAccessError
from collectors.pbx.local import read_local
from collectors.pbx.ssh import SshTarget, parse_ssh_url, read_ssh
from collectors.pbx.tree_rules import KEY_ERROR
from tests.collectors.pbx.sshd import SshServer, _free_port, keygen, running_sshd
from tests.collectors.pbx.test_access_local import (
    BIG_FILE_BYTES,
    FREEPBX_ID,
    assert_no_secrets,
    build_root_dump,
    dump_text,
    master_csv_row,
)

FAKE_ASTERISK = """#!/bin/sh
# Stands in for `asterisk -rx '<command>'`: prints the recorded output of the command.
[ "$1" = "-rx" ] || { echo "usage: asterisk -rx <command>" >&2; exit 2; }
f="{rx}/$(printf '%s' "$2" | tr ' ' '_').txt"
if [ -f "$f" ]; then cat "$f"; exit 0; fi
if [ "$2" = "features show" ]; then
  echo "Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)"; exit 1
fi
echo "No such command '$2'" >&2
exit 1
"""

PASSPHRASE = "correct-horse-battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as srv:
        yield srv


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root-like tree the server's file system holds, and the fake asterisk at bin/asterisk."""
    root = build_root_dump(tmp_path_factory.mktemp("pbx") / "root")
    (root / "bin").mkdir()
    script = root / "bin" / "asterisk"
    script.write_text(FAKE_ASTERISK.replace("{rx}", str(root / "asterisk-rx")))
    script.chmod(0o755)
    return root


def target(server: SshServer, root: Path, **changes: object) -> SshTarget:
    base = SshTarget(host=server.host, port=server.port, user=server.user, key_file=server.client_key,
                     host_key_fingerprint=server.host_fingerprint, config_dir=str(root / "etc" / "asterisk"),
                     fail2ban_dir=str(root / "etc" / "fail2ban"), cli_command=f"{root / 'bin' / 'asterisk'} -rx",
                     cdr_csv=str(root / "var" / "log" / "asterisk" / "cdr-csv" / "Master.csv"), timeout_s=20)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_reads_the_same_as_locally(server: SshServer, served: Path) -> None:
    dump = read_ssh(target(server, served))
    local = read_local(served)
    assert dump.origin == f"ssh://{server.user}@127.0.0.1:{server.port}"
    assert dump.asterisk == local.asterisk  # same walking rules: symlinks, loop, keys, redaction
    assert dump.fail2ban == local.fail2ban
    files = dump.asterisk
    assert files["extensions.conf"].data == b"[from-internal]\nexten => 100,1,Dial(PJSIP/100)\n"
    assert files["keys/asterisk.pem"].data is None and files["keys/asterisk.pem"].error == KEY_ERROR
    assert files["broken.conf"].error == "broken symbolic link"
    assert "not read again" in (files["sub/loop"].error or "")
    assert files["latin1.conf"].data == (served / "etc/asterisk/latin1.conf").read_bytes().replace(
        b"secret=hunter2", b"secret=REDACTED")
    assert sorted(dump.fail2ban or {}) == ["jail.conf", "jail.d/defaults-debian.conf", "jail.local"]
    assert dump.cli == local.cli
    assert dump.cli_errors["features_show"] == "Asterisk is not running (unable to connect to remote asterisk)"
    assert dump.cli_errors["dialplan_show"] == "exit status 1: No such command 'dialplan show'"
    assert set(dump.cli) | set(dump.cli_errors) == set(CLI_COMMANDS)
    assert dump.identity == {"hostname": socket.gethostname(), "freepbx_id": FREEPBX_ID}
    assert dump.instance == "127.0.0.1"
    [sample] = dump.cdr
    assert sample.store == f"csv:{served}/var/log/asterisk/cdr-csv/Master.csv"
    assert sample.rows == local.cdr[0].rows and len(sample.rows) == 30
    assert_no_secrets(dump)


def test_file_bigger_than_the_cap(server: SshServer, served: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dump_mod, "MAX_FILE_BYTES", BIG_FILE_BYTES - 1)
    big = read_ssh(target(server, served, cdr_csv=None)).asterisk["big.conf"]
    assert big.data is None and big.error == f"larger than {BIG_FILE_BYTES - 1} bytes; not read"


def test_master_csv_tail(server: SshServer, tmp_path: Path, served: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "Master.csv"
    csv.write_bytes(b"".join(master_csv_row(i, account=f"acct{i}") for i in range(2000)))
    monkeypatch.setattr("collectors.pbx.cdr.CDR_TAIL_BYTES_PER_ROW", 300)  # a window smaller than the file
    dump = read_ssh(target(server, served, cdr_csv=str(csv)), cdr_rows=25)
    [sample] = dump.cdr
    assert [r.accountcode for r in sample.rows] == [f"acct{i}" for i in range(1975, 2000)]
    assert sample.rows_read == 25
    assert sample.rows[0] == CdrRow("acct1975", "PJSIP/105", "PJSIP/trunk-acme", "from-internal")
    assert "0039333444" not in repr(sample)
    missing = read_ssh(target(server, served, cdr_csv=str(tmp_path / "none.csv")))
    assert missing.cdr == [] and any("none.csv" in n for n in missing.notes)


def test_known_hosts(server: SshServer, served: Path, tmp_path: Path) -> None:
    good = server.known_hosts("kh-good")
    dump = read_ssh(target(server, served, host_key_fingerprint=None, known_hosts=good, cdr_csv=None))
    assert "sip.conf" in dump.asterisk

    other = keygen(tmp_path / "other_host_key")
    other_line = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    wrong = server.known_hosts("kh-wrong", key_line=other_line)
    with pytest.raises(PbxAccessError, match="does not match") as err:
        read_ssh(target(server, served, host_key_fingerprint=None, known_hosts=wrong))
    assert server.host_fingerprint in str(err.value) and f"127.0.0.1:{server.port}" in str(err.value)

    absent = tmp_path / "kh-absent"
    absent.write_text(f"otherhost {server.host_key_pub}\n127.0.0.1 {server.host_key_pub}\n")  # port 22 entry only
    with pytest.raises(PbxAccessError, match="is not in") as err:
        read_ssh(target(server, served, host_key_fingerprint=None, known_hosts=absent))
    assert server.host_fingerprint in str(err.value)

    with pytest.raises(PbxAccessError, match=r"known_hosts file .* not found"):
        read_ssh(target(server, served, host_key_fingerprint=None, known_hosts=tmp_path / "nope"))


def test_pinned_fingerprint(server: SshServer, served: Path) -> None:
    wrong = "SHA256:" + "A" * 43
    with pytest.raises(PbxAccessError, match="does not match the pinned fingerprint") as err:
        read_ssh(target(server, served, host_key_fingerprint=wrong))
    assert server.host_fingerprint in str(err.value) and "127.0.0.1" in str(err.value)
    # pinned and known_hosts: both must agree
    with pytest.raises(PbxAccessError, match="pinned"):
        read_ssh(target(server, served, host_key_fingerprint=wrong, known_hosts=server.known_hosts("kh-pin")))


def test_no_way_to_trust_the_host(server: SshServer, served: Path) -> None:
    with pytest.raises(PbxAccessError,
                       match="no known_hosts or host_key_fingerprint: refusing to trust an unknown host key"):
        read_ssh(target(server, served, host_key_fingerprint=None, known_hosts=None))


def test_authentication(server: SshServer, served: Path, tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(PbxAccessError, match=f"authentication of {server.user} at 127.0.0.1:{server.port} failed"):
        read_ssh(target(server, served, key_file=stranger))
    with pytest.raises(PbxAccessError, match="no way to authenticate"):
        read_ssh(target(server, served, key_file=None, use_agent=False))
    with pytest.raises(PbxAccessError, match=r"key file .* not found"):
        read_ssh(target(server, served, key_file=tmp_path / "nokey"))


def test_key_with_passphrase(server: SshServer, served: Path, tmp_path: Path) -> None:
    key = keygen(tmp_path / "locked", passphrase=PASSPHRASE)
    with open(server.folder / "authorized_keys", "a") as fh:
        fh.write(Path(f"{key}.pub").read_text())
    t = target(server, served, key_file=key, key_passphrase=PASSPHRASE, cdr_csv=None)
    assert PASSPHRASE not in repr(t) and PASSPHRASE not in str(t)
    dump = read_ssh(t)
    assert "sip.conf" in dump.asterisk and PASSPHRASE not in dump_text(dump)
    with pytest.raises(PbxAccessError, match="encrypted and no passphrase"):
        read_ssh(replace(t, key_passphrase=None))
    with pytest.raises(PbxAccessError, match="wrong passphrase") as err:
        read_ssh(replace(t, key_passphrase=PASSPHRASE + "x"))
    assert PASSPHRASE not in str(err.value)


def test_connection_refused(server: SshServer, served: Path) -> None:
    port = _free_port()
    with pytest.raises(PbxAccessError, match=f"127.0.0.1:{port}: connection refused"):
        read_ssh(target(server, served, port=port))


def test_missing_config_dir_and_cli(server: SshServer, served: Path) -> None:
    with pytest.raises(PbxAccessError, match="cannot read the asterisk folder /nonexistent/asterisk: not found"):
        read_ssh(target(server, served, config_dir="/nonexistent/asterisk"))
    dump = read_ssh(target(server, served, cli_command="/nonexistent/asterisk -rx", fail2ban_dir="/nonexistent",
                           cdr_csv=None))
    assert dump.cli == {}
    assert dump.cli_errors == {k: "command not found" for k in CLI_COMMANDS}
    assert dump.fail2ban is None and any("fail2ban" in n for n in dump.notes)


@pytest.mark.parametrize(("url", "parsed"), [
    ("ssh://root@pbx.example.com", ("root", "pbx.example.com", 22)),
    ("ssh://asterisk@10.0.0.5:2222", ("asterisk", "10.0.0.5", 2222)),
    ("ssh://admin@[2001:db8::1]:22", ("admin", "2001:db8::1", 22)),
])
def test_parse_ssh_url(url: str, parsed: tuple[str, str, int]) -> None:
    assert parse_ssh_url(url) == parsed


@pytest.mark.parametrize(("url", "message"), [
    ("http://root@host", "not an ssh:// URL"),
    ("ssh://host", "without a user"),
    ("ssh://root@", "without a host"),
    ("ssh://root@host:notaport", "invalid port"),
    ("ssh://root@host:99999", "invalid port"),
    ("ssh://root:pw@host", "must not hold a password"),
    ("ssh://root@host/etc", "without path"),
])
def test_parse_ssh_url_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ssh_url(url)


def test_target_checks() -> None:
    with pytest.raises(ValueError, match="cdr_mysql"):
        SshTarget(host="h", user="u", cdr_mysql="cdr; DROP TABLE x")
    assert "key_passphrase" not in repr(SshTarget(host="h", user="u", key_passphrase="s3cret"))


# --- MySQL CDR over SSH, with a private MariaDB server --------------------------------------------

# FreePBX framework installlib/SQL/cdr.sql
CDR_SCHEMA = """CREATE TABLE cdr (
   calldate datetime NOT NULL default '0000-00-00 00:00:00',
   clid varchar(80) NOT NULL default '',
   src varchar(80) NOT NULL default '',
   dst varchar(80) NOT NULL default '',
   dcontext varchar(80) NOT NULL default '',
   channel varchar(80) NOT NULL default '',
   dstchannel varchar(80) NOT NULL default '',
   lastapp varchar(80) NOT NULL default '',
   lastdata varchar(80) NOT NULL default '',
   duration int(11) NOT NULL default '0',
   billsec int(11) NOT NULL default '0',
   disposition varchar(45) NOT NULL default '',
   amaflags int(11) NOT NULL default '0',
   accountcode varchar(20) NOT NULL default '',
   uniqueid varchar(32) NOT NULL default '',
   userfield varchar(255) NOT NULL default '',
   did varchar(50) NOT NULL default '',
   recordingfile varchar(255) NOT NULL default '',
   KEY `calldate` (`calldate`),
   KEY `dst` (`dst`),
   KEY `accountcode` (`accountcode`),
   KEY `uniqueid` (`uniqueid`),
   KEY `did` (`did`)
);
"""


def _cdr_inserts(n: int) -> str:
    rows = []
    for i in range(n):
        rows.append(f"('2024-05-01 10:{i // 60:02d}:{i % 60:02d}', '\"Alice\" <0039333444>', '0039333444',"
                    f" '10{i % 10}', 'from-internal', 'PJSIP/10{i % 10}-{i:08x}',"
                    f" 'Local/0612345678@from-internal-{i:08x};1',"
                    f" 'Dial', 'PJSIP/0612345678@trunk', 60, 55, 'ANSWERED', 3, 'acct{i}', '1714557600.{i}', '',"
                    f" '0612345678', '')")
    return "INSERT INTO cdr VALUES " + ",\n".join(rows) + ";\n"


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private MariaDB (unix socket only, no grant tables) holding asteriskcdrdb.cdr; yields the
    folder whose my.cnf points a mysql client at it."""
    tools = {name: shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
             for name in ("mariadbd", "mariadb-install-db", "mysql")}
    if not all(tools.values()):
        pytest.skip("MariaDB not installed (apt-get install mariadb-server mariadb-client)")
    folder = tmp_path_factory.mktemp("mariadb")
    data, sock = folder / "data", folder / "mysqld.sock"
    user = getpass.getuser()
    subprocess.run([str(tools["mariadb-install-db"]), "--no-defaults", f"--datadir={data}", f"--user={user}",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True, timeout=120)
    log = folder / "mariadbd.log"
    proc = subprocess.Popen([str(tools["mariadbd"]), "--no-defaults", f"--datadir={data}", f"--socket={sock}",
                             "--skip-networking", "--skip-grant-tables", f"--user={user}",
                             f"--pid-file={folder / 'mariadbd.pid'}", f"--log-error={log}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mariadbd did not start") from None
                time.sleep(0.1)
        (folder / "my.cnf").write_text(f"[client]\nsocket={sock}\n")
        sql = "CREATE DATABASE asteriskcdrdb;\nUSE asteriskcdrdb;\n" + CDR_SCHEMA + _cdr_inserts(50)
        subprocess.run([str(tools["mysql"]), "--batch"], input=sql.encode(), check=True, capture_output=True,
                       env={**os.environ, "MYSQL_HOME": str(folder)}, timeout=60)
        yield folder
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_cdr_from_mysql_over_ssh(mariadb: Path, served: Path, tmp_path: Path) -> None:
    # The mysql client run over SSH finds the private server through MYSQL_HOME/my.cnf, set by sshd.
    with running_sshd(tmp_path / "sshd", extra_config=(f"SetEnv MYSQL_HOME={mariadb}",)) as srv:
        dump = read_ssh(target(srv, served, cdr_csv=None, cdr_mysql="asteriskcdrdb.cdr"), cdr_rows=10)
        [sample] = dump.cdr
        assert sample.store == "mysql:asteriskcdrdb.cdr"
        assert sample.error is None
        assert [r.accountcode for r in sample.rows] == [f"acct{i}" for i in range(49, 39, -1)]  # newest first
        assert sample.rows[0] == CdrRow("acct49", "PJSIP/109", "Local/*@from-internal", "from-internal")
        assert sample.rows_read == 10
        text = repr(sample)
        assert "0612345678" not in text and "0039333444" not in text
        bad = read_ssh(target(srv, served, cdr_csv=None, cdr_mysql="asteriskcdrdb.nope"), cdr_rows=10)
        [failed] = bad.cdr
        assert failed.rows == () and failed.error is not None and "mysql failed (exit status 1" in failed.error
