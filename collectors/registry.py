"""Build the collector for each configured source, by its `type`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from attest.config import (
    AsteriskSource,
    LoadedConfig,
    PbsSource,
    PrometheusSlaSource,
    SlaFileSource,
    Source,
    ZabbixSlaSource,
)
from collectors.base import Collector
from collectors.pbs import PbsCollector
from collectors.pbx.collector import AsteriskCollector
from collectors.pbx.dump import PbxDump
from collectors.pbx.local import read_local
from collectors.pbx.ssh import SshTarget, read_ssh
from collectors.proxmox.collector import ProxmoxCollector
from collectors.sla.file_import import SampleFileCollector


def build_collector(config: LoadedConfig, source: Source) -> Collector:
    if isinstance(source, AsteriskSource):
        return AsteriskCollector(source_id=source.id, read=_pbx_reader(config, source))
    if isinstance(source, SlaFileSource):
        return SampleFileCollector(source.id, config.resolve(source.path), source.format, source.interval_s)
    if isinstance(source, PrometheusSlaSource):
        from collectors.sla.registry import prometheus_collector

        return prometheus_collector(config, source)
    if isinstance(source, ZabbixSlaSource):
        from collectors.sla.registry import zabbix_collector

        return zabbix_collector(config, source)
    user, _, token_name = source.token_id.partition("!")
    host = source.url.removeprefix("https://")
    if isinstance(source, PbsSource):
        return PbsCollector(
            source_id=source.id, host=host, user=user, token_name=token_name, token_value=config.source_secret(source),
            verify_tls=_verify(config, source.verify_tls), timeout_s=source.timeout_s, concurrency=source.concurrency,
            site=source.site, remote_sites=dict(source.remote_sites),
        )
    return ProxmoxCollector(
        source_id=source.id, host=host, user=user, token_name=token_name, token_value=config.source_secret(source),
        verify_tls=_verify(config, source.verify_tls), timeout_s=source.timeout_s, concurrency=source.concurrency,
        task_history_days=source.task_history_days, node_sites=dict(source.node_sites),
    )


def _verify(config: LoadedConfig, verify_tls: bool | Path) -> bool | str:
    """True/False, or the CA bundle path resolved against the config file's folder."""
    return verify_tls if isinstance(verify_tls, bool) else str(config.resolve(verify_tls))


def _pbx_reader(config: LoadedConfig, source: AsteriskSource) -> Callable[[], PbxDump]:
    if source.path is not None:
        path = config.resolve(source.path)
        cdr = config.resolve(source.cdr_csv) if source.cdr_csv else None
        return lambda: read_local(path, instance=source.id, cdr_csv=cdr, cdr_rows=source.cdr_rows)
    ssh = source.ssh
    assert ssh is not None  # the model requires one of path or ssh

    def read() -> PbxDump:
        target = SshTarget(host=ssh.host, port=ssh.port, user=ssh.user,
                           key_file=config.resolve(ssh.key_file) if ssh.key_file else None,
                           key_passphrase=config.pbx_passphrase(source), use_agent=ssh.use_agent,
                           known_hosts=config.resolve(ssh.known_hosts) if ssh.known_hosts else None,
                           host_key_fingerprint=ssh.host_key_fingerprint, config_dir=ssh.config_dir,
                           cli_command=ssh.cli_command, cdr_csv=ssh.cdr_csv, cdr_mysql=ssh.cdr_mysql,
                           timeout_s=ssh.timeout_s)
        return read_ssh(target, cdr_rows=source.cdr_rows)
    return read
