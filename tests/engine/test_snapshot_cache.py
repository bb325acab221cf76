"""The engine's per-collection indexes and caches (attest/engine.py `Snapshot`, kept by the
`CheckContext` for one evaluation): they give what a scan of the records gives, and a later
collection is seen by the next evaluation (nothing cached outlives an evaluation)."""

from __future__ import annotations

from datetime import timedelta

from attest.attestation import Verdict
from attest.engine import CheckContext, Snapshot
from tests.engine.builder import AS_OF, PBS, PVE, Scenario, collect, judge, period, standard_manual

AT = AS_OF - timedelta(hours=3)


def test_a_later_collection_is_seen_by_the_next_evaluation(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    scenario = Scenario()
    collect(log, signer, scenario, AT)
    collect(log, signer, scenario, AT, source=PBS)
    standard_manual(log, signer)
    assert judge(config, log, signer, "HA-01")["acme"].verdict == Verdict.PASS
    assert judge(config, log, signer, "BK-01")["acme"].verdict == Verdict.PASS

    del scenario.ha[101]  # acme's VM leaves HA, and its backup job is switched off
    scenario.jobs["daily"]["enabled"] = False
    collect(log, signer, scenario, AT + timedelta(hours=1))
    ha, bk = judge(config, log, signer, "HA-01")["acme"], judge(config, log, signer, "BK-01")["acme"]
    assert ha.verdict == Verdict.FAIL and "not managed by HA" in ha.reason["en"], ha.reason
    assert bk.verdict == Verdict.FAIL and "disabled" in bk.reason["en"], bk.reason


def test_snapshot_indexes_give_what_a_scan_gives(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    collect(log, signer, Scenario(), AT)
    records = {r.idx: r for r in log.records()}
    ctx = CheckContext(config, log, AS_OF, period(), records[0], {})
    snap = ctx.snapshot(PVE, timedelta(hours=24), ("inventory",))
    assert isinstance(snap, Snapshot)
    assert ctx.snapshot(PVE, timedelta(hours=24), ("inventory",)) is snap  # one Snapshot per collection
    kinds = {r.kind for r in snap.records}
    subjects = {r.subject for r in snap.records}
    for kind in kinds:
        scan = [r for r in snap.records if r.kind == kind]
        assert snap.of_kind(kind) == scan
        assert snap.one(kind) == scan[0]
        for subject in subjects:
            exact = [r for r in scan if r.subject == subject]
            assert snap.about(kind, subject) == exact
            assert snap.record(kind, subject) == (exact[0] if exact else None)
            for prefix in (subject, subject + "/", subject[:-1], f"{PVE}/qemu/10", f"{PVE}/qemu/"):
                assert snap.under(kind, prefix) == [r for r in scan if r.subject.startswith(prefix)], prefix
    listed = snap.of_kind("proxmox.guest")
    listed.clear()  # a caller's list is its own
    assert snap.of_kind("proxmox.guest")
