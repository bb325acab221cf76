"""SLA evidence: availability probe samples from Prometheus, Zabbix, imported files and Attest's
own SIP OPTIONS prober, stored as evidence exactly as read."""
