"""Where `attest pbx-check` and the PBX collector read from: a local folder or `ssh://user@host[:port]`."""

from __future__ import annotations

from pathlib import Path

from attest.errors import BadInput
from collectors.pbx.dump import PbxDump
from collectors.pbx.errors import PbxAccessError
from collectors.pbx.local import read_local
from collectors.pbx.ssh import SshTarget, parse_ssh_url, read_ssh


def read_target(target: str, *, known_hosts: Path | None = None, host_key_fingerprint: str | None = None,
                key_file: Path | None = None, key_passphrase: str | None = None, use_agent: bool = False,
                config_dir: str = "/etc/asterisk", cli_command: str = "asterisk -rx",
                cdr_csv: str | None = None, cdr_mysql: str | None = None, cdr_rows: int = 2000,
                timeout_s: float = 30.0, instance: str | None = None) -> PbxDump:
    """Read a PBX into a dump; every access problem becomes a BadInput naming the target."""
    try:
        if target.startswith("ssh://"):
            try:
                user, host, port = parse_ssh_url(target)
            except ValueError as exc:
                raise BadInput(f"{target}: {exc}") from exc
            ssh = SshTarget(host=host, port=port, user=user, key_file=key_file, key_passphrase=key_passphrase,
                            use_agent=use_agent or key_file is None, known_hosts=known_hosts,
                            host_key_fingerprint=host_key_fingerprint, config_dir=config_dir, cli_command=cli_command,
                            cdr_csv=cdr_csv if cdr_csv is not None else "/var/log/asterisk/cdr-csv/Master.csv",
                            cdr_mysql=cdr_mysql, timeout_s=timeout_s)
            dump = read_ssh(ssh, cdr_rows=cdr_rows)
        else:
            dump = read_local(Path(target), instance=instance, cdr_csv=Path(cdr_csv) if cdr_csv else None,
                              cdr_rows=cdr_rows)
    except PbxAccessError as exc:
        raise BadInput(str(exc)) from exc
    except ValueError as exc:  # e.g. SshTarget validation
        raise BadInput(f"{target}: {exc}") from exc
    if instance:
        dump.instance = instance
    return dump
