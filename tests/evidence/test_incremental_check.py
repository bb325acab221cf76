"""A long-lived process (the portal) closes runs with `recheck_signed_leaves` off: each run reads
only the leaves appended since this process last checked or signed. The roots must be those of
the whole log, and what the cheaper check gives up must be caught elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from attest.pki import DemoPki
from attest.signing import ProviderSigner
from attest.verify import load_trust_anchors
from evidence import merkle
from evidence.log import EvidenceLog, LogIntegrityError, NewRecord
from tests.evidence.test_log import T0, _exec, _fill, _problems


def _leaves(log: EvidenceLog) -> list[bytes]:
    with log.engine.connect() as conn:
        return [bytes(h) for (h,) in conn.exec_driver_sql("SELECT leaf_hash FROM records ORDER BY idx")]


def test_frontier_root_is_the_tree_head_at_every_size() -> None:
    leaves = [merkle.leaf_hash(str(n).encode()) for n in range(70)]
    frontier = merkle.Frontier()
    assert frontier.root() == merkle.EMPTY_ROOT
    for n, leaf in enumerate(leaves, 1):
        frontier.push(leaf)
        assert (frontier.size, frontier.root()) == (n, merkle.root(leaves[:n]))
    copy = frontier.copy()
    copy.push(leaves[0])
    assert frontier.size == 70 and copy.size == 71  # a copy grows alone


@pytest.fixture
def anchors(demo_pki: DemoPki) -> list[x509.Certificate]:
    return load_trust_anchors([demo_pki.ca_cert])


@pytest.fixture
def long_lived(db_url: str, tmp_path: Path, signer: ProviderSigner) -> Iterator[EvidenceLog]:
    log = EvidenceLog.open(db_url, tmp_path / "evidence")
    log.recheck_signed_leaves = False
    _fill(log, signer)
    yield log
    log.close()


def test_incremental_roots_are_the_whole_log_s(long_lived: EvidenceLog, signer: ProviderSigner,
                                               anchors: list[x509.Certificate]) -> None:
    for k in range(4):
        run = long_lived.begin_run("seal", signer)
        long_lived.append(run, [NewRecord("attest", "portal.audit", f"tenant/t{k}", {"n": n}, T0) for n in range(k)])
        cp = long_lived.finish_run(run, "ok", signer)
        assert cp.root_hash == merkle.root(_leaves(long_lived)) and cp.tree_size == len(_leaves(long_lived))
    assert long_lived.verify(anchors).ok


def test_a_rewrite_of_checked_leaves_is_caught_by_the_next_process(long_lived: EvidenceLog, signer: ProviderSigner,
                                                                   db_url: str, tmp_path: Path,
                                                                   anchors: list[x509.Certificate]) -> None:
    rec = next(long_lived.records(subject="pve-main/qemu/100", run_id=2))
    forged = rec.body.replace(b'"vmid":100', b'"vmid":997')
    _exec(long_lived, "UPDATE records SET body = :b, leaf_hash = :h WHERE idx = :i", b=forged,
          h=merkle.leaf_hash(forged), i=rec.idx)
    # This process checked that leaf before: its next run reads only newer ones (the documented price)…
    run = long_lived.begin_run("seal", signer)
    long_lived.finish_run(run, "ok", signer)
    # …but another process checks everything, and `evidence verify` names the rewrite.
    other = EvidenceLog.open(db_url, tmp_path / "evidence")
    try:
        run = other.begin_run("collect", signer)
        with pytest.raises(LogIntegrityError, match="no longer matches signed checkpoint"):
            other.finish_run(run, "ok", signer)
    finally:
        other.close()
    assert _problems(long_lived, anchors)


def test_deleted_rows_are_caught_without_rereading(long_lived: EvidenceLog, signer: ProviderSigner) -> None:
    _exec(long_lived, "DELETE FROM records WHERE idx = 3")
    run = long_lived.begin_run("seal", signer)
    with pytest.raises(LogIntegrityError, match="not contiguous"):
        long_lived.finish_run(run, "ok", signer)


def test_leaves_signed_by_another_process_are_checked(long_lived: EvidenceLog, signer: ProviderSigner, db_url: str,
                                                     tmp_path: Path) -> None:
    """Leaves this process never saw are read and checked against the signed root."""
    other = EvidenceLog.open(db_url, tmp_path / "evidence")
    try:
        _fill(other, signer, runs=1)
    finally:
        other.close()
    rec = next(long_lived.records(subject="pve-main/qemu/102", run_id=4))
    _exec(long_lived, "UPDATE records SET leaf_hash = :h WHERE idx = :i", h=merkle.leaf_hash(b"forged"), i=rec.idx)
    run = long_lived.begin_run("seal", signer)
    with pytest.raises(LogIntegrityError, match="no longer matches signed checkpoint 4"):
        long_lived.finish_run(run, "ok", signer)
