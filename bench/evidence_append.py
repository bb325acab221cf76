"""Micro-benchmark: storing one big collection in the evidence log, without the network.

    python bench/evidence_append.py [--records 67568] [--artifacts 38000] [--threads 8] [--sqlite-only | --pg-only]

Shaped like the 50-node / 5,000-guest Proxmox run (bench/collect_proxmox.py): ~1 KB JSON records,
and raw API answers put from several threads, many of them identical (empty lists, the same
options on every guest), a few large lists, and about 1 % holding a secret the scrubber must
remove. Prints artifacts/s, records/s, the checkpoint time and the CPU used, for SQLite and, when
ATTEST_TEST_PG_URL is set, for a scratch PostgreSQL database.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from evidence.log import EvidenceLog, NewRecord

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def guest_payload(i: int) -> dict[str, object]:
    """About 1 KB, like a Proxmox guest record: config, HA, backup and firewall facts."""
    node = f"pve-{i % 50:02d}"
    return {
        "vmid": 100 + i, "name": f"tenant{i % 40}-app-{i:05d}", "node": node, "type": "qemu" if i % 5 else "lxc",
        "status": "running" if i % 17 else "stopped", "tags": [f"t-tenant{i % 40}", "prod" if i % 3 else "test"],
        "pool": f"tenant{i % 40}", "template": False, "uptime": 86400 + i, "netin": 2**40 + i * 1013,
        "config": {"cores": 2 + i % 6, "memory": 2048 * (1 + i % 8), "sockets": 1, "ostype": "l26", "agent": "1",
                   "net0": f"virtio=BC:24:11:{i % 256:02X}:{(i >> 8) % 256:02X}:01,bridge=vmbr0,firewall=1"
                           f",tag={i % 400}",
                   "scsi0": f"ceph-{i % 4}:vm-{100 + i}-disk-0,discard=on,size={32 + i % 200}G",
                   "boot": "order=scsi0;net0", "description": "Managed by the tenant's automation; see runbook.",
                   "onboot": 1, "protection": 0},
        "ha": {"managed": i % 2 == 0, "group": f"ha-{i % 8}", "state": "started", "max_restart": 1,
               "max_relocate": 1},
        "backup": {"jobs": [f"backup-{i % 12}"], "last": {"starttime": 1763600000 + i, "status": "OK",
                                                         "storage": f"pbs-{i % 3}", "size": 10**9 + i}},
        "firewall": {"enable": 1, "policy_in": "DROP", "policy_out": "ACCEPT", "rules": i % 7, "ipsets": ["mgmt"]},
    }


def artifacts(n: int) -> list[bytes]:
    """Raw answers as a collector puts them: ~40 % from a small pool of identical answers."""
    shared = [json.dumps({"data": []}).encode(), json.dumps({"data": {"enable": 1, "policy_in": "DROP"}}).encode()]
    shared += [json.dumps({"data": {"digest": f"{k:040x}", "options": {"enable": 1, "log_level_in": "nolog"}}}).encode()
               for k in range(48)]
    out: list[bytes] = []
    for i in range(n):
        if i % 5 < 2:
            out.append(shared[i % len(shared)])
        elif i % 100 == 7:  # a secret the scrubber must remove (an auth ticket, a token in a URL)
            out.append(json.dumps({"data": {"ticket": f"PVE:attest@pve:{i:08X}::sig", "username": "attest@pve",
                                            "url": f"https://u:pw{i}@backup.example/x"}}).encode())
        elif i % 4000 == 3:  # a whole-cluster list
            out.append(json.dumps({"data": [guest_payload(k) for k in range(i, i + 400)]}).encode())
        else:
            out.append(json.dumps({"data": guest_payload(i)}).encode())
    return out


@contextmanager
def pg_database() -> Iterator[str]:
    admin_url = os.environ["ATTEST_TEST_PG_URL"]
    admin = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    name = "attest_bench_" + secrets.token_hex(4)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench(label: str, url: str, work: Path, signer: object, n_records: int, raw: list[bytes], threads: int) -> None:
    log = EvidenceLog.open(url, work / "evidence")
    run = log.begin_run("collect", signer)  # type: ignore[arg-type]

    c0, t0 = _cpu(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        shas = list(pool.map(lambda data: log.put_artifact(data, "application/json"), raw))
    t1, c1 = time.perf_counter(), _cpu()

    records = [NewRecord("pve-big", "proxmox.guest", f"pve-big/qemu/{100 + i}", guest_payload(i), T0,
                         artifacts=(shas[i % len(shas)],)) for i in range(n_records)]
    c2, t2 = _cpu(), time.perf_counter()
    # One append per section, as a collector's records arrive in the runner.
    stored = 0
    step = max(1, n_records // 7)
    for start in range(0, n_records, step):
        stored += len(log.append(run, records[start:start + step]))
    t3, c3 = time.perf_counter(), _cpu()
    log.finish_run(run, "ok", signer, {"sources": []})  # type: ignore[arg-type]
    t4, c4 = time.perf_counter(), _cpu()
    read = sum(1 for _ in log.records(run_id=run, source="pve-big"))
    t5, c5 = time.perf_counter(), _cpu()
    log.close()
    print(f"{label}: {len(raw)} artifacts ({len(set(shas))} distinct) in {t1 - t0:.2f} s = "
          f"{len(raw) / (t1 - t0):,.0f}/s (CPU {c1 - c0:.2f} s); {stored} records in {t3 - t2:.2f} s = "
          f"{stored / (t3 - t2):,.0f}/s (CPU {c3 - c2:.2f} s); checkpoint {t4 - t3:.2f} s (CPU {c4 - c3:.2f} s); "
          f"read back {read} in {t5 - t4:.2f} s (CPU {c5 - c4:.2f} s); CPU storing them all "
          f"{(c1 - c0) + (c4 - c2):.2f} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=67568)
    p.add_argument("--artifacts", type=int, default=38000)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--sqlite-only", action="store_true")
    p.add_argument("--pg-only", action="store_true")
    args = p.parse_args()

    from attest.pki import create_demo_pki
    from attest.signing import ProviderSigner

    work = Path(tempfile.mkdtemp(prefix="attest-bench-evidence-"))
    pki = create_demo_pki(work / "pki", "Bench", b"bench")
    signer = ProviderSigner.load(pki.signer_p12, b"bench")
    raw = artifacts(args.artifacts)
    print(f"payload: ~{len(json.dumps(guest_payload(1234)))} B a record, "
          f"{sum(map(len, raw)) / 1e6:.0f} MB of artifacts")
    if not args.pg_only:
        bench("sqlite", f"sqlite:///{work / 'attest.db'}", work / "sqlite", signer, args.records, raw, args.threads)
    if os.environ.get("ATTEST_TEST_PG_URL") and not args.sqlite_only:
        with pg_database() as url:
            bench("postgresql", url, work / "pg", signer, args.records, raw, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
