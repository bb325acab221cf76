"""`attest.yaml`: the provider, its sites, sources and tenants (pydantic models + loader).

Secrets are never values in the file, only references (`*_env`, `*_file`), resolved at the
moment of use by `Secret.reveal()`. A bad file gets one message naming the file, the key path
and the problem (`ConfigError`, exit 2).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from attest.canonical import digest_of
from attest.errors import BadInput
from evidence.scrub import MIN_KNOWN_SECRET

if TYPE_CHECKING:
    from cryptography import x509

    from attest.waivers import Waiver

_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
TenantId = Annotated[str, Field(pattern=_ID)]


class ConfigError(BadInput):
    pass


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(Strict):
    """Where a secret lives: an environment variable or a file (relative to the config file)."""

    env: str | None = None
    file: Path | None = None


def reveal(env: str | None, file: Path | None, base: Path, what: str) -> str:
    """Resolve a secret reference; the error names the reference, never the value."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{what}: environment variable {env} is not set")
        return value
    if file:
        path = file if file.is_absolute() else base / file
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read secret file {path}: {exc.strerror}") from exc
    raise ConfigError(f"{what}: no secret reference (set *_env or *_file)")


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class SigningConfig(Strict):
    """The provider key (PKCS#12) and, optionally, an RFC 3161 timestamp authority: with
    ``tsa_url`` every PDF is signed PAdES B-T, or not at all if the TSA fails; without, B-B."""

    pkcs12_file: Path
    password_env: str | None = None
    password_file: Path | None = None
    tsa_url: str | None = Field(default=None, description="RFC 3161 timestamp authority, http(s)://host[:port]/path")
    tsa_timeout_s: float = Field(default=10.0, gt=0, le=300)
    tsa_ca_file: Path | None = None  # PEM: the CA(s) the TSA certificate must chain to
    tsa_username: str | None = Field(default=None, min_length=1)  # HTTP basic auth, with a password ref
    tsa_password_env: str | None = None
    tsa_password_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_tsa_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "tsa_password" in data:
            raise ValueError("tsa_password: secrets are not written in the config; "
                             "use tsa_password_env or tsa_password_file")
        return data

    @field_validator("tsa_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            raise ValueError(f"tsa_url {value!r} is not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"tsa_url must be an http:// or https:// URL with a host, not {value!r}")
        if "@" in parts.netloc:
            raise ValueError("tsa_url must not carry credentials: use tsa_username with tsa_password_env "
                             "or tsa_password_file")
        if parts.fragment or any(c.isspace() for c in value):
            raise ValueError(f"tsa_url {value!r} has a fragment or white space")
        return value

    @model_validator(mode="after")
    def _refs(self) -> SigningConfig:
        if bool(self.password_env) == bool(self.password_file):
            raise ValueError("give exactly one of password_env or password_file")
        # Set and meaningful: a dumped-and-reloaded config carries every key, with None or the default.
        defaults = {"tsa_timeout_s": type(self).model_fields["tsa_timeout_s"].default}
        tsa_keys = sorted(k for k in self.model_fields_set if k.startswith("tsa_") and k != "tsa_url"
                          and getattr(self, k) not in (None, defaults.get(k)))
        if not self.tsa_url:
            if tsa_keys:
                raise ValueError(f"{', '.join(tsa_keys)} given without tsa_url (no timestamp authority is "
                                 "configured, so documents would be PAdES B-B)")
            return self
        if self.tsa_password_env and self.tsa_password_file:
            raise ValueError("give at most one of tsa_password_env or tsa_password_file")
        has_password = bool(self.tsa_password_env or self.tsa_password_file)
        if has_password != bool(self.tsa_username):
            raise ValueError("TSA basic authentication needs both tsa_username and one of "
                             "tsa_password_env or tsa_password_file")
        parts = urlsplit(self.tsa_url)
        if has_password and parts.scheme != "https" and parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError("tsa_url is http://: the TSA password would travel in clear text; use https://")
        return self


