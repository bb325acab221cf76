"""Build the Prometheus sample collector from its configuration."""

from __future__ import annotations

from attest.config import LoadedConfig, PrometheusSlaSource
from collectors.sla.prometheus import PrometheusCollector, PrometheusReader


def prometheus_collector(config: LoadedConfig, source: PrometheusSlaSource) -> PrometheusCollector:
    verify = source.verify_tls if isinstance(source.verify_tls, bool) else str(config.resolve(source.verify_tls))
    reader = PrometheusReader(source.url, series=source.series, instance_label=source.instance_label,
                              vantage_label=source.vantage_label, instances=dict(source.instances),
                              timeout_s=source.timeout_s, verify_tls=verify,
                              bearer_token=config.prometheus_token(source))
    return PrometheusCollector(source.id, reader, days=source.history_days, interval_s=source.interval_s)
