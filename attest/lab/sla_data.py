"""The demo's probe samples: what two vantage points saw of each tenant's PBX this month, as the
CSV an `sla_file` source imports (the same columns `attest probe` writes as JSON lines).

Scenarios (sized as fractions of the month so far, so they hold on any day after the first):
greco's PBX was down 2 % of the time (SLA-01 fails), lombardi's monitoring missed 5 % of the
month (insufficient evidence), horizon had a 4-minute outage and single lost probes from one
place (passes), everyone else answered every probe."""

from __future__ import annotations

from pathlib import Path

from attest.lab.world import LabWorld

VANTAGES = ("mil-1", "fra-1")
INTERVAL_S = 300


def instance_of(tenant_id: str) -> str:
    return f"pbx-{tenant_id}"


def write_demo_probes(path: Path, world: LabWorld, start: int, end: int) -> Path:
    """Samples every INTERVAL_S in [start, end) (Unix seconds)."""
    t0 = start // INTERVAL_S * INTERVAL_S
    elapsed = max(end - t0, INTERVAL_S)
    down_from = t0 + elapsed // 2 // INTERVAL_S * INTERVAL_S
    down_for = max(2 * INTERVAL_S, elapsed // 50 // INTERVAL_S * INTERVAL_S)  # greco: 2 %
    gap_from = t0 + elapsed // 3 // INTERVAL_S * INTERVAL_S
    gap_for = max(2 * INTERVAL_S, elapsed // 20 // INTERVAL_S * INTERVAL_S)  # lombardi: 5 % not measured
    blip = t0 + elapsed * 2 // 3 // INTERVAL_S * INTERVAL_S  # horizon: 4 minutes down (both places)
    lines = ["timestamp,vantage,instance,up\n"]
    tenants = [t.id for t in world.tenants]
    for t in range(t0, end, INTERVAL_S):
        for vantage in VANTAGES:
            for tenant in tenants:
                up = 1
                if tenant == "greco" and down_from <= t < down_from + down_for:
                    up = 0
                elif tenant == "lombardi" and gap_from <= t < gap_from + gap_for:
                    continue
                elif tenant == "horizon" and (blip <= t < blip + 2 * INTERVAL_S
                                              or (vantage == "fra-1" and t in (t0 + INTERVAL_S, blip + 7200))):
                    up = 0
                lines.append(f"{t},{vantage},{instance_of(tenant)},{up}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path
