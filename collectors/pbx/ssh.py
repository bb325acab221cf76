"""Read a PBX over SSH: the /etc/asterisk and fail2ban trees over SFTP (by the rules of
tree_rules.py), `asterisk -rx` outputs, the host name and a CDR sample (the tail of Master.csv,
or the newest rows of FreePBX's `asteriskcdrdb.cdr` through the `mysql` client).

The server's host key is always verified, against a known_hosts file or a pinned SHA-256
fingerprint; with neither, nothing is sent. Authentication is by key file and/or SSH agent.
No secret (key passphrase, key) ever appears in a message, a log line or a repr.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import logging
import re
import select
import shlex
import socket
import stat as statmod
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import paramiko

from collectors.pbx.cdr import drop_partial_first_line, sample_master_csv, sample_mysql_tsv, tail_window
from collectors.pbx.dump import CLI_COMMANDS, CdrSample, PbxDump
from collectors.pbx.errors import PbxAccessError
from collectors.pbx.redact import redact_config
from collectors.pbx.tree_rules import Node, fail2ban_include, os_reason, walk_tree

log = logging.getLogger(__name__)
_T = TypeVar("_T")

CLI_OUTPUT_MAX_BYTES = 16 * 1024 * 1024
MYSQL_OUTPUT_MAX_BYTES = 16 * 1024 * 1024
_TABLE = re.compile(r"^[A-Za-z0-9_$]+(\.[A-Za-z0-9_$]+)?$")


@dataclass(frozen=True, kw_only=True)
class SshTarget:
    """Where and how to read one PBX over SSH. `key_passphrase` is a secret: it is kept out of
    the repr and of every message."""

    host: str
    port: int = 22
    user: str
    key_file: Path | None = None
    key_passphrase: str | None = field(default=None, repr=False)
    use_agent: bool = False
    known_hosts: Path | None = None
    host_key_fingerprint: str | None = None  # "SHA256:<base64>", as `ssh-keygen -lf` prints it
    config_dir: str = "/etc/asterisk"
    fail2ban_dir: str = "/etc/fail2ban"
    cli_command: str = "asterisk -rx"  # e.g. "sudo -n asterisk -rx"
    cdr_csv: str | None = "/var/log/asterisk/cdr-csv/Master.csv"
    cdr_mysql: str | None = None  # e.g. "asteriskcdrdb.cdr"
    timeout_s: float = 30

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("SSH target: empty host")
        if not self.user:
            raise ValueError("SSH target: empty user")
        if not 0 < self.port < 65536:
            raise ValueError(f"SSH target: port {self.port} out of range")
        if self.cdr_mysql is not None and not _TABLE.match(self.cdr_mysql):
            raise ValueError(f"SSH target: cdr_mysql {self.cdr_mysql!r} is not a table name like asteriskcdrdb.cdr")
        if self.timeout_s <= 0:
            raise ValueError("SSH target: timeout_s must be positive")

    @property
    def origin(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"


def parse_ssh_url(url: str) -> tuple[str, str, int]:
    """`ssh://user@host[:port]` -> (user, host, port). Raises ValueError saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme != "ssh":
        raise ValueError(f"not an ssh:// URL: {url!r}")
    if parts.password is not None:
        raise ValueError("an ssh:// URL must not hold a password (use a key file or the SSH agent)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"an ssh:// URL is ssh://user@host[:port], without path or query: {url!r}")
    if not parts.username:
        raise ValueError(f"ssh:// URL without a user (ssh://user@host): {url!r}")
    if not parts.hostname:
        raise ValueError(f"ssh:// URL without a host: {url!r}")
    try:
        port = parts.port or 22
    except ValueError:
        raise ValueError(f"ssh:// URL with an invalid port: {url!r}") from None
    if port == 0:
        raise ValueError(f"ssh:// URL with an invalid port: {url!r}")
    return parts.username, parts.hostname, port


def fingerprint(key: paramiko.PKey) -> str:
    """The key's SHA-256 fingerprint as OpenSSH prints it: "SHA256:<base64 without padding>"."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _normalise_fingerprint(text: str) -> str:
    value = text.strip()
    if value.upper().startswith("SHA256:"):
        value = value[7:]
    return "SHA256:" + value.rstrip("=")


class _HostKeyRefused(Exception):
    def __init__(self, host: str, seen: str, why: str) -> None:
        super().__init__(why)
        self.host, self.seen, self.why = host, seen, why


class _PinnedPolicy(paramiko.MissingHostKeyPolicy):
    """Accept the server key only when its SHA-256 fingerprint is the pinned one."""

    def __init__(self, pinned: str) -> None:
        self.pinned = _normalise_fingerprint(pinned)

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        seen = fingerprint(key)
        if seen != self.pinned:
            raise _HostKeyRefused(hostname, seen, f"does not match the pinned fingerprint {self.pinned}")


class _RejectPolicy(paramiko.MissingHostKeyPolicy):
    """paramiko's RejectPolicy, keeping the fingerprint seen for the message."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _HostKeyRefused(hostname, fingerprint(key), f"is not in {self.known_hosts}")


def _load_pkey(target: SshTarget) -> paramiko.PKey | None:
    if target.key_file is None:
        return None
    path = Path(target.key_file).expanduser()
    passphrase = target.key_passphrase.encode("utf-8") if target.key_passphrase is not None else None
    try:
        # cryptography wants bytes; it raises TypeError for an encrypted key without passphrase
        return paramiko.PKey.from_path(path, password=passphrase)  # type: ignore[arg-type]
    except paramiko.PasswordRequiredException:
        raise PbxAccessError(f"key file {path} is encrypted and no passphrase was given") from None
    except TypeError:
        if passphrase is None:
            raise PbxAccessError(f"key file {path} is encrypted and no passphrase was given") from None
        raise PbxAccessError(f"cannot load key file {path}: unsupported key format") from None
    except FileNotFoundError:
        raise PbxAccessError(f"key file {path} not found") from None
    except OSError as exc:
        raise PbxAccessError(f"key file {path}: {os_reason(exc)}") from None
    except (paramiko.SSHException, ValueError) as exc:
        hint = "wrong passphrase or " if target.key_passphrase is not None else ""
        raise PbxAccessError(f"cannot load key file {path}: {hint}unsupported key format"
                             f" ({type(exc).__name__})") from None


def _connect(target: SshTarget) -> paramiko.SSHClient:
    where = f"{target.host}:{target.port}"
    if target.known_hosts is None and not target.host_key_fingerprint:
        raise PbxAccessError(f"{where}: no known_hosts or host_key_fingerprint: refusing to trust an unknown host key")
    if target.key_file is None and not target.use_agent:
        raise PbxAccessError(f"{where}: no key_file and use_agent is off: no way to authenticate")
    pkey = _load_pkey(target)
    client = paramiko.SSHClient()
    if target.known_hosts is not None:
        try:
            client.load_host_keys(str(Path(target.known_hosts).expanduser()))
        except FileNotFoundError:
            raise PbxAccessError(f"known_hosts file {target.known_hosts} not found") from None
        except (OSError, paramiko.SSHException) as exc:
            raise PbxAccessError(f"cannot read known_hosts file {target.known_hosts}: {os_reason(exc)}") from None
    if target.host_key_fingerprint:
        client.set_missing_host_key_policy(_PinnedPolicy(target.host_key_fingerprint))
    else:
        assert target.known_hosts is not None
        client.set_missing_host_key_policy(_RejectPolicy(target.known_hosts))
    t = target.timeout_s
    log.debug("connecting to %s as %s", where, target.user)
    try:
        client.connect(target.host, port=target.port, username=target.user, pkey=pkey, allow_agent=target.use_agent,
                       look_for_keys=False, timeout=t, banner_timeout=t, auth_timeout=t, channel_timeout=t)
        if target.host_key_fingerprint:  # also when known_hosts knew the key
            transport = client.get_transport()
            assert transport is not None
            seen = fingerprint(transport.get_remote_server_key())
            if seen != _normalise_fingerprint(target.host_key_fingerprint):
                raise _HostKeyRefused(where, seen, "does not match the pinned fingerprint "
                                      f"{_normalise_fingerprint(target.host_key_fingerprint)}")
    except _HostKeyRefused as exc:
        client.close()
        raise PbxAccessError(f"host key of {where} ({exc.seen}) {exc.why}: refusing to connect") from None
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise PbxAccessError(f"host key of {where} ({fingerprint(exc.key)}) does not match {target.known_hosts}"
                             f" (expected {fingerprint(exc.expected_key)}): refusing to connect") from None
    except paramiko.AuthenticationException:
        client.close()
        how = " and ".join(w for w, on in (("key file", target.key_file is not None),
                                           ("SSH agent", target.use_agent)) if on)
        raise PbxAccessError(f"authentication of {target.user} at {where} failed (with {how})") from None
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        client.close()
        refused = any(isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED
                      for e in exc.errors.values())
        raise PbxAccessError(f"{where}: connection refused" if refused
                             else f"{where}: cannot connect ({os_reason(exc)})") from None
    except socket.gaierror:
        client.close()
        raise PbxAccessError(f"{target.host}: unknown host name") from None
    except TimeoutError:
        client.close()
        raise PbxAccessError(f"{where}: timed out after {t:g} s") from None
    except (paramiko.SSHException, EOFError) as exc:
        client.close()
        raise PbxAccessError(f"{where}: SSH failed: {exc}") from None
    except OSError as exc:
        client.close()
        raise PbxAccessError(f"{where}: cannot connect ({os_reason(exc)})") from None
    return client


class SftpFs:
    """The TreeFs of tree_rules.py over SFTP. Every failure is an OSError."""

    def __init__(self, sftp: paramiko.SFTPClient) -> None:
        self.sftp = sftp

    def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        try:
            return fn(*args)
        except OSError:
            raise
        except (paramiko.SSHException, EOFError) as exc:
            raise OSError(errno.EIO, f"SFTP error: {type(exc).__name__}") from exc

    def stat(self, path: str) -> Node:
        st = self._call(self.sftp.stat, path)
        mode = st.st_mode or 0
        if statmod.S_ISDIR(mode):
            return Node("dir")
        if statmod.S_ISREG(mode):
            return Node("file", int(st.st_size or 0))
        return Node("other")

    def is_symlink(self, path: str) -> bool:
        try:
            return statmod.S_ISLNK(self._call(self.sftp.lstat, path).st_mode or 0)
        except OSError:
            return False

    def dir_key(self, path: str) -> Hashable:
        return str(self._call(self.sftp.normalize, path))  # OpenSSH resolves links in realpath

    def listdir(self, path: str) -> list[str]:
        return list(self._call(self.sftp.listdir, path))

    def read(self, path: str, limit: int) -> bytes:
        def run() -> bytes:
            with self.sftp.open(path, "rb") as fh:
                return bytes(fh.read(limit))
        return self._call(run)

    def read_tail(self, path: str, rows: int) -> tuple[bytes, int]:
        def run() -> tuple[bytes, int]:
            with self.sftp.open(path, "rb") as fh:
                size = int(fh.stat().st_size or 0)
                window = tail_window(size, rows)
                offset = size - window
                fh.seek(offset)
                return bytes(fh.read(window)), offset
        return self._call(run)

    def join(self, folder: str, name: str) -> str:
        return folder.rstrip("/") + "/" + name if folder != "/" else "/" + name


@dataclass
class _Run:
    status: int  # -1: unknown (timed out or output too big)
    out: bytes
    err: bytes
    problem: str | None = None  # timed out, output too big


class _Reader:
    def __init__(self, client: paramiko.SSHClient, target: SshTarget, cdr_rows: int) -> None:
        self.client = client
        self.target = target
        self.cdr_rows = cdr_rows
        transport = client.get_transport()
        assert transport is not None
        self.transport = transport

    def run(self, command: str, limit: int) -> _Run:
        """Run `command`, reading at most `limit` bytes of output, within the target's timeout."""
        timeout = self.target.timeout_s
        chan = self.transport.open_session(timeout=timeout)
        try:
            chan.settimeout(timeout)
            chan.exec_command(command)
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while True:
                got = False
                if chan.recv_stderr_ready():
                    chunk = chan.recv_stderr(65536)
                    if len(err) < 65536:
                        err += chunk
                    got = True
                if chan.recv_ready():
                    chunk = chan.recv(65536)
                    if len(out) + len(chunk) > limit:
                        return _Run(-1, bytes(out), bytes(err), f"output larger than {limit} bytes")
                    out += chunk
                    got = bool(chunk) or got
                if got:
                    continue
                if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return _Run(-1, bytes(out), bytes(err), f"timed out after {timeout:g} s")
                select.select([chan], [], [], min(left, 1.0))
            left = max(0.0, deadline - time.monotonic())
            if not chan.status_event.wait(left):
                return _Run(-1, bytes(out), bytes(err), f"timed out after {timeout:g} s")
            return _Run(chan.recv_exit_status(), bytes(out), bytes(err))
        finally:
            chan.close()

    def read(self) -> PbxDump:
        target = self.target
        dump = PbxDump(instance=target.host, origin=target.origin)
        try:
            sftp = self.client.open_sftp()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise PbxAccessError(f"{target.origin}: cannot start SFTP: {exc}") from None
        try:
            sftp.get_channel().settimeout(target.timeout_s)  # type: ignore[union-attr]
            fs = SftpFs(sftp)
            walk = walk_tree(fs, target.config_dir, label="asterisk")
            if not walk.files:
                raise PbxAccessError(f"{target.origin}: {target.config_dir} holds no file")
            dump.asterisk = walk.files
            dump.notes.extend(walk.notes)
            self._fail2ban(fs, dump)
            self._cdr_csv(fs, dump)
            try:
                etc_hostname = fs.read("/etc/hostname", 4096).decode("utf-8", "replace").strip()
            except OSError:
                etc_hostname = ""
        finally:
            sftp.close()
        self._cli(dump)
        self._identity(dump, etc_hostname)
        self._cdr_mysql(dump)
        log.debug("%s: %d files, %d CLI outputs, %d CDR samples", target.origin, len(dump.asterisk), len(dump.cli),
                  len(dump.cdr))
        return dump

    def _fail2ban(self, fs: SftpFs, dump: PbxDump) -> None:
        folder = self.target.fail2ban_dir
        try:
            node = fs.stat(folder)
        except OSError as exc:
            dump.notes.append(f"fail2ban: {folder}: {os_reason(exc)}")
            return
        if node.kind != "dir":
            dump.notes.append(f"fail2ban: {folder} is not a folder")
            return
        try:
            walk = walk_tree(fs, folder, label="fail2ban", include=fail2ban_include)
        except PbxAccessError as exc:
            dump.notes.append(str(exc))
            return
        dump.fail2ban = walk.files
        dump.notes.extend(walk.notes)

    def _cdr_csv(self, fs: SftpFs, dump: PbxDump) -> None:
        path = self.target.cdr_csv
        if not path:
            return
        store = f"csv:{path}"
        try:
            node = fs.stat(path)
            if node.kind != "file":
                dump.cdr.append(CdrSample(store=store, error="not a regular file"))
                return
            data, offset = fs.read_tail(path, self.cdr_rows)
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.ENOENT:
                dump.notes.append(f"cdr: no {path}")
            else:
                dump.cdr.append(CdrSample(store=store, error=f"cannot read: {os_reason(exc)}"))
            return
        dump.cdr.append(sample_master_csv(drop_partial_first_line(data, offset), store, self.cdr_rows))

    def _cli(self, dump: PbxDump) -> None:
        for key, command in CLI_COMMANDS.items():
            line = f"{self.target.cli_command} {shlex.quote(command)}"
            try:
                run = self.run(line, CLI_OUTPUT_MAX_BYTES)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                dump.cli_errors[key] = f"cannot run: {type(exc).__name__}"
                continue
            reason = _cli_failure(run)
            if reason:
                dump.cli_errors[key] = reason
            else:
                dump.cli[key] = redact_config(f"cli/{key}", run.out).decode("utf-8", "replace")

    def _identity(self, dump: PbxDump, etc_hostname: str) -> None:
        """The `hostname` output, else /etc/hostname; the FreePBX id from the tree."""
        try:
            run = self.run("hostname", 4096)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            problem = f"cannot run hostname: {type(exc).__name__}"
        else:
            name = run.out.decode("utf-8", "replace").strip()
            problem = "" if run.status == 0 and name else f"hostname failed ({_short(run)})"
        if not problem:
            dump.identity["hostname"] = name
        elif etc_hostname:
            dump.identity["hostname"] = etc_hostname
            dump.notes.append(f"identity: {problem}; the host name is /etc/hostname's")
        else:
            dump.notes.append(f"identity: {problem}")
        fid = dump.asterisk.get("freepbx-id")
        if fid is not None and fid.data is not None:
            text = fid.data.decode("utf-8", "replace").strip()
            if text:
                dump.identity["freepbx_id"] = text

    def _cdr_mysql(self, dump: PbxDump) -> None:
        table = self.target.cdr_mysql
        if not table:
            return
        store = f"mysql:{table}"
        rows = max(0, int(self.cdr_rows))
        query = f"SELECT accountcode, channel, dstchannel, dcontext FROM {table} ORDER BY calldate DESC LIMIT {rows}"
        command = f"mysql --batch --raw --skip-column-names -e {shlex.quote(query)}"
        try:
            run = self.run(command, MYSQL_OUTPUT_MAX_BYTES)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            dump.cdr.append(CdrSample(store=store, error=f"cannot run mysql: {type(exc).__name__}"))
            return
        if run.problem or run.status != 0:
            dump.cdr.append(CdrSample(store=store, error=f"mysql failed ({_short(run)})"))
            return
        dump.cdr.append(sample_mysql_tsv(run.out, store, rows))


def _short(run: _Run) -> str:
    if run.problem:
        return run.problem
    text = (run.err or run.out).decode("utf-8", "replace").strip()
    first = text.splitlines()[0][:200] if text else ""
    return f"exit status {run.status}" + (f": {first}" if first else "")


def _cli_failure(run: _Run) -> str | None:
    if run.problem:
        return run.problem
    both = (run.out + b"\n" + run.err).decode("utf-8", "replace")
    if "Unable to connect to remote asterisk" in both:
        return "Asterisk is not running (unable to connect to remote asterisk)"
    err = run.err.decode("utf-8", "replace")
    if run.status == 127 or (run.status != 0 and ("command not found" in err
                                                   or re.search(r"(?m):\s*not found\s*$", err))):
        return "command not found"
    if run.status != 0:
        return _short(run)
    return None


def read_ssh(target: SshTarget, *, cdr_rows: int = 2000) -> PbxDump:
    """The dump of the PBX at `target`. Raises PbxAccessError when the host cannot be reached or
    trusted, authentication fails, or the configuration folder cannot be read; what fails for
    one file, command or store is recorded in the dump instead."""
    client = _connect(target)
    try:
        return _Reader(client, target, cdr_rows).read()
    except PbxAccessError:
        raise
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise PbxAccessError(f"{target.origin}: SSH connection failed while reading: {type(exc).__name__}") from None
    finally:
        client.close()
