"""The lab's Proxmox VE API: a pure request handler that answers like PVE 9 does.

No sockets here: `attest.lab.server` feeds it requests. What it returns follows the real wire
format, because the collectors are tested against it (see ../shared/reference/proxmox/NOTES.md):

* every answer is `{"data": ...}` JSON; booleans are 0/1 integers; defaults are omitted;
* a failed login is a 401 whose message is in the HTTP reason and whose body is empty, other
  errors are `{"data": null, "message": "...\\n"}` with the message in the reason too;
* list endpoints are silently filtered by the token's privileges, exactly the trap an evidence
  collector has to detect (a narrow token gets a short list, not an error) -- storage content
  too, per volume, by pve-storage's rules (a disk image needs VM.Config.Disk, not VM.Audit);
* guest metrics are fake but deterministic, so two runs over the same world give the same bytes.

Fault injection (for tests) is set per API path, e.g. "/cluster/resources": `not_json_paths`
answers 200 with an HTML page, `error_paths` answers the given status, `slow_paths` sleeps first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from attest.lab.world import LabGuest, LabNode, LabToken, LabWorld

API_PREFIX = "/api2/json"
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"

GIB = 1024**3
MIB = 1024**2

# Reason phrases PVE uses for the AnyEvent pseudo-statuses (595 = node unreachable, ...).
_PSEUDO_STATUS_REASONS = {
    595: "No route to host",
    596: "Connection timed out",
    597: "Connection reset by peer",
    598: "Request aborted",
    599: "Internal error",
}


@dataclass(frozen=True)
class _Storage:
    id: str
    plugin: str  # storage.cfg type
    content: tuple[str, ...]  # allowed content types
    shared: bool


# The storages every node has. LabWorld does not model storage: every guest's one disk lives on
# the shared Ceph RBD storage "ceph-vm"; "local" is each node's /var/lib/vz directory.
_STORAGES = (
    _Storage("local", "dir", ("backup", "iso", "vztmpl"), False),
    _Storage("ceph-vm", "rbd", ("images", "rootdir"), True),
)
_GUEST_DISK_STORAGE = "ceph-vm"

# What each node's "local" holds: an installer ISO and a container template (no backups; the lab
# has no vzdump). Entries as pve-storage's Plugin.pm get_subdir_files lists them.
_LOCAL_FILES: tuple[dict[str, Any], ...] = (
    {"volid": "local:iso/SNG7-PBX16-64bit-2302-1.iso", "format": "iso", "size": 2_256_535_552,
     "ctime": 1_701_093_714, "content": "iso"},
    {"volid": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "format": "tzst", "size": 126_703_420,
     "ctime": 1_725_353_107, "content": "vztmpl"},
)

# Content types the `pve-storage-content` format accepts (pve-storage Plugin.pm verify_content).
_CONTENT_TYPES = ("images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import")

# Paths /access/permissions always considers, as pve-access-control's get_effective_permissions.
_STANDARD_PERMISSION_PATHS = ("/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms")

_TOKEN_HEADER = re.compile(r"^\s*PVEAPIToken\s*=\s*(?P<user>[^\s!]+)!(?P<tokenid>[^\s=]+)=(?P<secret>\S+)\s*$")

_NOT_JSON_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response "
    b"from an upstream server.</p></body></html>\n"
)


@dataclass(frozen=True)
class LabResponse:
    status: int
    reason: str
    body: bytes
    content_type: str


class ApiError(Exception):
    """An error answer; raised anywhere below `PveApi.handle` and turned into a response there."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


@dataclass(frozen=True)
class _Param:
    enum: tuple[str, ...] | None = None
    check: Callable[[str], str | None] | None = None  # returns the error message, if any


@dataclass(frozen=True)
class _Request:
    token: LabToken
    path_params: dict[str, str]
    query: dict[str, str]


@dataclass(frozen=True)
class _Route:
    template: str
    handler: Callable[[_Request], object]
    params: Mapping[str, _Param] = field(default_factory=dict)

    def match(self, path: str) -> dict[str, str] | None:
        want, got = self.template.split("/"), path.split("/")
        if len(want) != len(got):
            return None
        params: dict[str, str] = {}
        for w, g in zip(want, got, strict=True):
            if w.startswith("{") and w.endswith("}"):
                if not g:
                    return None
                params[w[1:-1]] = g
            elif w != g:
                return None
        return params


