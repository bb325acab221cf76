"""`attest collect` / `evaluate` / config errors through the console entry point, with the lab
as a separate process that is really killed mid-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attest.lab.server import LabProcess
from tests.cli.test_demo_end_to_end import attest
from tests.conftest import make_workspace


def _iso01(ws: Path) -> dict[str, str]:
    proc = attest("evaluate", "--json", "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stderr
    return {t["id"]: next(r["verdict"] for r in t["results"] if r["control_id"] == "ISO-01")
            for t in json.loads(proc.stdout)["tenants"]}


def test_lab_killed_mid_first_run_gives_partial_run_and_insufficient_evidence(tmp_path: Path) -> None:
    # 12 answered requests: version, status, permissions, resources, pools, then a few pools
    # and no guest config yet -- the process then dies abruptly (os._exit) mid-collection.
    with LabProcess(tmp_path / "lab", die_after=12) as lab:
        ws = make_workspace(tmp_path / "ws", lab.url, lab.ca_path)
        proc = attest("collect", "--config", ws.path, cwd=ws.base)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "partial" in proc.stderr and "pve-main" in proc.stderr
        assert lab.returncode is not None  # really dead
    verdicts = _iso01(ws.base)
    assert set(verdicts.values()) == {"insufficient_evidence"}


def test_lab_killed_after_a_good_run_keeps_the_verdicts(tmp_path: Path) -> None:
    with LabProcess(tmp_path / "lab1") as lab:
        ws = make_workspace(tmp_path / "ws", lab.url, lab.ca_path)
        assert attest("collect", "--config", ws.path, cwd=ws.base).returncode == 0
    with LabProcess(tmp_path / "lab2", die_after=20) as lab:
        make_workspace(tmp_path / "ws2", lab.url, lab.ca_path)  # just to get a config pointing at it
        text = ws.path.read_text()
        import re

        text = re.sub(r"url: https://127\.0\.0\.1:\d+", f"url: {lab.url}", text)
        text = re.sub(r"verify_tls: .*", f"verify_tls: {lab.ca_path}", text)
        ws.path.write_text(text)
        assert attest("collect", "--config", ws.path, cwd=ws.base).returncode == 1
    verdicts = _iso01(ws.base)
    assert verdicts["acme"] == "pass" and verdicts["moretti"] == "fail" and verdicts["nautilus"] == "fail"


@pytest.mark.parametrize(("mutation", "expected"), [
    (lambda t: t.replace("time_zone: Europe/Rome", "time_zone: Mars/Olympus"), "time_zone: unknown time zone"),
    (lambda t: t.replace("language: it", "language: fr", 1), "tenants[0] (id 'acme').language"),
    (lambda t: t.replace("token_value_file: secrets/pve-main.token", "token_value: abc"),
     "sources[0].token_value: secrets are not written in the config"),
    (lambda t: t + "\n  - [unclosed", "not valid YAML"),
    (lambda t: t.replace("node_sites:\n", "node_sites:\n    pve9: nowhere\n"), "unknown site 'nowhere'"),
])
def test_bad_config_is_one_clear_message_and_exit_2(tmp_path: Path, mutation, expected: str) -> None:  # type: ignore[no-untyped-def]
    from attest.workspace import init_workspace

    cfg = init_workspace(tmp_path / "ws")
    cfg.write_text(mutation(cfg.read_text()))
    proc = attest("evaluate", "--config", cfg, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert str(cfg) in proc.stderr and expected in proc.stderr, proc.stderr
    assert "abc" not in proc.stderr.replace(expected, "")


def test_missing_config_and_bad_period_are_exit_2(tmp_path: Path) -> None:
    proc = attest("collect", "--config", tmp_path / "nope.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    from attest.workspace import init_workspace

    cfg = init_workspace(tmp_path / "ws")
    proc = attest("evaluate", "--config", cfg, "--period", "2026-13", cwd=tmp_path)
    assert proc.returncode == 2 and "YYYY-MM" in proc.stderr
    proc = attest("init", tmp_path / "ws", cwd=tmp_path)
    assert proc.returncode == 2 and "already exists" in proc.stderr
    proc = attest("evaluate", "--config", cfg, "--period", "2999-01", cwd=tmp_path)
    assert proc.returncode == 2 and "has not started" in proc.stderr
    proc = attest("evaluate", "--config", cfg, "--period", "2026-10", "--as-of", "2026-11-15T00:00:00Z", cwd=tmp_path)
    assert proc.returncode == 2 and "outside the period 2026-10" in proc.stderr
    proc = attest("evaluate", "--config", cfg, "--as-of", "2026-11-15", cwd=tmp_path)
    assert proc.returncode == 2 and "time zone offset" in proc.stderr


def test_unreachable_database_is_one_line_exit_2_without_the_password(tmp_path: Path) -> None:
    from attest.workspace import init_workspace

    cfg = init_workspace(tmp_path / "ws")
    cfg.write_text(cfg.read_text() + "\ndatabase_url: postgresql://attest:s3cretpw@127.0.0.1:1/attest\n")
    for args in (["evaluate"], ["evidence", "verify"]):
        proc = attest(*args, "--config", cfg, cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "database_url: cannot open the evidence log" in proc.stderr
        assert "s3cretpw" not in proc.stderr and "Traceback" not in proc.stderr
