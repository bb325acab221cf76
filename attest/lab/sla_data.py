"""The demo's probe samples: what two vantage points saw of each tenant's PBX this month, as the
CSV an `sla_file` source imports (the same columns `attest probe` writes as JSON lines).

Scenarios (sized as fractions of the month so far, so they hold on any day after the first):
greco's PBX was down 2 % of the time (SLA-01 fails), lombardi's monitoring missed 5 % of the
month (insufficient evidence), horizon had a short outage (two probes in a row from both places)
and single lost probes from one place (passes), everyone else answered every probe.

The outages are placed by `demo_outages`, which the lab's Proxmox task history calls too
(`attest.lab.lifecycle`): greco's outage starts with its node failing and HA restarting the VM
elsewhere, horizon's is an HA migration. Both sides see the same instants when they are given
the same (start, end): `demo_window(now)`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from attest.lab.world import LabWorld

VANTAGES = ("mil-1", "fra-1")
INTERVAL_S = 300
DEMO_TIME_ZONE = "Europe/Rome"  # the demo workspace's time zone (attest.workspace.config_document)


def instance_of(tenant_id: str) -> str:
    return f"pbx-{tenant_id}"


def demo_window(now: int, time_zone: str = DEMO_TIME_ZONE) -> tuple[int, int]:
    """(start of the month `now` is in, in *time_zone*; now) as Unix seconds: the span the demo's
    probes cover."""
    from attest.period import current_period

    return int(current_period(time_zone, datetime.fromtimestamp(now, UTC)).start.timestamp()), int(now)


@dataclass(frozen=True)
class _Layout:
    t0: int  # the first sample
    down: tuple[int, int]  # greco: [start, end) of failed samples
    gap: tuple[int, int]  # lombardi: no samples
    blip: tuple[int, int]  # horizon: failed samples from both places


def _layout(start: int, end: int) -> _Layout:
    t0 = start // INTERVAL_S * INTERVAL_S
    elapsed = max(end - t0, INTERVAL_S)
    down_from = t0 + elapsed // 2 // INTERVAL_S * INTERVAL_S
    down_for = max(2 * INTERVAL_S, elapsed // 50 // INTERVAL_S * INTERVAL_S)  # greco: 2 %
    gap_from = t0 + elapsed // 3 // INTERVAL_S * INTERVAL_S
    gap_for = max(2 * INTERVAL_S, elapsed // 20 // INTERVAL_S * INTERVAL_S)  # lombardi: 5 % not measured
    blip = t0 + elapsed * 2 // 3 // INTERVAL_S * INTERVAL_S  # horizon: two failed probes in a row
    return _Layout(t0, (down_from, down_from + down_for), (gap_from, gap_from + gap_for),
                   (blip, blip + 2 * INTERVAL_S))


def demo_outages(start: int, end: int) -> dict[str, list[tuple[int, int]]]:
    """tenant id -> the [start, end) spans (Unix s) its PBX failed every probe from both places,
    for probes over [start, end): as the availability engine finds them (first failed sample to the
    first good one). Spans may reach past *end* early in the month."""
    layout = _layout(start, end)
    return {"greco": [layout.down], "horizon": [layout.blip]}


def write_demo_probes(path: Path, world: LabWorld, start: int, end: int) -> Path:
    """Samples every INTERVAL_S in [start, end) (Unix seconds)."""
    layout = _layout(start, end)
    outages = demo_outages(start, end)
    t0, (gap_from, gap_to), (blip, _) = layout.t0, layout.gap, layout.blip
    lines = ["timestamp,vantage,instance,up\n"]
    tenants = [t.id for t in world.tenants]
    for t in range(t0, end, INTERVAL_S):
        for vantage in VANTAGES:
            for tenant in tenants:
                if tenant == "lombardi" and gap_from <= t < gap_to:
                    continue
                down = any(a <= t < b for a, b in outages.get(tenant, ()))
                if tenant == "horizon" and vantage == "fra-1" and t in (t0 + INTERVAL_S, blip + 7200):
                    down = True  # single lost probes: soft failures, not an outage
                lines.append(f"{t},{vantage},{instance_of(tenant)},{0 if down else 1}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path