# --- privileges ----------------------------------------------------------------------------------


def _ancestors(path: str) -> list[str]:
    """'/vms/101' -> ['/vms/101', '/vms', '/'] (most specific first)."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:n]) for n in range(len(parts), 0, -1)] + ["/"]


def _normalise_acl_path(path: str) -> str:
    return "/" + "/".join(p for p in path.split("/") if p)


def acl_entry(token: LabToken, path: str) -> tuple[str, ...] | None:
    """The ACL entry of `token` that governs `path`: the most specific one on the path or above it.

    None when no entry applies; `()` is an explicit "no access" (PVE's NoAccess role).
    """
    acl = {_normalise_acl_path(p): privs for p, privs in token.acl.items()}
    for candidate in _ancestors(_normalise_acl_path(path)):
        if candidate in acl:
            return tuple(acl[candidate])
    return None


def acl_privileges(token: LabToken, path: str) -> frozenset[str]:
    """The privileges `token`'s ACL grants on `path`.

    As in PVE, an ACL entry propagates to every sub-path, and the most specific entry wins (it
    replaces what a parent grants rather than adding to it).
    """
    return frozenset(acl_entry(token, path) or ())


class _Permissions:
    """Privilege checks for one world; pool membership matters for guest paths.

    Follows pve-access-control's RPCEnvironment compile_acl_path: privileges on /pool/<pool> reach
    the pool's guests, except where the guest's own path is NoAccess; a NoAccess on the pool takes
    its guests away even from a regular ACL entry.
    """

    def __init__(self, world: LabWorld) -> None:
        self._pool_of = {g.vmid: g.pool for g in world.guests if g.pool}

    def flags(self, token: LabToken, path: str) -> dict[str, int]:
        """privilege -> propagate flag, as PVE's `permissions()` returns them (and
        /access/permissions shows them): 1, or 0 for what only a pool's ACL grants."""
        own = acl_entry(token, path)
        flags = dict.fromkeys(own or (), 1)
        match = re.fullmatch(r"/vms/(\d+)", _normalise_acl_path(path))
        pool = self._pool_of.get(int(match.group(1))) if match else None
        if pool is None or own == ():  # NoAccess on the guest is not trumped by a pool ACL
            return flags
        from_pool = acl_entry(token, f"/pool/{pool}")
        if from_pool == ():  # ... but NoAccess on the pool trumps the guest's regular ACL
            return {}
        for priv in from_pool or ():
            flags.setdefault(priv, 0)  # PVE never sets propagation on pool-derived roles
        return flags

    def privileges(self, token: LabToken, path: str) -> frozenset[str]:
        return frozenset(self.flags(token, path))

    def has(self, token: LabToken, path: str, priv: str) -> bool:
        return priv in self.privileges(token, path)

    def require(self, token: LabToken, path: str, priv: str) -> None:
        self.require_any(token, path, (priv,))

    def require_any(self, token: LabToken, path: str, privs: tuple[str, ...]) -> None:
        if not self.privileges(token, path) & set(privs):
            raise ApiError(403, f"Permission check failed ({path}, {'|'.join(privs)})")


# --- deterministic fake metrics -----------------------------------------------------------------


def _stable(*parts: object, modulo: int) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulo


def _disk_gib(guest: LabGuest) -> int:
    return 32 if guest.type == "qemu" else 8


def _guest_metrics(guest: LabGuest) -> dict[str, Any]:
    maxmem = guest.memory_mb * MIB
    maxdisk = _disk_gib(guest) * GIB
    base: dict[str, Any] = {"maxcpu": guest.cores, "maxmem": maxmem, "maxdisk": maxdisk}
    if guest.status != "running":
        # A stopped guest reports zeros, as PVE does (cpu is an integer 0 then, not 0.0).
        return base | dict.fromkeys(("cpu", "mem", "disk", "netin", "netout", "diskread", "diskwrite",
                                     "uptime"), 0)
    v = guest.vmid
    return base | {
        "cpu": round(0.002 + _stable(v, "cpu", modulo=5000) / 100000, 6),
        "mem": maxmem * (30 + _stable(v, "mem", modulo=50)) // 100,
        # QEMU without a guest agent reports no disk usage; containers do.
        "disk": 0 if guest.type == "qemu" else maxdisk * (15 + _stable(v, "disk", modulo=40)) // 100,
        "netin": 10**8 + _stable(v, "netin", modulo=5 * 10**9),
        "netout": 10**8 + _stable(v, "netout", modulo=5 * 10**9),
        "diskread": 10**8 + _stable(v, "diskread", modulo=10**10),
        "diskwrite": 10**9 + _stable(v, "diskwrite", modulo=5 * 10**10),
        "uptime": 86400 * (3 + _stable(v, "days", modulo=60)) + _stable(v, "secs", modulo=86400),
    }