class ProviderConfig(Strict):
    name: str
    vat_number: str
    address: str
    contact: str
    verification_url: str = Field(pattern=r"^https?://")
    signing: SigningConfig
    trust_anchors: list[Path] = Field(min_length=1)
    demo: bool = False
    # How long after its period a document stays valid (unless superseded or revoked first):
    # long enough for the next month's to be issued.
    validity_days: int = Field(default=45, ge=1, le=400)


class Certification(Strict):
    standard: str  # e.g. "ISO/IEC 27001:2022"
    issuer: str
    number: str
    expires: str  # YYYY-MM-DD


class SiteConfig(Strict):
    id: TenantId
    name: str
    # What the place is: PLACE-01 accepts only datacenters (an office server room is not one).
    kind: Literal["datacenter", "office", "other"] = "datacenter"
    country: str = Field(pattern=r"^[A-Z]{2}$")
    operator: str
    address: str
    certifications: list[Certification] = Field(default_factory=list)


class ApiTokenSource(Strict):
    """What every Proxmox API source has: an HTTPS endpoint and an API token given by reference."""

    id: TenantId
    url: str = Field(pattern=r"^https://[^/]+$", description="https://host[:port], no path")
    token_id: str = Field(pattern=r"^[^@!\s]+@[^@!\s]+![A-Za-z0-9_.-]+$", description="user@realm!tokenid")
    token_value_env: str | None = None
    token_value_file: Path | None = None
    verify_tls: bool | Path = True  # True, False, or a CA bundle path
    # proxmoxer's default is 5 s, too short for /cluster/resources on a big cluster.
    timeout_s: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _one_token_ref(self) -> ApiTokenSource:
        if bool(self.token_value_env) == bool(self.token_value_file):
            raise ValueError("give exactly one of token_value_env or token_value_file")
        return self


class ProxmoxSource(ApiTokenSource):
    type: Literal["proxmox_ve"]
    concurrency: int = Field(default=8, ge=1, le=64, description="API calls in flight at once")
    task_history_days: int = Field(default=40, ge=1, le=400, description="vzdump task history to read")
    node_sites: dict[str, str] = Field(default_factory=dict)  # node name -> site id


class PbsSource(ApiTokenSource):
    """A Proxmox Backup Server (port 8007), read directly (proxmoxer service="PBS", token auth)."""

    type: Literal["proxmox_bs"]
    concurrency: int = Field(default=4, ge=1, le=64)
    site: str  # the site this PBS stands in
    # PBS remotes (sync targets/sources) -> the site they stand in: where an off-site copy lives.
    remote_sites: dict[str, str] = Field(default_factory=dict)
    # The Proxmox VE sources whose guests back up here (backup-id = VMID); default: all of them.
    pve_sources: list[str] = Field(default_factory=list)
    # The PVE storage ids (type pbs) that point at this server. PVE names the server by the address
    # it uses (often an internal IP), which need not be the host in `url`; without this list a
    # storage is matched to this source by that host only.
    pve_storages: list[str] = Field(default_factory=list)


class PbxTenantEntry(Strict):
    """One tenant's part of a PBX: extension numbers ("10-19", "300") and endpoint names."""

    extensions: list[str] = Field(default_factory=list)
    endpoints: list[str] = Field(default_factory=list)

    @field_validator("extensions", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, str | int):
            return [str(value)]
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) else v for v in value]
        return value


