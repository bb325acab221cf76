"""Build the collector for each configured source."""

from __future__ import annotations

from attest.config import LoadedConfig, ProxmoxSource
from collectors.base import Collector
from collectors.proxmox.inventory import ProxmoxInventoryCollector


def build_collector(config: LoadedConfig, source: ProxmoxSource) -> Collector:
    user, _, token_name = source.token_id.partition("!")
    verify: bool | str = (str(config.resolve(source.verify_tls)) if not isinstance(source.verify_tls, bool)
                          else source.verify_tls)
    return ProxmoxInventoryCollector(
        source_id=source.id, host=source.url.removeprefix("https://"), user=user, token_name=token_name,
        token_value=config.source_secret(source), verify_tls=verify, timeout_s=source.timeout_s,
        node_sites=dict(source.node_sites),
    )