def _node_metrics(world: LabWorld, node: LabNode) -> dict[str, Any]:
    running = [g for g in world.guests if g.node == node.name and g.status == "running"]
    maxmem = 256 * GIB
    # Host overhead plus what the guests really use, so the numbers add up.
    mem = 6 * GIB + sum(_guest_metrics(g)["mem"] for g in running)
    return {
        "cpu": round(0.01 + _stable(node.name, "cpu", modulo=3000) / 100000, 6),
        "maxcpu": 64,
        "mem": min(mem, maxmem),
        "maxmem": maxmem,
        "disk": 8 * GIB + _stable(node.name, "disk", modulo=4 * GIB),
        "maxdisk": 100 * GIB,
        "uptime": 86400 * 40 + _stable(node.name, "uptime", modulo=86400 * 20),
    }


def _fingerprint(name: str) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(f"pve-ssl:{name}".encode()).digest())


def _config_digest(config: Mapping[str, object]) -> str:
    # PVE's digest is the SHA-1 of the raw config file; hash an equivalent rendering of it.
    text = "".join(f"{k}: {config[k]}\n" for k in sorted(config))
    return hashlib.sha1(text.encode()).hexdigest()


# --- the API --------------------------------------------------------------------------------------


class PveApi:
    """Answers PVE API requests from a `LabWorld`. Thread-safe: it holds no mutable state."""

    def __init__(self, world: LabWorld, *, not_json_paths: Iterable[str] = (),
                 error_paths: Mapping[str, int] | None = None,
                 slow_paths: Mapping[str, float] | None = None) -> None:
        self.world = world
        self.not_json_paths = frozenset(_api_path(p) for p in not_json_paths)
        self.error_paths = {_api_path(p): s for p, s in (error_paths or {}).items()}
        self.slow_paths = {_api_path(p): s for p, s in (slow_paths or {}).items()}
        self._perms = _Permissions(world)
        self._nodes = {n.name: n for n in world.nodes}
        self._storages = {s.id: s for s in _STORAGES}
        # The paths of PVE's ACL tree (every token's entries and the nodes above them) and of pool
        # members: with the standard paths, what /access/permissions reports on.
        acl_tree = {a for t in world.tokens for p in t.acl for a in _ancestors(_normalise_acl_path(p))}
        self._permission_paths = frozenset(_STANDARD_PERMISSION_PATHS) | acl_tree | {
            f"/vms/{g.vmid}" for g in world.guests if g.pool}
        vm_config = {"current": _Param(enum=("0", "1")), "snapshot": _Param()}
        self._routes = (
            _Route("/version", self._version),
            _Route("/cluster/status", self._cluster_status),
            _Route("/cluster/resources", self._cluster_resources,
                   {"type": _Param(enum=("vm", "storage", "node", "sdn"))}),
            _Route("/nodes", self._nodes_index),
            _Route("/pools", self._pools, {"poolid": _Param(), "type": _Param(enum=("qemu", "lxc", "storage"))}),
            _Route("/nodes/{node}/qemu/{vmid}/config", self._qemu_config, vm_config),
            _Route("/nodes/{node}/lxc/{vmid}/config", self._lxc_config, vm_config),
            _Route("/nodes/{node}/storage/{storage}/content", self._storage_content,
                   {"content": _Param(check=_check_content_type), "vmid": _Param(check=_check_vmid)}),
            _Route("/access/permissions", self._access_permissions, {"path": _Param(), "userid": _Param()}),
        )

    # -- entry point --

    def handle(self, method: str, path: str, query: dict[str, str],
               headers: Mapping[str, str]) -> LabResponse:
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            return LabResponse(404, "Not Found", b"", "")
        api_path = _api_path(path)
        if api_path in self.slow_paths:
            time.sleep(self.slow_paths[api_path])
        try:
            token = self._authenticate(headers)
            # Faults come after authentication so that a 401 test still sees a 401.
            if api_path in self.not_json_paths:
                return LabResponse(200, "OK", _NOT_JSON_PAGE, "text/html; charset=utf-8")
            if api_path in self.error_paths:
                status = self.error_paths[api_path]
                raise ApiError(status, _status_phrase(status))
            return _json_response({"data": self._dispatch(method.upper(), api_path, query, token)})
        except ApiError as err:
            return _error_response(err)

    def _authenticate(self, headers: Mapping[str, str]) -> LabToken:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if value is None:
            raise ApiError(401, "No ticket")
        m = _TOKEN_HEADER.match(value)
        if m:
            for token in self.world.tokens:
                if (token.userid, token.tokenid) == (m["user"], m["tokenid"]) and hmac.compare_digest(
                        token.secret.encode(), m["secret"].encode()):
                    return token
        raise ApiError(401, "authentication failure")

    def _dispatch(self, method: str, api_path: str, query: dict[str, str], token: LabToken) -> object:
        for route in self._routes:
            path_params = route.match(api_path)
            if path_params is None:
                continue
            if method != "GET":
                break  # a known path, but the lab (like an auditor's token) only reads
            _check_query(route, query)
            return route.handler(_Request(token, path_params, query))
        raise ApiError(501, f"Method '{method} {api_path}' not implemented")

    # -- endpoints --

    def _version(self, req: _Request) -> object:
        w = self.world
        return {"repoid": w.repoid, "release": w.pve_release, "version": w.pve_version}

    def _cluster_status(self, req: _Request) -> object:
        self._perms.require(req.token, "/", "Sys.Audit")
        w = self.world
        # "version" is corosync's config version: one bump per node joined plus the initial one.
        entries: list[dict[str, Any]] = [{"type": "cluster", "id": "cluster", "name": w.cluster_name,
                                          "nodes": len(w.nodes), "quorate": 1, "version": len(w.nodes) + 1}]
        for i, node in enumerate(w.nodes):
            entries.append({"type": "node", "id": f"node/{node.name}", "name": node.name, "nodeid": node.nodeid,
                            "ip": node.ip, "online": 1, "local": int(i == 0), "level": ""})
        return entries

    def _cluster_resources(self, req: _Request) -> object:
        kind = req.query.get("type")
        out: list[dict[str, Any]] = []
        if kind in (None, "vm"):
            out += [self._guest_resource(req.token, g) for g in self._visible_guests(req.token)]
        if kind in (None, "node"):
            out += [self._node_resource(req.token, n) | {"cgroup-mode": 2} for n in self.world.nodes]
        if kind in (None, "storage"):
            out += self._storage_resources(req.token)
        if kind is None:
            out += [{"id": f"pool/{p}", "type": "pool", "pool": p} for p in self.world.pools
                    if self._perms.has(req.token, f"/pool/{p}", "Pool.Audit")]
        return out  # type=sdn: the lab has no SDN, so an empty list

    def _nodes_index(self, req: _Request) -> object:
        # Same entries as in /cluster/resources, minus the disk figures the /nodes schema leaves out.
        out = []
        for n in self.world.nodes:
            entry = self._node_resource(req.token, n) | {"ssl_fingerprint": _fingerprint(n.name)}
            out.append({k: v for k, v in entry.items() if k not in ("disk", "maxdisk")})
        return out

    def _pools(self, req: _Request) -> object:
        poolid = req.query.get("poolid")
        if poolid is None:
            return [self._pool_entry(p) for p in self.world.pools
                    if self._perms.has(req.token, f"/pool/{p}", "Pool.Audit")]
        if poolid not in self.world.pools:
            raise ApiError(500, f"pool '{poolid}' does not exist")
        self._perms.require(req.token, f"/pool/{poolid}", "Pool.Audit")
        members = [self._member_entry(g) for g in sorted(self.world.guests, key=lambda g: g.vmid)
                   if g.pool == poolid and req.query.get("type") in (None, g.type)]
        return [self._pool_entry(poolid) | {"members": members}]

    def _qemu_config(self, req: _Request) -> object:
        guest = self._config_guest(req, "qemu")
        return _with_digest(_qemu_config(guest, self.world))

    def _lxc_config(self, req: _Request) -> object:
        guest = self._config_guest(req, "lxc")
        return _with_digest(_lxc_config(guest))

    def _storage_content(self, req: _Request) -> object:
        """pve-storage's Content.pm index: the storage's volumes, each one filtered through
        `check_volume_access` (so a token may get a short or empty list, not an error)."""
        node, storeid = req.path_params["node"], req.path_params["storage"]
        if not re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]", storeid, re.IGNORECASE):
            raise ApiError(400, "Parameter verification failed.",
                           {"storage": f"invalid format - storage ID '{storeid}' contains illegal characters\n"})
        self._perms.require_any(req.token, f"/storage/{storeid}", ("Datastore.Audit", "Datastore.AllocateSpace"))
        self._require_node(node)
        storage = self._storages.get(storeid)
        if storage is None:
            raise ApiError(500, f"storage '{storeid}' does not exist")
        wanted = [req.query["content"]] if "content" in req.query else list(_CONTENT_TYPES)
        types = {t for t in wanted if t in storage.content}
        vmid = int(req.query["vmid"]) if "vmid" in req.query else None
        out = []
        for vol in self._volumes(storage):
            if vol["content"] not in types:
                continue
            if vmid is not None and (vol["content"] in ("iso", "vztmpl") or vol.get("vmid") != vmid):
                continue  # with vmid, PVE lists only that guest's images and backups
            if self._may_read_volume(req.token, storeid, vol):
                out.append(dict(vol))
        return sorted(out, key=lambda v: str(v["volid"]).lower())

    def _access_permissions(self, req: _Request) -> object:
        subject = self._permission_subject(req.token, req.query.get("userid"))
        path = req.query.get("path")
        if path is not None:
            return {path: self._subject_flags(subject, path)}
        result = {}
        for p in sorted(self._permission_paths):
            flags = self._subject_flags(subject, p)
            if flags:  # PVE leaves out paths where the subject has nothing (NoAccess included)
                result[p] = flags
        return result

    # -- helpers --

    def _visible_guests(self, token: LabToken) -> list[LabGuest]:
        guests = sorted(self.world.guests, key=lambda g: g.vmid)
        return [g for g in guests if self._perms.has(token, f"/vms/{g.vmid}", "VM.Audit")]

    def _guest_resource(self, token: LabToken, g: LabGuest) -> dict[str, Any]:
        entry = self._member_entry(g)
        if g.tags:
            entry["tags"] = ";".join(g.tags)
        # The pool is only disclosed to whoever may audit that pool.
        if g.pool and self._perms.has(token, f"/pool/{g.pool}", "Pool.Audit"):
            entry["pool"] = g.pool
        return entry

    def _member_entry(self, g: LabGuest) -> dict[str, Any]:
        return {"id": f"{g.type}/{g.vmid}", "type": g.type, "vmid": g.vmid, "name": g.name, "node": g.node,
                "status": g.status, "template": int(g.template)} | _guest_metrics(g)

    def _node_resource(self, token: LabToken, node: LabNode) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": f"node/{node.name}", "type": "node", "node": node.name,
                                 "status": "online", "level": ""}
        # Anyone may list the nodes; their load figures need Sys.Audit on the node.
        if self._perms.has(token, f"/nodes/{node.name}", "Sys.Audit"):
            entry |= _node_metrics(self.world, node)
        return entry

    def _storage_resources(self, token: LabToken) -> list[dict[str, Any]]:
        # pve-manager's extract_storage_stats: one entry per storage and node.
        out: list[dict[str, Any]] = []
        for s in _STORAGES:
            if not self._perms.has(token, f"/storage/{s.id}", "Datastore.Audit"):
                continue
            for node in self.world.nodes:
                maxdisk = (40 if s.shared else 1) * 1024 * GIB
                out.append({"id": f"storage/{node.name}/{s.id}", "type": "storage", "storage": s.id,
                            "node": node.name, "status": "available", "plugintype": s.plugin,
                            "content": ",".join(s.content), "shared": int(s.shared), "maxdisk": maxdisk,
                            "disk": maxdisk * (10 + _stable(s.id, node.name, modulo=50)) // 100})
        return out

    def _volumes(self, storage: _Storage) -> list[dict[str, Any]]:
        """Every volume on `storage`, unfiltered (a shared storage holds the same on every node)."""
        if storage.id == "local":
            return list(_LOCAL_FILES)
        out = []
        for g in self.world.guests:
            disk_storage, volname, size_gib = _root_disk(g)
            if disk_storage == storage.id:
                # RBDPlugin list_images: rbd_ls's name/size/parent/vmid (parent undef -> null),
                # format 'raw'; list_volumes adds 'rootdir' for containers, 'images' for VMs.
                out.append({"volid": f"{storage.id}:{volname}", "name": volname, "size": size_gib * GIB,
                            "parent": None, "vmid": g.vmid, "format": "raw",
                            "content": "rootdir" if g.type == "lxc" else "images"})
        return out

    def _may_read_volume(self, token: LabToken, storeid: str, vol: Mapping[str, Any]) -> bool:
        """pve-storage's PVE::Storage::check_volume_access, for listing (no owning vmid given)."""
        storage_privs = self._perms.privileges(token, f"/storage/{storeid}")
        if "Datastore.Allocate" in storage_privs:
            return True
        content, owner = vol["content"], vol.get("vmid")
        if content in ("iso", "vztmpl", "import"):
            return bool(storage_privs & {"Datastore.AllocateSpace", "Datastore.Audit"})
        if content == "backup" and owner:
            return ("Datastore.AllocateSpace" in storage_privs
                    and self._perms.has(token, f"/vms/{owner}", "VM.Backup"))
        if content in ("images", "rootdir") and owner:
            # Not VM.Audit: a disk image is listed to whoever may configure the guest's disks.
            return ("Datastore.Audit" in storage_privs
                    and self._perms.has(token, f"/vms/{owner}", "VM.Config.Disk"))
        return False

    def _pool_entry(self, poolid: str) -> dict[str, Any]:
        comment = next((t.legal_name for t in self.world.tenants if t.pool == poolid), None)
        return {"poolid": poolid} | ({"comment": comment} if comment else {})

    def _config_guest(self, req: _Request, kind: str) -> LabGuest:
        node, raw_vmid = req.path_params["node"], req.path_params["vmid"]
        if not raw_vmid.isdigit():
            raise ApiError(400, "Parameter verification failed.",
                           {"vmid": f"type check ('integer') failed - got '{raw_vmid}'"})
        vmid = int(raw_vmid)
        self._perms.require(req.token, f"/vms/{vmid}", "VM.Audit")
        self._require_node(node)
        if "snapshot" in req.query:
            raise ApiError(500, f"snapshot '{req.query['snapshot']}' does not exist")
        guest = next((g for g in self.world.guests if g.vmid == vmid), None)
        if guest is None or guest.node != node or guest.type != kind:
            confdir = "qemu-server" if kind == "qemu" else "lxc"
            raise ApiError(500, f"Configuration file 'nodes/{node}/{confdir}/{vmid}.conf' does not exist")
        return guest

    def _require_node(self, node: str) -> None:
        if node not in self._nodes:  # the proxy to the node fails
            raise ApiError(500, f"hostname lookup '{node}' failed - failed to get address info for: "
                                f"{node}: Name or service not known")

    def _permission_subject(self, token: LabToken, userid: str | None) -> list[LabToken]:
        """Whose permissions /access/permissions reports, as the tokens whose ACLs make them up."""
        if userid is None or userid == token.full_id:
            return [token]
        # A token owns no other token: anyone else's permissions, even its owning user's, need
        # Sys.Audit on /access.
        self._perms.require(token, "/access", "Sys.Audit")
        found = [t for t in self.world.tokens if userid in (t.full_id, t.userid)]
        if not found:
            raise ApiError(500, f"no such user ('{userid}')")
        # LabWorld keeps no ACL for users: a user holds at least what its privilege-separated
        # tokens hold, so the user is reported with the union of its tokens' ACLs.
        return found

    def _subject_flags(self, subject: list[LabToken], path: str) -> dict[str, int]:
        merged: dict[str, int] = {}
        for t in subject:
            for priv, flag in self._perms.flags(t, path).items():
                merged[priv] = max(merged.get(priv, 0), flag)
        return dict(sorted(merged.items()))


# --- guest configs ---------------------------------------------------------------------------------


def _root_disk(g: LabGuest) -> tuple[str, str, int]:
    """(storage, volume name, size in GiB) of the guest's one disk, as RBD names it."""
    prefix = "base" if g.template else "vm"  # PVE renames a template's disks to base-*
    return _GUEST_DISK_STORAGE, f"{prefix}-{g.vmid}-disk-0", _disk_gib(g)


def _disk_option(g: LabGuest) -> str:
    storage, volname, size_gib = _root_disk(g)
    return f"{storage}:{volname},size={size_gib}G"


def _qemu_config(g: LabGuest, world: LabWorld) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "agent": "1",
        "boot": "order=scsi0;" + ";".join(f"net{i}" for i in range(len(g.nics))),
        "cores": g.cores,
        "cpu": "x86-64-v2-AES",
        # A string since qemu-server 8.0.8 (schema: string, property-string "[current=]<MiB>").
        "memory": str(g.memory_mb),
        "name": g.name,
        "ostype": "l26",
        "scsi0": _disk_option(g),
        "scsihw": "virtio-scsi-single",
        "smbios1": f"uuid={uuid.uuid5(uuid.NAMESPACE_URL, f'lab:{world.cluster_name}:{g.vmid}:smbios')}",
        "sockets": 1,
        "vmgenid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"lab:{world.cluster_name}:{g.vmid}:vmgenid")),
    }
    return cfg | _common_config(g)


def _lxc_config(g: LabGuest) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "arch": "amd64",
        "cores": g.cores,
        "features": "nesting=1",
        "hostname": g.name,
        "memory": g.memory_mb,  # unlike QEMU, still an integer for containers
        "ostype": "debian",
        "rootfs": _disk_option(g),
        "swap": 512,
        "unprivileged": 1,
    }
    return cfg | _common_config(g)


