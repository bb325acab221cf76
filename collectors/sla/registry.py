"""Build the Prometheus and Zabbix SLA collectors from their configuration."""

from __future__ import annotations

from attest.config import LoadedConfig, PrometheusSlaSource, ZabbixSlaSource
from collectors.sla.prometheus import PrometheusCollector, PrometheusReader
from collectors.sla.zabbix import ZabbixClient, ZabbixSlaCollector


def prometheus_collector(config: LoadedConfig, source: PrometheusSlaSource) -> PrometheusCollector:
    verify = source.verify_tls if isinstance(source.verify_tls, bool) else str(config.resolve(source.verify_tls))
    reader = PrometheusReader(source.url, series=source.series, instance_label=source.instance_label,
                              vantage_label=source.vantage_label, instances=dict(source.instances),
                              timeout_s=source.timeout_s, verify_tls=verify,
                              bearer_token=config.prometheus_token(source))
    return PrometheusCollector(source.id, reader, days=source.history_days, interval_s=source.interval_s)


def zabbix_collector(config: LoadedConfig, source: ZabbixSlaSource) -> ZabbixSlaCollector:
    verify = source.verify_tls if isinstance(source.verify_tls, bool) else str(config.resolve(source.verify_tls))
    client = ZabbixClient(source.url, config.zabbix_token(source), timeout_s=source.timeout_s, verify_tls=verify)
    return ZabbixSlaCollector(source.id, client, source.slaid, dict(source.services), months=source.months,
                              time_zone=source.time_zone)
