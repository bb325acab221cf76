"""The Proxmox VE collector: reads one cluster section by section through an API token.

Order matters only where a section needs what an earlier one learnt: `cluster` gives the
nodes, `inventory` the guests and their configs, `storage` the storages `backup` lists. Within
a section the calls run in parallel (`concurrency` workers). A section whose cluster-wide
endpoint fails is listed as failed and the next one runs; a section is `completed` when every
part of it was either recorded or listed as a failure for its subject.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from collectors.base import Emitter
from collectors.proxmox import backup, cluster, events, firewall, ha, inventory, storage, tasks
from collectors.proxmox.client import ApiClient, ApiError
from collectors.proxmox.context import PveContext

SOURCE_TYPE = "proxmox_ve"
SECTIONS = ("cluster", "inventory", "ha", "storage", "backup", "tasks", "events", "firewall")


@dataclass
class ProxmoxCollector:
    source_id: str
    host: str  # host[:port]
    user: str  # user@realm
    token_name: str
    token_value: str
    verify_tls: bool | str
    timeout_s: float = 30.0
    concurrency: int = 8
    task_history_days: int = 40
    node_sites: dict[str, str] = field(default_factory=dict)
    sections: tuple[str, ...] = SECTIONS
    source_type: str = SOURCE_TYPE
    calls: Counter[str] = field(default_factory=Counter)  # endpoint template -> GETs made (last run)
    guests: int = 0  # guests seen (last run)

    def collect(self, out: Emitter) -> None:
        with ApiClient(self.host, self.user, self.token_name, self.token_value, verify_tls=self.verify_tls,
                       timeout_s=self.timeout_s, concurrency=self.concurrency) as client:
            ctx = PveContext(self.source_id, client, out, datetime.now(UTC), dict(self.node_sites),
                             self.task_history_days)
            try:
                inventory.collect_version(ctx)  # raises SourceFailed: nothing else could work
                steps: dict[str, Callable[[], None]] = {
                    "cluster": lambda: cluster.collect(ctx),
                    "inventory": lambda: inventory.collect(ctx, f"{self.user}!{self.token_name}"),
                    "ha": lambda: ha.collect(ctx),
                    "storage": lambda: storage.collect(ctx),
                    "backup": lambda: backup.collect(ctx),
                    "tasks": lambda: tasks.collect(ctx),
                    "events": lambda: events.collect(ctx),
                    "firewall": lambda: firewall.collect(ctx),
                }
                for name in SECTIONS:
                    if name in self.sections or name in ("cluster", "inventory"):
                        _run_section(out, name, steps[name])
            finally:
                self.calls = Counter(client.calls)
                self.guests = len(ctx.guests)


def _run_section(out: Emitter, name: str, step: Callable[[], None]) -> None:
    before = len(out.failures)
    try:
        step()
    except ApiError as err:  # a cluster-wide call a section could not do without
        out.failed(name, str(err))
    whole = any(f.section == name and f.subject is None for f in out.failures[before:])
    if not whole:
        out.completed(name)
