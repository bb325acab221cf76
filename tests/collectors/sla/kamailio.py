"""A real Kamailio for the SIP prober tests: /usr/sbin/kamailio in the foreground on 127.0.0.1, UDP and
TCP on one free port and TLS on another, answering OPTIONS statelessly (200 OK, or 503 in the
"unavailable" mode) and everything else with 404. Its TLS certificate is issued by a test CA made
here with `cryptography` (names sip.test, localhost and 127.0.0.1); a second, unrelated CA is made
for the wrong-CA case.

Use `running_kamailio(folder)` (a context manager) from a fixture; it skips the test when the
kamailio binary is not installed (apt packages kamailio and kamailio-tls-modules). `stop()` and
`start()` let a test take the server away for a while; `start()` returns once it answers again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"
SERVER_NAME = "sip.test"
START_TIMEOUT_S = 20.0
STOP_GRACE_S = 10.0

CONFIG = """#!KAMAILIO
# Attest prober tests: answer OPTIONS statelessly, refuse everything else.
debug=2
log_stderror=yes
log_prefix_mode=0
children=2
tcp_children=2
auto_aliases=no
disable_sctp=yes
# On SIGTERM the main process waits this long for its children before killing the rest itself
# (5.6's TCP main process sometimes misses the shutdown and spins on "receive_fd(): EOF").
exit_timeout=1
enable_tls=yes
listen=udp:{host}:{port}
listen=tcp:{host}:{port}
listen=tls:{host}:{tls_port}
{mpath}
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "tls.so"
modparam("tls", "config", "{tls_cfg}")

request_route {{
    if (is_method("OPTIONS")) {{
        sl_send_reply("{code}", "{phrase}");
        exit;
    }}
    sl_send_reply("404", "Not Here");
    exit;
}}
"""

TLS_CONFIG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}

[client:default]
verify_certificate = no
require_certificate = no
"""


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp …
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


def kamailio_binary() -> str | None:
    found = shutil.which("kamailio")
    if found is None and os.path.exists("/usr/sbin/kamailio"):  # not on a non-root user's PATH
        found = "/usr/sbin/kamailio"
    return found


def _module_dir() -> str | None:
    found = sorted(glob.glob("/usr/lib/*/kamailio/modules")) + sorted(glob.glob("/usr/lib/kamailio/modules"))
    return found[0] if found else None


def free_port(udp_too: bool = True) -> int:
    """A port free for TCP (and UDP) on 127.0.0.1."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = int(tcp.getsockname()[1])
            if not udp_too:
                return port
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for both TCP and UDP")


# --- certificates ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CertAuthority:
    cert_pem: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Attest tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(folder: Path, cn: str) -> CertAuthority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    path = folder / f"{cn.replace(' ', '-').lower()}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CertAuthority(path, cert, key)


def make_server_cert(folder: Path, ca: CertAuthority) -> tuple[Path, Path]:
    """A server certificate for sip.test, localhost and 127.0.0.1 issued by `ca`: (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(SERVER_NAME)).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME), x509.DNSName("localhost"),
                                                        x509.IPAddress(IPv4Address(HOST))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


# --- the server --------------------------------------------------------------------------------