def _common_config(g: LabGuest) -> dict[str, Any]:
    cfg: dict[str, Any] = {f"net{i}": nic for i, nic in enumerate(g.nics)}
    if g.tags:
        cfg["tags"] = ";".join(g.tags)
    if g.description:
        cfg["description"] = g.description
    if g.template:
        cfg["template"] = 1
    elif g.status == "running":
        cfg["onboot"] = 1  # production guests start with their node; templates never run
    return cfg


def _with_digest(cfg: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(cfg.items())) | {"digest": _config_digest(cfg)}


# --- wire helpers -----------------------------------------------------------------------------------


def _api_path(path: str) -> str:
    """'/api2/json/cluster/resources/' -> '/cluster/resources' (fault keys may use either form)."""
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        path = path[len(API_PREFIX):]
    return "/" + "/".join(p for p in path.split("/") if p)


def _check_query(route: _Route, query: Mapping[str, str]) -> None:
    errors: dict[str, str] = {}
    for name, value in query.items():
        spec = route.params.get(name)
        if spec is None:
            errors[name] = "property is not defined in schema and the schema does not allow additional properties"
        elif spec.enum is not None and value not in spec.enum:
            errors[name] = f"value '{value}' does not have a value in the enumeration '{', '.join(spec.enum)}'"
        elif spec.check is not None and (problem := spec.check(value)) is not None:
            errors[name] = problem
    if errors:
        raise ApiError(400, "Parameter verification failed.", errors)


