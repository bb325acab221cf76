"""The simulated provider that `attest demo` and the tests run against.

A fictional Italian cloud-PBX provider with two datacenter sites, one 3-node Proxmox VE cluster
and twelve tenants. One PBX VM is (wrongly) tagged for two tenants: the failure ISO-01 exists
to catch. Everything here is plain data; `attest.lab.pve_api` serves it in the shape of the
real Proxmox VE API, and `attest.workspace` writes the matching `attest.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LabSite:
    id: str
    name: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    operator: str
    address: str


@dataclass(frozen=True)
class LabNode:
    name: str
    nodeid: int
    ip: str
    site: str


@dataclass(frozen=True)
class LabTenant:
    id: str
    legal_name: str
    language: str  # "it" | "en"
    tag: str | None  # Proxmox tag that marks its instances, if the provider uses tags for it
    pool: str | None  # Proxmox pool holding its instances, if any
    sla_target: float


@dataclass(frozen=True)
class LabGuest:
    vmid: int
    type: str  # "qemu" | "lxc"
    name: str
    node: str
    tags: tuple[str, ...] = ()
    pool: str | None = None
    status: str = "running"
    template: bool = False
    memory_mb: int = 2048
    cores: int = 2
    nics: tuple[str, ...] = ("virtio=BC:24:11:00:00:00,bridge=vmbr0,firewall=1",)
    description: str = ""


@dataclass(frozen=True)
class LabToken:
    """An API token and the ACL it holds: path -> privileges (propagated to sub-paths).

    The most specific entry on a path replaces what its parents grant. An empty tuple is an
    explicit "no access" (PVE's NoAccess role): it takes away on that path and below whatever a
    parent grants, and privileges on a pool do not bring it back.
    """

    userid: str  # e.g. "attest@pve"
    tokenid: str  # e.g. "evidence"
    secret: str
    acl: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def full_id(self) -> str:
        return f"{self.userid}!{self.tokenid}"


AUDITOR_PRIVS = ("Datastore.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit")


@dataclass(frozen=True)
class LabWorld:
    cluster_name: str
    pve_version: str
    pve_release: str
    repoid: str
    sites: tuple[LabSite, ...]
    nodes: tuple[LabNode, ...]
    tenants: tuple[LabTenant, ...]
    guests: tuple[LabGuest, ...]
    tokens: tuple[LabToken, ...]

    def guest(self, vmid: int) -> LabGuest:
        for g in self.guests:
            if g.vmid == vmid:
                return g
        raise KeyError(vmid)

    @property
    def pools(self) -> list[str]:
        return sorted({g.pool for g in self.guests if g.pool} | {t.pool for t in self.tenants if t.pool})


def _mac(vmid: int) -> str:
    return f"BC:24:11:{vmid // 256 % 256:02X}:{vmid % 256:02X}:01"


def _pbx(vmid: int, name: str, node: str, tenant: LabTenant | None, *, type_: str = "qemu",
         extra_tags: tuple[str, ...] = (), pool: str | None = None, use_pool: bool = True) -> LabGuest:
    tags = tuple(t for t in ((tenant.tag if tenant else None), "pbx", *extra_tags) if t)
    nic = (f"virtio={_mac(vmid)},bridge=vmbr0,firewall=1" if type_ == "qemu"
           else f"name=eth0,bridge=vmbr0,firewall=1,hwaddr={_mac(vmid)},ip=dhcp,type=veth")
    return LabGuest(vmid=vmid, type=type_, name=name, node=node, tags=tags,
                    pool=pool if pool is not None else (tenant.pool if tenant and use_pool else None),
                    nics=(nic,), description="FreePBX 17" if type_ == "qemu" else "Asterisk 20 (LXC)")


def demo_world() -> LabWorld:
    sites = (
        LabSite("mil1", "Milano DC1", "Milano", "IT", "Esempio Datacenter S.p.A.", "Via dell'Esempio 1, 20139 Milano"),
        LabSite("fra1", "Frankfurt DC2", "Frankfurt am Main", "DE", "Beispiel Rechenzentrum GmbH",
                "Beispielstraße 2, 60314 Frankfurt am Main"),
    )
    nodes = (
        LabNode("pve1", 1, "10.20.0.11", "mil1"),
        LabNode("pve2", 2, "10.20.0.12", "mil1"),
        LabNode("pve3", 3, "10.20.0.13", "fra1"),
    )
    t = {
        "acme": LabTenant("acme", "ACME Impianti S.r.l.", "it", "t-acme", "acme", 99.95),
        "bellini": LabTenant("bellini", "Studio Legale Bellini", "it", "t-bellini", "bellini", 99.9),
        "conti": LabTenant("conti", "Conti Logistica S.p.A.", "it", "t-conti", "conti", 99.95),
        "delta": LabTenant("delta", "Delta Engineering GmbH", "en", "t-delta", "delta", 99.9),
        "esposito": LabTenant("esposito", "Farmacia Esposito", "it", None, "esposito", 99.5),
        "fontana": LabTenant("fontana", "Fontana & Figli S.n.c.", "it", "t-fontana", None, 99.9),
        "greco": LabTenant("greco", "Greco Assicurazioni S.r.l.", "it", "t-greco", "greco", 99.95),
        "horizon": LabTenant("horizon", "Horizon Travel Ltd", "en", "t-horizon", "horizon", 99.9),
        "ingrosso": LabTenant("ingrosso", "Ingrosso Alimentari Sud S.r.l.", "it", "t-ingrosso", "ingrosso", 99.5),
        "lombardi": LabTenant("lombardi", "Poliambulatorio Lombardi", "it", "t-lombardi", "lombardi", 99.95),
        # These two share one PBX VM: the motivating failure.
        "moretti": LabTenant("moretti", "Moretti Arredamenti S.r.l.", "it", "t-moretti", "moretti", 99.9),
        "nautilus": LabTenant("nautilus", "Nautilus Yachting S.r.l.", "en", "t-nautilus", "nautilus", 99.9),
    }
    guests = (
        _pbx(101, "pbx-acme-01", "pve1", t["acme"]),
        _pbx(102, "pbx-acme-02", "pve3", t["acme"], extra_tags=("standby",)),
        _pbx(103, "pbx-bellini-01", "pve2", t["bellini"]),
        _pbx(104, "pbx-conti-01", "pve1", t["conti"]),
        _pbx(105, "pbx-delta-01", "pve3", t["delta"]),
        _pbx(106, "pbx-esposito-01", "pve2", t["esposito"], type_="lxc"),
        _pbx(107, "pbx-fontana-01", "pve1", t["fontana"]),
        _pbx(108, "pbx-greco-01", "pve2", t["greco"]),
        _pbx(109, "pbx-horizon-01", "pve3", t["horizon"], type_="lxc"),
        _pbx(110, "pbx-ingrosso-01", "pve1", t["ingrosso"]),
        _pbx(111, "pbx-lombardi-01", "pve2", t["lombardi"]),
        # One FreePBX for two companies, tagged for both and in neither's pool.
        LabGuest(vmid=120, type="qemu", name="pbx-shared-01", node="pve1",
                 tags=("t-moretti", "t-nautilus", "pbx"), pool=None,
                 nics=(f"virtio={_mac(120)},bridge=vmbr0,firewall=1",),
                 description="FreePBX 16 multi-tenant (legacy)"),
        # Provider infrastructure: belongs to no tenant.
        LabGuest(vmid=900, type="qemu", name="mon-01", node="pve2", tags=("infra",), memory_mb=4096),
        LabGuest(vmid=901, type="lxc", name="sbc-edge-01", node="pve3", tags=("infra", "sbc"),
                 nics=(f"name=eth0,bridge=vmbr0,firewall=1,hwaddr={_mac(901)},ip=dhcp,type=veth",)),
        LabGuest(vmid=9000, type="qemu", name="tpl-freepbx17", node="pve1", status="stopped", template=True,
                 tags=("template",)),
    )
    tokens = (
        LabToken("attest@pve", "evidence", "3f1c2a7e-5b9d-4e8a-9c61-0d2f7b4e8a15", {"/": AUDITOR_PRIVS}),
        # A token someone scoped too narrowly: it sees two guests and nothing cluster-wide.
        LabToken("attest@pve", "narrow", "9a4e7c21-d3b8-4f06-8e5a-61c7f0b2d493",
                 {"/vms/101": ("VM.Audit",), "/vms/120": ("VM.Audit",)}),
        # Looks complete (PVEAuditor on /) but someone set NoAccess on the shared PBX: VM 120 is
        # silently missing from every list, and /access/permissions at / and /vms looks the same.
        LabToken("attest@pve", "blinkered", "7e22cafa-aec1-446e-bce8-9ac4e04a60f7",
                 {"/": AUDITOR_PRIVS, "/vms/120": ()}),
    )
    return LabWorld(
        cluster_name="pbx-cluster-1", pve_version="9.0.4", pve_release="9.0", repoid="39d8a4de7dfb2c40",
        sites=sites, nodes=nodes, tenants=tuple(t.values()), guests=guests, tokens=tokens,
    )