def _options(port: int, local_port: int, call_id: str) -> bytes:
    return (f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{local_port};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:ready@test.invalid>;tag=1\r\n"
            f"To: <sip:{HOST}:{port}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


@dataclass
class Kamailio:
    folder: Path
    port: int  # UDP and TCP
    tls_port: int
    ca: CertAuthority  # issued the server certificate
    wrong_ca: CertAuthority  # did not
    binary: str
    host: str = HOST
    server_name: str = SERVER_NAME
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.folder / "kamailio.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def write_config(self, code: int = 200, phrase: str = "OK") -> Path:
        cert, key = self.folder / "server.pem", self.folder / "server.key"
        tls_cfg = self.folder / "tls.cfg"
        tls_cfg.write_text(TLS_CONFIG.format(key=key, cert=cert))
        mdir = _module_dir()
        cfg = self.folder / "kamailio.cfg"
        cfg.write_text(CONFIG.format(host=self.host, port=self.port, tls_port=self.tls_port, tls_cfg=tls_cfg,
                                     mpath=f'mpath="{mdir}/"' if mdir else "", code=code, phrase=phrase))
        return cfg

    def start(self, code: int = 200, phrase: str = "OK") -> None:
        """Start it (answering OPTIONS with `code` `phrase`) and return once it answers on every port."""
        if self.running:
            raise RuntimeError("kamailio is already running")
        cfg = self.write_config(code, phrase)
        run_dir = self.folder / "run"
        run_dir.mkdir(exist_ok=True)
        with open(self.log, "ab") as log_fh:
            log_fh.write(f"=== start #{self.starts + 1}: OPTIONS → {code} {phrase}\n".encode())
            log_fh.flush()
            self.proc = subprocess.Popen([self.binary, "-DD", "-E", "-m", "32", "-M", "4", "-Y", str(run_dir),
                                          "-f", str(cfg)], stdout=log_fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.starts += 1
        try:
            self._wait_ready()
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop it and return once none of its processes is left (so its ports are free again)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        # SIGTERM to the main process, which stops its children (killing, after exit_timeout, any that
        # hang) and reaps them; only if that fails is the process group (its own session, from
        # start_new_session: only its processes) killed.
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_GRACE_S)
        deadline = time.monotonic() + 10
        while _group_members(proc.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"kamailio processes {_group_members(proc.pid)} do not go away")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.02)
        proc.wait()

    def restart(self, code: int = 200, phrase: str = "OK") -> None:
        self.stop()
        self.start(code, phrase)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        pending = {"udp", "tcp", "tls"}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            call_id = secrets.token_hex(8)
            while pending:
                if self.proc is None or self.proc.poll() is not None:
                    code = None if self.proc is None else self.proc.returncode
                    hint = "" if _module_dir() and glob.glob(f"{_module_dir()}/tls.so") else \
                        " (is kamailio-tls-modules installed?)"
                    raise RuntimeError(f"kamailio exited with {code}{hint}:\n{self._tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"kamailio did not answer on {sorted(pending)}:\n{self._tail()}")
                if "udp" in pending:
                    udp.sendto(_options(self.port, udp.getsockname()[1], call_id), (HOST, self.port))
                    udp.settimeout(0.1)
                    try:
                        while True:
                            data = udp.recv(65535)
                            if call_id.encode() in data:
                                pending.discard("udp")
                                break
                    except TimeoutError:
                        pass
                for name, port in (("tcp", self.port), ("tls", self.tls_port)):
                    if name in pending:
                        try:
                            with socket.create_connection((HOST, port), timeout=0.5):
                                pending.discard(name)
                        except OSError:
                            time.sleep(0.05)


@contextmanager
def running_kamailio(folder: Path, code: int = 200, phrase: str = "OK") -> Iterator[Kamailio]:
    """A Kamailio on 127.0.0.1 (free ports) answering OPTIONS with `code`, stopped when the block ends."""
    binary = kamailio_binary()
    if binary is None:
        pytest.skip("kamailio not installed (apt-get install kamailio kamailio-tls-modules)")
    folder.mkdir(parents=True, exist_ok=True)
    ca = make_ca(folder, "Attest Test SIP CA")
    wrong = make_ca(folder, "Some Other CA")
    make_server_cert(folder, ca)
    port = free_port()
    tls_port = free_port(udp_too=False)
    while tls_port == port:
        tls_port = free_port(udp_too=False)
    server = Kamailio(folder=folder, port=port, tls_port=tls_port, ca=ca, wrong_ca=wrong, binary=binary)
    try:
        server.start(code, phrase)
        yield server
    finally:
        server.stop()