class PbxSsh(Strict):
    """How to read a PBX over SSH. The host key is always verified: give known_hosts or the
    pinned fingerprint ("SHA256:…" as `ssh-keygen -lf` prints it). Key file or SSH agent."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str
    key_file: Path | None = None
    key_passphrase_env: str | None = None
    key_passphrase_file: Path | None = None
    use_agent: bool = False
    known_hosts: Path | None = None
    host_key_fingerprint: str | None = Field(default=None, pattern=r"^SHA256:[A-Za-z0-9+/]{43}=?$")
    config_dir: str = "/etc/asterisk"
    cli_command: str = "asterisk -rx"
    cdr_csv: str | None = "/var/log/asterisk/cdr-csv/Master.csv"
    cdr_mysql: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")
    timeout_s: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _trust_and_auth(self) -> PbxSsh:
        if not self.known_hosts and not self.host_key_fingerprint:
            raise ValueError("give known_hosts or host_key_fingerprint: an unknown host key is never trusted")
        if not self.key_file and not self.use_agent:
            raise ValueError("give key_file or set use_agent: true")
        return self


class AsteriskSource(Strict):
    """An Asterisk/FreePBX instance: its configuration tree read from a local folder (a copy of
    /etc/asterisk, or a dump holding etc/asterisk) or over SSH, with the tenant inventory that
    says whose extensions are whose (`tenants`, same shape as `attest pbx-check --inventory`)."""

    id: TenantId
    type: Literal["asterisk"]
    path: Path | None = None
    ssh: PbxSsh | None = None
    cdr_csv: Path | None = None  # local only: a Master.csv to sample beside the tree
    cdr_rows: int = Field(default=2000, ge=0, le=100_000)
    tenants: dict[str, PbxTenantEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_access(self) -> AsteriskSource:
        if (self.path is None) == (self.ssh is None):
            raise ValueError("give exactly one of path or ssh")
        return self


class SlaFileSource(Strict):
    """Probe samples exported by any monitor: CSV with the header `timestamp,vantage,instance,up`
    (optionally `,latency_ms`), or JSON lines with those keys (what `attest probe` writes)."""

    id: TenantId
    type: Literal["sla_file"]
    path: Path
    format: Literal["auto", "csv", "jsonl"] = "auto"
    interval_s: float = Field(default=60.0, gt=0, le=3600, description="how often each instance is probed")


class PrometheusSlaSource(Strict):
    """Raw 0/1 samples of a per-instance series (e.g. blackbox_exporter's probe_success), read
    through range-vector selectors over the period, never query_range."""

    id: TenantId
    type: Literal["prometheus"]
    url: str = Field(pattern=r"^https?://[^/]+(/.*)?$")
    series: str = "probe_success"
    instance_label: str = "instance"
    vantage_label: str | None = None  # without it, every sample's vantage is this source's id
    instances: dict[str, str] = Field(min_length=1, description="label value -> SLA instance id")
    interval_s: float = Field(default=60.0, gt=0, le=3600)
    history_days: int = Field(default=40, ge=1, le=400, description="how far back each collection reads")
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    verify_tls: bool | Path = True
    bearer_token_env: str | None = None
    bearer_token_file: Path | None = None


class ZabbixSlaSource(Strict):
    """Zabbix 6+ SLA figures (`sla.getsli`), a cross-check of the probes: not what SLA-01 judges."""

    id: TenantId
    type: Literal["zabbix"]
    url: str = Field(pattern=r"^https?://.+/api_jsonrpc\.php$")
    token_env: str | None = None
    token_file: Path | None = None
    slaid: str
    services: dict[str, str] = Field(min_length=1, description="Zabbix serviceid -> SLA instance id")
    months: int = Field(default=2, ge=1, le=24)
    time_zone: str = "Europe/Rome"
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    verify_tls: bool | Path = True

    @model_validator(mode="after")
    def _one_token_ref(self) -> ZabbixSlaSource:
        if bool(self.token_env) == bool(self.token_file):
            raise ValueError("give exactly one of token_env or token_file")
        return self


class MaintenanceWindow(Strict):
    """Planned maintenance: excluded from the SLA only when announced at least the contract's
    notice period before it started (SLA-01's `notice_hours`)."""

    instances: list[str] = Field(min_length=1)  # SLA instance ids
    start: datetime
    end: datetime
    announced_at: datetime
    reason: str = ""

    @model_validator(mode="after")
    def _times(self) -> MaintenanceWindow:
        for name in ("start", "end", "announced_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} needs a UTC offset (e.g. 2026-11-07T02:00:00+01:00)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


Source = Annotated[ProxmoxSource | PbsSource | AsteriskSource | SlaFileSource | PrometheusSlaSource
                   | ZabbixSlaSource, Field(discriminator="type")]
ControlParams = dict[str, dict[str, Any]]  # control id -> parameter -> value (overrides the catalog)


class ContractConfig(Strict):
    """A contract type (e.g. "premium") whose control parameters differ from the catalog's."""

    id: TenantId
    name: str
    controls: ControlParams = Field(default_factory=dict)


class TenantMatch(Strict):
    """How a tenant's instances are recognised in Proxmox: by tag, by pool, or both."""

    proxmox_tags: list[str] = Field(default_factory=list)
    proxmox_pools: list[str] = Field(default_factory=list)

    @field_validator("proxmox_tags")
    @classmethod
    def _lower(cls, tags: list[str]) -> list[str]:
        return [t.lower() for t in tags]  # Proxmox VE stores tags in lower case

    @model_validator(mode="after")
    def _something(self) -> TenantMatch:
        if not self.proxmox_tags and not self.proxmox_pools:
            raise ValueError("give at least one of proxmox_tags or proxmox_pools")
        return self


class TenantConfig(Strict):
    id: TenantId
    legal_name: str
    language: Literal["en", "it"] = "en"
    match: TenantMatch
    sla_target: float = Field(default=99.9, gt=0, le=100)
    # The SLA instances (ids the probe sources report) that make up this tenant's service: its
    # availability is its worst instance's.
    sla_instances: list[str] = Field(default_factory=list)
    contract: str | None = None  # a contracts[].id whose parameters apply
    # Per-tenant parameters, over the contract's and the catalog's: e.g. {"BK-02": {"rpo_hours": 12}},
    # {"FW-02": {"approved_open": [{"proto": "udp", "dport": "5060", "reason": "SIP trunk"}]}}.
    controls: ControlParams = Field(default_factory=dict)


class PortalConfig(Strict):
    """`attest serve`: the customer portal's settings (attest/portal/). They change no verdict, so
    they are not part of the configuration digest."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # PEM files for HTTPS; without them the portal speaks plain HTTP (behind a TLS proxy, or on
    # loopback for a trial: browsers accept Secure cookies from http://127.0.0.1 and localhost).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    session_hours: float = Field(default=8, gt=0, le=720)  # absolute lifetime of a sign-in
    idle_minutes: int = Field(default=60, ge=1, le=10080)  # a session unused this long ends
    max_failed_logins: int = Field(default=5, ge=1, le=100)  # consecutive, then the account is locked…
    lockout_minutes: int = Field(default=15, ge=1, le=10080)  # …for this long
    client_logins_per_minute: int = Field(default=20, ge=1, le=10000)  # attempts from one address
    reset_link_hours: int = Field(default=24, ge=1, le=720)
    share_link_max_days: int = Field(default=90, ge=1, le=3650)
    max_upload_mb: int = Field(default=20, ge=1, le=200)  # the verification page's upload limit
    # Verification uploads (the page and POST /api/v1/verify) from one address per minute; each
    # one costs a signature check, so more are refused with 429 before the body is read.
    verify_uploads_per_minute: int = Field(default=30, ge=1, le=10000)
    audit_retention_days: int = Field(default=400, ge=30, le=3650)
    # How often staged audit entries are sealed into the evidence log: each seal is a signed run
    # whose checkpoint re-checks the log. Entries are durable (staged) before any answer either way.
    audit_seal_seconds: float = Field(default=30, ge=0.1, le=3600)
    # Addresses of reverse proxies whose X-Forwarded-For is believed for the client address.
    trusted_proxies: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tls_pair(self) -> PortalConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("give both tls_cert_file and tls_key_file, or neither")
        return self


class AttestConfig(Strict):
    provider: ProviderConfig
    portal: PortalConfig = Field(default_factory=PortalConfig)
    database_url: str | None = None  # default: sqlite file in the workspace
    evidence_dir: Path = Path("evidence")
    output_dir: Path = Path("documents")
    time_zone: str = "Europe/Rome"
    sites: list[SiteConfig] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    contracts: list[ContractConfig] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    # Accepted exceptions (attest/waivers.py), beside the config; none when the file is absent.
    waivers_file: Path = Path("waivers.yaml")
    tenants: list[TenantConfig] = Field(min_length=1)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _references(self) -> AttestConfig:
        for kind, items in (("site", self.sites), ("source", self.sources), ("contract", self.contracts),
                            ("tenant", self.tenants)):
            ids = [i.id for i in items]
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} id(s): {', '.join(dupes)}")
        site_ids = {s.id for s in self.sites}
        pve_ids = {s.id for s in self.sources if isinstance(s, ProxmoxSource)}
        for src in self.sources:
            if isinstance(src, AsteriskSource | SlaFileSource | PrometheusSlaSource | ZabbixSlaSource):
                continue
            if isinstance(src, ProxmoxSource):
                for node, site in src.node_sites.items():
                    if site not in site_ids:
                        raise ValueError(f"source {src.id}: node {node} is mapped to unknown site {site!r}")
            else:
                for remote, site in {"(the PBS itself)": src.site, **src.remote_sites}.items():
                    if site not in site_ids:
                        raise ValueError(f"source {src.id}: {remote} is placed at unknown site {site!r}")
                unknown = sorted(set(src.pve_sources) - pve_ids)
                if unknown:
                    raise ValueError(f"source {src.id}: pve_sources names unknown source(s) {', '.join(unknown)}")
        contract_ids = {c.id for c in self.contracts}
        for tenant in self.tenants:
            if tenant.contract and tenant.contract not in contract_ids:
                raise ValueError(f"tenant {tenant.id}: unknown contract {tenant.contract!r}")
        return self


class LoadedConfig:
    """A validated config together with where it came from (paths resolve against its folder)."""

    def __init__(self, model: AttestConfig, path: Path, raw: dict[str, Any]) -> None:
        self.model = model
        self.path = path
        self.base = path.parent
        self._raw = raw

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else (self.base / p)

    @property
    def database_url(self) -> str:
        return self.model.database_url or f"sqlite:///{self.resolve(Path('attest.db'))}"

    @property
    def evidence_dir(self) -> Path:
        return self.resolve(self.model.evidence_dir)

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.model.output_dir)

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the validated config: what `attest.config` records carry."""
        return digest_of(self.canonical())

    def canonical(self) -> dict[str, Any]:
        # The validated model, not the raw YAML: comments and key order do not change the digest,
        # and defaults that were applied are part of what was used. Where the log and documents
        # live does not change a verdict (and a database URL may carry credentials): left out.
        # The waivers do change verdicts: their content is in, where the file lives is not.
        part = self.model.model_dump(mode="json", exclude={"database_url", "evidence_dir", "output_dir",
                                                           "waivers_file", "portal"})
        if self.waivers:
            part["waivers"] = [w.model_dump(mode="json") for w in self.waivers]
        return part

    @cached_property
    def waivers(self) -> list[Waiver]:
        from attest.catalog import load_catalog  # the catalog imports the checks, which import this module
        from attest.waivers import load_waivers

        return load_waivers(self.resolve(self.model.waivers_file), [t.id for t in self.model.tenants],
                            [c.entry.id for c in load_catalog()])

    def provider_part(self) -> dict[str, Any]:
        """The configuration without its tenants: what a provider-wide record may hold. A PBX
        source's inventory names tenants: only how many it lists stays here; each tenant's own
        record (`tenant_part`) holds its entry."""
        from attest.waivers import for_everyone

        part = self.canonical()
        part.pop("tenants")
        part.pop("waivers", None)
        if everyone := for_everyone(self.waivers):
            part["waivers"] = everyone  # a tenant's own waiver would name it: only those for all
        for src in part["sources"]:
            if src.get("type") == "asterisk":
                src["tenants"] = {"count": len(src["tenants"])}
        return part

    def tenant_part(self, tenant: TenantConfig) -> dict[str, Any]:
        """What the configuration says about one tenant: its settings and its PBX inventory entries."""
        part = tenant.model_dump(mode="json")
        pbx = {src.id: src.tenants[tenant.id].model_dump(mode="json") for src in self.asterisk_sources()
               if tenant.id in src.tenants}
        if pbx:
            part["pbx_inventory"] = pbx
        from attest.waivers import for_tenant

        if waivers := for_tenant(self.waivers, tenant.id):
            part["waivers"] = waivers
        return part

    def asterisk_sources(self, tenant_id: str | None = None) -> list[AsteriskSource]:
        """The PBX sources (whose inventory lists *tenant_id*, if given)."""
        return [s for s in self.model.sources if isinstance(s, AsteriskSource)
                and (tenant_id is None or tenant_id in s.tenants)]

    def sla_sources(self) -> list[SlaFileSource | PrometheusSlaSource]:
        return [s for s in self.model.sources if isinstance(s, SlaFileSource | PrometheusSlaSource)]

    def zabbix_sources(self) -> list[ZabbixSlaSource]:
        return [s for s in self.model.sources if isinstance(s, ZabbixSlaSource)]

    def zabbix_token(self, src: ZabbixSlaSource) -> str:
        return reveal(src.token_env, src.token_file, self.base, f"sources.{src.id}.token")

    def prometheus_token(self, src: PrometheusSlaSource) -> str | None:
        if not (src.bearer_token_env or src.bearer_token_file):
            return None
        return reveal(src.bearer_token_env, src.bearer_token_file, self.base, f"sources.{src.id}.bearer_token")

    def known_secrets(self) -> list[str]:
        """Every secret the configuration references that can be read now (API tokens, passwords,
        passphrases, wherever a ``<name>_env``/``<name>_file`` pair points), for the evidence log
        to redact by value: a token a sysadmin pasted into a VM's notes is found by no key name.
        Unreadable references are skipped: the step that needs one reports it."""
        found: list[str] = []

        def walk(model: BaseModel, where: str) -> None:
            fields = type(model).model_fields
            for name in fields:
                value = getattr(model, name)
                if isinstance(value, BaseModel):
                    walk(value, f"{where}.{name}")
                if name.endswith("_env") and f"{name[:-4]}_file" in fields:
                    env, file = value, getattr(model, f"{name[:-4]}_file")
                    if env or file:
                        try:
                            secret = reveal(env, file, self.base, f"{where}.{name[:-4]}")
                        except ConfigError:
                            continue
                        if len(secret) >= MIN_KNOWN_SECRET and secret not in found:
                            found.append(secret)

        for i, source in enumerate(self.model.sources):
            walk(source, f"sources[{i}]")
        walk(self.model.provider.signing, "provider.signing")
        return found

    def pbx_passphrase(self, src: AsteriskSource) -> str | None:
        ssh = src.ssh
        if ssh is None or not (ssh.key_passphrase_env or ssh.key_passphrase_file):
            return None
        where = f"sources.{src.id}.ssh.key_passphrase"
        return reveal(ssh.key_passphrase_env, ssh.key_passphrase_file, self.base, where)

    def tenant(self, tenant_id: str) -> TenantConfig:
        for t in self.model.tenants:
            if t.id == tenant_id:
                return t
        raise BadInput(f"unknown tenant {tenant_id!r} (known: {', '.join(t.id for t in self.model.tenants)})")

    def control_terms(self, tenant: TenantConfig, control_id: str, defaults: dict[str, Any]
                      ) -> list[tuple[str, Any, str, str | None]]:
        """The parameters of `control_params`, each with where its value came from: (name, value,
        "catalog" | "contract" | "tenant", contract id). SLA-01's target, a tenant setting rather
        than a catalog parameter, is listed with them: the document shows what was promised."""
        contract = next((c for c in self.model.contracts if c.id == tenant.contract), None)
        terms: dict[str, tuple[str, Any, str, str | None]] = {
            k: (k, v, "catalog", None) for k, v in defaults.items()}
        if contract:
            terms |= {k: (k, v, "contract", contract.id) for k, v in contract.controls.get(control_id, {}).items()}
        terms |= {k: (k, v, "tenant", None) for k, v in tenant.controls.get(control_id, {}).items()}
        if control_id == "SLA-01":
            terms["sla_target"] = ("sla_target", tenant.sla_target, "tenant", None)
        return [terms[k] for k in sorted(terms)]

    def control_params(self, tenant: TenantConfig, control_id: str, defaults: dict[str, Any]) -> dict[str, Any]:
        """The catalog's parameters for *control_id*, overridden by the tenant's contract, then the tenant."""
        params = dict(defaults)
        contract = next((c for c in self.model.contracts if c.id == tenant.contract), None)
        if contract:
            params.update(contract.controls.get(control_id, {}))
        params.update(tenant.controls.get(control_id, {}))
        return params

    def source_secret(self, src: ApiTokenSource) -> str:
        return reveal(src.token_value_env, src.token_value_file, self.base, f"sources.{src.id}.token_value")

    def signing_password(self) -> bytes:
        s = self.model.provider.signing
        return reveal(s.password_env, s.password_file, self.base, "provider.signing.password").encode()

    def tsa_credentials(self) -> tuple[str, str] | None:
        """(user, password) for the timestamp authority's HTTP basic authentication, if configured."""
        s = self.model.provider.signing
        if not s.tsa_username:
            return None
        return s.tsa_username, reveal(s.tsa_password_env, s.tsa_password_file, self.base,
                                      "provider.signing.tsa_password")

    def tsa_ca_certificates(self) -> list[x509.Certificate]:
        """The certificates in ``provider.signing.tsa_ca_file`` (none if unset): extra trust
        anchors for the timestamp authority's certificate, at signing and in `attest verify`."""
        s = self.model.provider.signing
        if s.tsa_ca_file is None:
            return []
        from attest.signing import SigningError, load_certificates

        try:
            return load_certificates(self.resolve(s.tsa_ca_file), "provider.signing.tsa_ca_file")
        except SigningError as exc:
            raise ConfigError(f"{self.path}: {exc}") from None


_SECRET_LOOKING = re.compile(r"(?i)^(token|token_value|password|secret|api_key|private_key|key_passphrase|passphrase)$")


def _reject_inline_secrets(node: Any, path: str) -> None:
    """A key named like a secret with a literal value is refused: secrets are referenced only."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SECRET_LOOKING.match(key):
                raise ConfigError(f"{here}: secrets are not written in the config; use {key}_env or {key}_file")
            _reject_inline_secrets(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _reject_inline_secrets(value, f"{path}[{i}]")


def _key_path(loc: tuple[Any, ...], raw: Any) -> str:
    """Turn a pydantic error location into `tenants[3].match` (naming list items by id if they have one)."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict) and "id" in node[item]:
                label = f"[{item}] (id {node[item]['id']!r})"
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            is_tag = isinstance(node, dict) and item not in node and item == node.get("type")
            if is_tag:
                continue  # discriminated-union tag, not a key
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def load_config(path: Path) -> LoadedConfig:
    path = path.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file (run `attest init DIR` to create a workspace)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of settings, got {type(raw).__name__}")
    try:
        _reject_inline_secrets(raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        model = AttestConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        msg = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}: {_key_path(first['loc'], raw)}: {msg}{more}") from exc
    _check_control_overrides(model, path)
    loaded = LoadedConfig(model, path, raw)
    _ = loaded.waivers  # a bad waivers.yaml is refused now, not when the first document is judged
    return loaded


def _check_control_overrides(model: AttestConfig, path: Path) -> None:
    """Overrides name controls and parameters the catalog has: a typo must not silently keep the default."""
    from attest.catalog import load_catalog  # the catalog imports the checks, which import this module

    known = {c.entry.id: c.entry.params for c in load_catalog()}
    owners = [(f"contracts[{i}] (id {c.id!r})", c.controls) for i, c in enumerate(model.contracts)]
    owners += [(f"tenants[{i}] (id {t.id!r})", t.controls) for i, t in enumerate(model.tenants)]
    for where, controls in owners:
        for control_id, params in controls.items():
            if control_id not in known:
                raise ConfigError(f"{path}: {where}.controls: unknown control {control_id!r} "
                                  f"(known: {', '.join(sorted(known))})")
            for name in params:
                if name not in known[control_id]:
                    raise ConfigError(f"{path}: {where}.controls.{control_id}: {control_id} has no parameter "
                                      f"{name!r} (it has: {', '.join(sorted(known[control_id])) or 'none'})")
