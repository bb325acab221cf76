"""A real OpenSSH server for the SSH access tests: /usr/sbin/sshd on 127.0.0.1 and a free port,
with its own host key, client key, authorized_keys and configuration in a temporary folder.

Use `running_sshd(folder)` (a context manager) from a fixture; it skips the test when
/usr/sbin/sshd is not installed (apt package openssh-server).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    folder: Path
    host_key_pub: str  # "ssh-ed25519 AAAA…"
    host_fingerprint: str  # "SHA256:…", as ssh-keygen -lf prints it
    client_key: Path  # private key whose public half is authorized
    log: Path

    def known_hosts(self, name: str = "known_hosts", key_line: str | None = None) -> Path:
        """A known_hosts file with an entry "[127.0.0.1]:port <key>" (the server's by default)."""
        path = self.folder / name
        path.write_text(f"[{self.host}]:{self.port} {key_line or self.host_key_pub}\n")
        return path


def keygen(path: Path, passphrase: str = "", kind: str = "ed25519") -> Path:
    """A new key pair at `path` and `path`.pub."""
    subprocess.run([SSH_KEYGEN, "-q", "-t", kind, "-N", passphrase, "-C", "attest-test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


def key_fingerprint(pub: Path) -> str:
    out = subprocess.run([SSH_KEYGEN, "-lf", str(pub)], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on port {port}: {log.read_text(errors='replace')[-2000:]}")


@contextmanager
def running_sshd(folder: Path, extra_config: tuple[str, ...] = ()) -> Iterator[SshServer]:
    """An sshd serving the current user, key authentication only, until the block ends.
    `extra_config` adds sshd_config lines (e.g. "SetEnv NAME=value")."""
    if not os.path.exists(SSHD):
        pytest.skip(f"{SSHD} not installed (apt-get install openssh-server)")
    if shutil.which(SSH_KEYGEN) is None:
        pytest.skip("ssh-keygen not installed (apt-get install openssh-client)")
    folder.mkdir(parents=True, exist_ok=True)
    host_key = keygen(folder / "ssh_host_ed25519_key")
    client_key = keygen(folder / "client_key")
    authorized = folder / "authorized_keys"
    authorized.write_text((folder / "client_key.pub").read_text())
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        "ListenAddress 127.0.0.1",
        f"Port {port}",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {authorized}",
        f"PidFile {folder / 'sshd.pid'}",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        *extra_config,
    ]) + "\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)
    log = folder / "sshd.log"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log_fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, log)
        yield SshServer(host="127.0.0.1", port=port, user=getpass.getuser(), folder=folder,
                        host_key_pub=" ".join((folder / "ssh_host_ed25519_key.pub").read_text().split()[:2]),
                        host_fingerprint=key_fingerprint(folder / "ssh_host_ed25519_key.pub"),
                        client_key=client_key, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
