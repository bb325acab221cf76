"""The lab's Proxmox VE API: a pure request handler that answers like PVE 9 (or 8) does.

No sockets here: `attest.lab.server` feeds it requests. What it returns follows the real wire
format, because the collectors are tested against it (see ../shared/reference/proxmox/NOTES.md):

* every answer is `{"data": ...}` JSON; booleans are 0/1 integers; defaults are omitted;
* a failed login is a 401 whose message is in the HTTP reason and whose body is empty, other
  errors are `{"data": null, "message": "...\\n"}` with the message in the reason too;
* list endpoints are silently filtered by the token's privileges, exactly the trap an evidence
  collector has to detect (a narrow token gets a short list, not an error) -- storage content
  too, per volume, by pve-storage's rules (a disk image needs VM.Config.Disk, a backup
  Datastore.AllocateSpace + VM.Backup, not VM.Audit);
* a node in `world.offline_nodes` answers 595 "No route to host" for every /nodes/{node}/... path
  (pveproxy cannot reach it) and shows offline in /nodes, /cluster/status and /cluster/resources;
* guest metrics are fake but deterministic, so two runs over the same world give the same bytes.

The endpoints live in groups: this module (inventory: version, resources, nodes, pools, configs,
storage content, permissions), `pve_cluster` (corosync, HA, storage config, replication),
`pve_backup` (jobs, coverage, tasks) and `pve_firewall`. Successful answers are memoised per
(token, path, query): the world is immutable, and a large world must answer in well under 1 ms.

Fault injection (for tests) is set per API path, e.g. "/cluster/resources": `not_json_paths`
answers 200 with an HTML page, `error_paths` answers the given status, `slow_paths` sleeps first.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from attest.lab.pve_backup import BackupEndpoints
from attest.lab.pve_cluster import ClusterEndpoints
from attest.lab.pve_context import PveContext
from attest.lab.pve_firewall import FirewallEndpoints
from attest.lab.wire import (
    API_PREFIX,
    JSON_CONTENT_TYPE,
    ApiError,
    LabResponse,
    Param,
    Request,
    Route,
    RouteTable,
    TokenAuthenticator,
    acl_entry,
    acl_privileges,
    ancestors,
    api_path,
    check_query,
    envelope,
    json_response,
    normalise_acl_path,
    pve_error_response,
    status_phrase,
)
from attest.lab.world import LabGuest, LabNode, LabStorage, LabToken, LabWorld

__all__ = ["API_PREFIX", "JSON_CONTENT_TYPE", "ApiError", "LabResponse", "PveApi", "acl_entry", "acl_privileges"]

GIB = 1024**3
MIB = 1024**2

# What each node's "local" holds: an installer ISO and a container template (the lab's backups go
# to PBS). Entries as pve-storage's Plugin.pm get_subdir_files lists them.
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


def _node_metrics(node: LabNode, guests: list[LabGuest]) -> dict[str, Any]:
    running = [g for g in guests if g.status == "running"]
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
    """Answers PVE API requests from a `LabWorld`. Thread-safe: its only mutable state is a memo
    of immutable answers."""

    def __init__(self, world: LabWorld, *, not_json_paths: Iterable[str] = (),
                 error_paths: Mapping[str, int] | None = None,
                 slow_paths: Mapping[str, float] | None = None) -> None:
        self.world = world
        self.not_json_paths = frozenset(api_path(p) for p in not_json_paths)
        self.error_paths = {api_path(p): s for p, s in (error_paths or {}).items()}
        self.slow_paths = {api_path(p): s for p, s in (slow_paths or {}).items()}
        self.ctx = PveContext(world)
        self._perms = self.ctx.perms
        self._authenticate = TokenAuthenticator(world.tokens, _TOKEN_HEADER, "No ticket",
                                                "authentication failure")
        self._memo: dict[tuple[str, str, tuple[tuple[str, str], ...]], LabResponse] = {}
        self._node_metrics: dict[str, dict[str, Any]] = {}
        self._metrics_lock = threading.Lock()
        # The paths of PVE's ACL tree (every token's entries and the nodes above them) and of pool
        # members: with the standard paths, what /access/permissions reports on.
        acl_tree = {a for t in world.tokens for p in t.acl for a in ancestors(normalise_acl_path(p))}
        self._permission_paths = frozenset(_STANDARD_PERMISSION_PATHS) | acl_tree | {
            f"/vms/{g.vmid}" for g in world.guests if g.pool}
        self.backups = BackupEndpoints(self.ctx)
        self.cluster = ClusterEndpoints(self.ctx)
        vm_config = {"current": Param(enum=("0", "1")), "snapshot": Param()}
        self._routes = RouteTable([
            Route("/version", self._version),
            Route("/cluster/status", self._cluster_status),
            Route("/cluster/resources", self._cluster_resources,
                  {"type": Param(enum=("vm", "storage", "node", "sdn"))}),
            Route("/nodes", self._nodes_index),
            Route("/pools", self._pools, {"poolid": Param(), "type": Param(enum=("qemu", "lxc", "storage"))}),
            Route("/nodes/{node}/qemu/{vmid}/config", self._qemu_config, vm_config),
            Route("/nodes/{node}/lxc/{vmid}/config", self._lxc_config, vm_config),
            Route("/nodes/{node}/storage/{storage}/content", self._storage_content,
                  {"content": Param(check=_check_content_type), "vmid": Param(check=_check_vmid)}),
            Route("/access/permissions", self._access_permissions, {"path": Param(), "userid": Param()}),
            *self.cluster.routes(),
            *self.backups.routes(),
            *FirewallEndpoints(self.ctx).routes(),
        ])

    # -- entry point --

    def handle(self, method: str, path: str, query: dict[str, str],
               headers: Mapping[str, str]) -> LabResponse:
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            return LabResponse(404, "Not Found", b"", "")
        apath = api_path(path)
        if apath in self.slow_paths:
            time.sleep(self.slow_paths[apath])
        try:
            token = self._authenticate(headers)
            # Faults come after authentication so that a 401 test still sees a 401.
            if apath in self.not_json_paths:
                return LabResponse(200, "OK", _NOT_JSON_PAGE, "text/html; charset=utf-8")
            if apath in self.error_paths:
                status = self.error_paths[apath]
                raise ApiError(status, status_phrase(status))
            key = (f"{token.full_id}\0{method.upper()}", apath, tuple(sorted(query.items())))
            cached = self._memo.get(key)
            if cached is None:
                cached = json_response(envelope(self._dispatch(method.upper(), apath, query, token)),
                                       cacheable=apath not in self.slow_paths)
                self._memo[key] = cached
            return cached
        except ApiError as err:
            return pve_error_response(err)

    def warm(self, *, per_guest: bool = True) -> None:
        """Answer the big list endpoints (and, with `per_guest`, each guest's config and firewall)
        once for every token, so a benchmark measures serving, not the first computation."""
        self.ctx.history  # noqa: B018 -- computing it is the point
        for token in self.world.tokens:
            headers = {"Authorization": f"PVEAPIToken={token.full_id}={token.secret}"}
            for path in ("/cluster/resources", "/cluster/status", "/nodes", "/pools", "/cluster/ha/status/current"):
                self.handle("GET", API_PREFIX + path, {}, headers)
            self.handle("GET", API_PREFIX + "/cluster/resources", {"type": "vm"}, headers)
            for s in self.ctx.storages.values():
                if s.type == "pbs":
                    path = f"/nodes/{self.world.nodes[0].name}/storage/{s.id}/content"
                    self.handle("GET", API_PREFIX + path, {"content": "backup"}, headers)
            for node in self.world.nodes:
                for part in ("firewall/options", "replication"):
                    self.handle("GET", f"{API_PREFIX}/nodes/{node.name}/{part}", {}, headers)
            if per_guest:
                # What a collector asks about every guest; ~50 us each, so ~2 s for 5,000 guests
                # here instead of CPU taken from the collector during the run.
                for g in self.world.guests:
                    base = f"{API_PREFIX}/nodes/{g.node}/{g.type}/{g.vmid}"
                    ipsets = self.world.guest_firewalls.get(g.vmid)
                    names = [f"firewall/ipset/{i.name}" for i in ipsets.ipsets] if ipsets else []
                    for part in ("config", "firewall/options", "firewall/rules", "firewall/refs", "firewall/ipset",
                                 "firewall/aliases", *names):
                        self.handle("GET", f"{base}/{part}", {}, headers)

    def _dispatch(self, method: str, apath: str, query: dict[str, str], token: LabToken) -> object:
        found = self._routes.find(apath)
        if found is None or method != "GET":  # a known path but another method: the lab only reads
            raise ApiError(501, f"Method '{method} {apath}' not implemented")
        route, path_params = found
        node = path_params.get("node")
        if node is not None and node in self.ctx.nodes and not self.ctx.online(node):
            # pveproxy forwards /nodes/{node}/... to that node, and it does not answer.
            raise ApiError(595, "No route to host")
        check_query(route, query)
        return route.handler(Request(token, path_params, query))

    # -- endpoints --

    def _version(self, req: Request) -> object:
        w = self.world
        return {"repoid": w.repoid, "release": w.pve_release, "version": w.pve_version}

    def _cluster_status(self, req: Request) -> object:
        self._perms.require(req.token, "/", "Sys.Audit")
        w = self.world
        votes = sum(n.quorum_votes for n in w.nodes)
        online_votes = sum(n.quorum_votes for n in w.nodes if self.ctx.online(n.name))
        # "version" is corosync's config version: one bump per node joined plus the initial one.
        entries: list[dict[str, Any]] = [{"type": "cluster", "id": "cluster", "name": w.cluster_name,
                                          "nodes": len(w.nodes), "quorate": int(online_votes * 2 > votes),
                                          "version": len(w.nodes) + 1}]
        for i, node in enumerate(w.nodes):
            entries.append({"type": "node", "id": f"node/{node.name}", "name": node.name, "nodeid": node.nodeid,
                            "ip": node.ip, "online": int(self.ctx.online(node.name)), "local": int(i == 0),
                            "level": ""})
        return entries

    def _cluster_resources(self, req: Request) -> object:
        kind = req.query.get("type")
        out: list[dict[str, Any]] = []
        if kind in (None, "vm"):
            out += [self._guest_resource(req.token, g) for g in self.ctx.visible_guests(req.token)]
        if kind in (None, "node"):
            out += [self._node_resource(req.token, n) | {"cgroup-mode": 2} for n in self.world.nodes]
        if kind in (None, "storage"):
            out += self._storage_resources(req.token)
        if kind is None:
            out += [{"id": f"pool/{p}", "type": "pool", "pool": p} for p in self.world.pools
                    if self._perms.has(req.token, f"/pool/{p}", "Pool.Audit")]
        return out  # type=sdn: the lab has no SDN, so an empty list

    def _nodes_index(self, req: Request) -> object:
        # Same entries as in /cluster/resources, minus the disk figures the /nodes schema leaves out.
        out = []
        for n in self.world.nodes:
            entry = self._node_resource(req.token, n) | {"ssl_fingerprint": _fingerprint(n.name)}
            out.append({k: v for k, v in entry.items() if k not in ("disk", "maxdisk")})
        return out

    def _pools(self, req: Request) -> object:
        poolid = req.query.get("poolid")
        if poolid is None:
            return [self._pool_entry(p) for p in self.world.pools
                    if self._perms.has(req.token, f"/pool/{p}", "Pool.Audit")]
        if poolid not in self.world.pools:
            raise ApiError(500, f"pool '{poolid}' does not exist")
        self._perms.require(req.token, f"/pool/{poolid}", "Pool.Audit")
        members = [self._member_entry(g) for g in self.ctx.sorted_guests
                   if g.pool == poolid and req.query.get("type") in (None, g.type)]
        return [self._pool_entry(poolid) | {"members": members}]

    def _qemu_config(self, req: Request) -> object:
        guest = self._config_guest(req, "qemu")
        return _with_digest(_qemu_config(guest, self.world))

    def _lxc_config(self, req: Request) -> object:
        guest = self._config_guest(req, "lxc")
        return _with_digest(_lxc_config(guest))

    def _storage_content(self, req: Request) -> object:
        """pve-storage's Content.pm index: the storage's volumes, each one filtered through
        `check_volume_access` (so a token may get a short or empty list, not an error)."""
        node, storeid = req.path_params["node"], req.path_params["storage"]
        if not re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]", storeid, re.IGNORECASE):
            raise ApiError(400, "Parameter verification failed.",
                           {"storage": f"invalid format - storage ID '{storeid}' contains illegal characters\n"})
        self._perms.require_any(req.token, f"/storage/{storeid}", ("Datastore.Audit", "Datastore.AllocateSpace"))
        self.ctx.require_node(node)
        storage = self.ctx.storages.get(storeid)
        if storage is None:
            raise ApiError(500, f"storage '{storeid}' does not exist")
        if storage.nodes is not None and node not in storage.nodes:
            raise ApiError(500, f"storage '{storeid}' is not available on node '{node}'")
        wanted = [req.query["content"]] if "content" in req.query else list(_CONTENT_TYPES)
        types = {t for t in wanted if t in storage.content}
        vmid = int(req.query["vmid"]) if "vmid" in req.query else None
        out = []
        if "backup" in types and storage.type == "pbs":
            out += [v for v in self.backups.backup_volumes(req.token, storage) if vmid in (None, v["vmid"])]
        for vol in self._volumes(storage, node):
            if vol["content"] not in types:
                continue
            if vmid is not None and (vol["content"] in ("iso", "vztmpl") or vol.get("vmid") != vmid):
                continue  # with vmid, PVE lists only that guest's images and backups
            if self._may_read_volume(req.token, storeid, vol):
                out.append(dict(vol))
        return sorted(out, key=lambda v: str(v["volid"]).lower())

    def _access_permissions(self, req: Request) -> object:
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

    def _guest_resource(self, token: LabToken, g: LabGuest) -> dict[str, Any]:
        entry = self._member_entry(g)
        if g.tags:
            entry["tags"] = ";".join(g.tags)
        # The pool is only disclosed to whoever may audit that pool.
        if g.pool and self._perms.has(token, f"/pool/{g.pool}", "Pool.Audit"):
            entry["pool"] = g.pool
        ha = self.ctx.ha_by_vmid.get(g.vmid)
        if ha is not None:  # the CRM's state for it; every lab HA resource has been processed
            entry["hastate"] = "started" if ha.state in (None, "enabled") else ha.state
        return entry

    def _member_entry(self, g: LabGuest) -> dict[str, Any]:
        return {"id": f"{g.type}/{g.vmid}", "type": g.type, "vmid": g.vmid, "name": g.name, "node": g.node,
                "status": g.status, "template": int(g.template)} | _guest_metrics(g)

    def _node_resource(self, token: LabToken, node: LabNode) -> dict[str, Any]:
        online = self.ctx.online(node.name)
        entry: dict[str, Any] = {"id": f"node/{node.name}", "type": "node", "node": node.name,
                                 "status": "online" if online else "offline", "level": ""}
        # Anyone may list the nodes; their load figures need Sys.Audit on the node (and the node).
        if online and self._perms.has(token, f"/nodes/{node.name}", "Sys.Audit"):
            entry |= self._metrics_of(node)
        return entry

    def _metrics_of(self, node: LabNode) -> dict[str, Any]:
        with self._metrics_lock:
            if not self._node_metrics:
                by_node: dict[str, list[LabGuest]] = {}
                for g in self.world.guests:
                    by_node.setdefault(g.node, []).append(g)
                self._node_metrics = {n.name: _node_metrics(n, by_node.get(n.name, [])) for n in self.world.nodes}
            return self._node_metrics[node.name]

    def _storage_resources(self, token: LabToken) -> list[dict[str, Any]]:
        # pve-manager's extract_storage_stats: one entry per storage and node.
        out: list[dict[str, Any]] = []
        for s in self.ctx.storages.values():
            if not self._perms.has(token, f"/storage/{s.id}", "Datastore.Audit"):
                continue
            for node in self.world.nodes:
                if s.nodes is not None and node.name not in s.nodes:
                    continue
                maxdisk = (40 if s.shared else 1) * 1024 * GIB
                entry = {"id": f"storage/{node.name}/{s.id}", "type": "storage", "storage": s.id,
                         "node": node.name, "status": "available", "plugintype": s.type,
                         "content": ",".join(s.content), "shared": int(s.shared), "maxdisk": maxdisk,
                         "disk": maxdisk * (10 + _stable(s.id, node.name, modulo=50)) // 100}
                if not self.ctx.online(node.name):  # no fresh status from that node
                    entry = {k: v for k, v in entry.items() if k not in ("disk", "maxdisk")} | {"status": "unknown"}
                out.append(entry)
        return out

    def _volumes(self, storage: LabStorage, node: str) -> list[dict[str, Any]]:
        """Every volume on `storage` as `node` sees it, unfiltered (a shared storage holds the same
        on every node; a local one the node's own guests' disks and the replicas it receives)."""
        if storage.type == "dir":
            return list(_LOCAL_FILES)
        replicas = {r.guest for r in self.world.replications if r.target == node}
        out = []
        for g in self.ctx.sorted_guests:
            disk_storage, volname, size_gib = _root_disk(g)
            if disk_storage != storage.id or not (storage.shared or g.node == node or g.vmid in replicas):
                continue
            # RBDPlugin list_images: rbd_ls's name/size/parent/vmid (parent undef -> null),
            # format 'raw'; list_volumes adds 'rootdir' for containers, 'images' for VMs.
            vol: dict[str, Any] = {"volid": f"{storage.id}:{volname}", "name": volname, "size": size_gib * GIB,
                                   "parent": None, "vmid": g.vmid, "format": "raw",
                                   "content": "rootdir" if g.type == "lxc" else "images"}
            if storage.type != "rbd":
                vol = {k: v for k, v in vol.items() if k not in ("name", "parent")}
                vol["format"] = "subvol" if storage.type == "zfspool" and g.type == "lxc" else "raw"
            out.append(vol)
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

    def _config_guest(self, req: Request, kind: str) -> LabGuest:
        guest = self.ctx.guest_at(req, kind) if "snapshot" not in req.query else None
        if guest is None:
            self.ctx.guest_at(req, kind)  # the same checks first, then the snapshot is missing
            raise ApiError(500, f"snapshot '{req.query['snapshot']}' does not exist")
        return guest

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
    return g.disk_storage, f"{prefix}-{g.vmid}-disk-0", _disk_gib(g)


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


# --- query checks -----------------------------------------------------------------------------------


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