def _check_content_type(value: str) -> str | None:
    # A format check: PVE prefixes the verifier's die message (which ends in a newline).
    return None if value in _CONTENT_TYPES else f"invalid format - invalid content type '{value}'\n"


def _check_vmid(value: str) -> str | None:
    if not re.fullmatch(r"[+-]?\d+", value):
        return f"type check ('integer') failed - got '{value}'"
    if int(value) < 100:
        return "value must have a minimum value of 100"
    if int(value) > 999999999:
        return "value must have a maximum value of 999999999"
    return None


def _status_phrase(status: int) -> str:
    if status in _PSEUDO_STATUS_REASONS:
        return _PSEUDO_STATUS_REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _safe_reason(message: str) -> str:
    # The reason goes into the status line: keep it to one line of printable ASCII, since parts of
    # it come from the request path (a percent-encoded CR/LF must not become a header).
    first = message.strip().splitlines()[0] if message.strip() else ""
    return "".join(c if " " <= c <= "~" else "?" for c in first)


def _json_response(payload: object, status: int = 200, reason: str = "OK") -> LabResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return LabResponse(status, reason, body, JSON_CONTENT_TYPE)


def _error_response(err: ApiError) -> LabResponse:
    reason = _safe_reason(err.message)
    if err.status == 401:
        return LabResponse(401, reason, b"", "")  # PVE: message only in the status line
    payload: dict[str, Any] = {"data": None, "message": err.message.rstrip("\n") + "\n"}
    if err.errors:
        payload["errors"] = err.errors
    return _json_response(payload, err.status, reason)
