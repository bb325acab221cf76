"""Build the collector for each configured source, by its `type`."""

from __future__ import annotations

from pathlib import Path

from attest.config import LoadedConfig, PbsSource, ProxmoxSource
from collectors.base import Collector
from collectors.pbs import PbsCollector
from collectors.proxmox.collector import ProxmoxCollector


def build_collector(config: LoadedConfig, source: ProxmoxSource | PbsSource) -> Collector:
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
