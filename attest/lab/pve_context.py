"""One world's indices, permissions and history, shared by the PVE endpoint groups.

Built once per `PveApi`; everything derived from the (immutable) world is computed at most once,
so a 5,000-guest world answers each request from dictionaries, not by scanning the world.
"""

from __future__ import annotations

import threading

from attest.lab.history import BackupHistory
from attest.lab.wire import ApiError, Permissions, Request
from attest.lab.world import LabGuest, LabHaResource, LabStorage, LabToken, LabWorld

# The storages a world without its own storage list has (worlds built before storage existed).
DEFAULT_STORAGES = (
    LabStorage("local", "dir", ("backup", "iso", "vztmpl"), False, options={"path": "/var/lib/vz"}),
    LabStorage("ceph-vm", "rbd", ("images", "rootdir"), True, options={"pool": "vm", "krbd": 0}),
)


class PveContext:
    def __init__(self, world: LabWorld) -> None:
        self.world = world
        self.perms = Permissions(world)
        self.nodes = {n.name: n for n in world.nodes}
        self.offline = frozenset(world.offline_nodes)
        self.guests = {g.vmid: g for g in world.guests}
        self.sorted_guests = sorted(world.guests, key=lambda g: g.vmid)
        self.storages = {s.id: s for s in (world.storages or DEFAULT_STORAGES)}
        self.ha_by_vmid: dict[int, LabHaResource] = {r.vmid: r for r in world.ha_resources}
        self._history: BackupHistory | None = None
        self._history_lock = threading.Lock()

    @property
    def history(self) -> BackupHistory:
        """Computed on first use: most tests never ask for backups or tasks."""
        if self._history is None:
            with self._history_lock:
                if self._history is None:
                    self._history = BackupHistory(self.world)
        return self._history

    def online(self, node: str) -> bool:
        return node not in self.offline

    def require_node(self, node: str) -> None:
        if node not in self.nodes:  # the proxy to the node fails
            raise ApiError(500, f"hostname lookup '{node}' failed - failed to get address info for: "
                                f"{node}: Name or service not known")

    def visible_guests(self, token: LabToken) -> list[LabGuest]:
        return [g for g in self.sorted_guests if self.perms.has(token, f"/vms/{g.vmid}", "VM.Audit")]

    def guest_at(self, req: Request, kind: str) -> LabGuest:
        """The guest a /nodes/{node}/{kind}/{vmid}/... path names, after PVE's checks in PVE's order."""
        node, raw_vmid = req.path_params["node"], req.path_params["vmid"]
        if not raw_vmid.isdigit():
            raise ApiError(400, "Parameter verification failed.",
                           {"vmid": f"type check ('integer') failed - got '{raw_vmid}'"})
        vmid = int(raw_vmid)
        self.perms.require(req.token, f"/vms/{vmid}", "VM.Audit")
        self.require_node(node)
        guest = self.guests.get(vmid)
        if guest is None or guest.node != node or guest.type != kind:
            confdir = "qemu-server" if kind == "qemu" else "lxc"
            raise ApiError(500, f"Configuration file 'nodes/{node}/{confdir}/{vmid}.conf' does not exist")
        return guest

    def ha_sid(self, guest: LabGuest) -> str:
        return f"{'vm' if guest.type == 'qemu' else 'ct'}:{guest.vmid}"
