"""`attest pbx-check` as an operator runs it (the installed console script): exit codes, the text
report, the JSON shape, bad inventories, and the same analysis over a real SSH server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attest.lab.pbx_trees import write_dedicated_tree, write_leaky_tree
from tests.collectors.pbx.sshd import SshServer, running_sshd

ATTEST = Path(sys.executable).parent / "attest"
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")


def attest(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ATTEST), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_leaky_tree(tmp_path_factory.mktemp("leaky") / "pbx")


@pytest.fixture(scope="module")
def leaky_json(leaky: Path) -> dict[str, Any]:
    proc = attest("pbx-check", leaky, "--inventory", leaky / "inventory.yaml", "--json")
    assert proc.returncode == 1, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def secrets(root: Path) -> list[str]:
    text = (root / "etc" / "asterisk" / "pjsip.auth.conf").read_text()
    found = re.findall(r"^password=(.+)$", text, flags=re.MULTILINE)
    assert len(found) == 20
    return found


def failed(data: dict[str, Any]) -> set[str]:
    return {c["id"] for c in data["checks"] if c["status"] == "fail"}


def test_leaky_tree_text_report(leaky: Path) -> None:
    proc = attest("pbx-check", leaky, "--inventory", leaky / "inventory.yaml")
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert out.startswith("PBX pbx-shared-01  (dir:")
    assert "tenants x (10 endpoint(s)), y (10 endpoint(s))" in out
    # grouped by severity, most severe first
    heads = [line for line in out.splitlines() if line in SEVERITIES]
    assert heads == sorted(heads, key=SEVERITIES.index) and heads[:2] == ["CRITICAL", "HIGH"]
    critical = out[out.index("\nCRITICAL\n"):out.index("\nHIGH\n")]
    assert "FAIL  DIAL-01" in critical and "FAIL  CFG-01" not in critical
    # within a severity, failures come first
    marks = [line.split()[0] for line in critical.splitlines() if re.match(r"^  (FAIL|pass|n/e) ", line)]
    assert marks == sorted(marks, key=["FAIL", "n/e", "pass"].index)
    # DIAL-01 shows the finding's file:line and its path
    dial = critical[critical.index("FAIL  DIAL-01"):]
    finding = re.search(r"^        - .*\[extensions\.conf:(\d+)\]$", dial, flags=re.MULTILINE)
    assert finding is not None
    line = int(finding.group(1))
    ext = (leaky / "etc" / "asterisk" / "extensions.conf").read_text().splitlines()
    assert "Dial(PJSIP/${EXTEN},20)" in ext[line - 1]
    assert re.search(r"^ {14}endpoint PJSIP/1\d of x starts calls in context from-internal "
                     r"\(pjsip\.endpoint\.conf:\d+\)", dial, flags=re.MULTILINE)
    assert re.search(r"^ {12}→ from-internal includes ext-local \(extensions\.conf:\d+\)", dial,
                     flags=re.MULTILINE)
    assert re.search(r"^\d+ failed, \d+ passed, \d+ not evaluated \(\d+ checks\)\.$", out, flags=re.MULTILINE)
    for secret in secrets(leaky):
        assert secret not in out and secret not in proc.stderr


def test_leaky_tree_json_shape(leaky: Path, leaky_json: dict[str, Any]) -> None:
    data = leaky_json
    assert data["instance"] == "pbx-shared-01"
    assert [t["id"] for t in data["tenants"]] == ["x", "y"]
    assert {"DIAL-01", "PICK-01", "SPY-01", "INST-01"} <= failed(data)
    for check in data["checks"]:
        assert {"id", "title", "status", "severity", "findings"} <= set(check)
        assert check["status"] in ("pass", "fail", "not_evaluated")
        assert check["severity"] in ("critical", "high", "medium", "low", "info")
        for f in check["findings"]:
            assert {"message", "file", "line", "path"} <= set(f)
            assert isinstance(f["path"], list) and all(isinstance(s, str) for s in f["path"])
            assert f["line"] is None or isinstance(f["line"], int)
    dial = next(c for c in data["checks"] if c["id"] == "DIAL-01")
    assert dial["status"] == "fail" and dial["severity"] == "critical"
    first = dial["findings"][0]
    assert first["file"] == "extensions.conf" and first["line"] > 0
    assert first["path"][0].startswith("endpoint PJSIP/") and "rings PJSIP/" in first["path"][-1]
    text = json.dumps(data)
    for secret in secrets(leaky):
        assert secret not in text


def test_without_inventory_cross_tenant_checks_are_not_evaluated(leaky: Path) -> None:
    proc = attest("pbx-check", leaky, "--json")
    data = json.loads(proc.stdout)
    checks = {c["id"]: c for c in data["checks"]}
    assert checks["DIAL-01"]["status"] == "not_evaluated" and "inventory" in checks["DIAL-01"]["summary"]
    assert checks["INST-01"]["status"] == "not_evaluated"
    assert data["tenants"] == []
    assert proc.returncode == (1 if failed(data) else 0)


def test_dedicated_tree_exits_0(tmp_path: Path) -> None:
    root = write_dedicated_tree(tmp_path / "pbx")
    proc = attest("pbx-check", root, "--inventory", root / "inventory.yaml", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    data = json.loads(proc.stdout)
    assert failed(data) == set() and [t["id"] for t in data["tenants"]] == ["acme"]


def test_missing_path_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    proc = attest("pbx-check", missing)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "no such folder" in proc.stderr and "nowhere" in proc.stderr


@pytest.mark.parametrize(("inventory", "expected"), [
    ("tenants:\n  x: {extensions: \"10-19\"\n  y: [\n", "not valid YAML"),
    ("tenants:\n  x: {extensions: \"10-19\"}\n  y: {extensions: [\"15-25\"]}\n", "claimed by both x and y"),
    ("tenants:\n  x: {extensions: \"19-10\"}\n", "tenants.x.extensions: range '19-10' ends before it starts"),
    ("tenants:\n  x: {extension: \"10-19\"}\n", "tenants.x.extension"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_malformed_inventory_exits_2_naming_file_and_key(leaky: Path, tmp_path: Path, inventory: str,
                                                         expected: str) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(inventory)
    proc = attest("pbx-check", leaky, "--inventory", inv)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr
    assert proc.stdout == ""
    err = " ".join(proc.stderr.split())
    assert str(inv) in err and expected in err


def test_missing_inventory_exits_2(leaky: Path, tmp_path: Path) -> None:
    proc = attest("pbx-check", leaky, "--inventory", tmp_path / "none.yaml")
    assert proc.returncode == 2 and "none.yaml" in proc.stderr


# --- over SSH ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as srv:
        yield srv


def ssh_args(server: SshServer, root: Path, fingerprint: str | None = None) -> list[str | Path]:
    return [f"ssh://{server.user}@127.0.0.1:{server.port}", "--config-dir", root / "etc" / "asterisk",
            "--key-file", server.client_key, "--host-key-fingerprint", fingerprint or server.host_fingerprint,
            "--cdr", root / "var" / "log" / "asterisk" / "cdr-csv" / "Master.csv"]


def test_over_ssh_gives_the_same_failures_as_locally(server: SshServer, leaky: Path,
                                                     leaky_json: dict[str, Any]) -> None:
    proc = attest("pbx-check", *ssh_args(server, leaky), "--inventory", leaky / "inventory.yaml", "--json")
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    data = json.loads(proc.stdout)
    assert failed(data) == failed(leaky_json)
    assert [t["id"] for t in data["tenants"]] == ["x", "y"]
    dial = next(c for c in data["checks"] if c["id"] == "DIAL-01")
    local_dial = next(c for c in leaky_json["checks"] if c["id"] == "DIAL-01")
    assert [(f["file"], f["line"], f["path"]) for f in dial["findings"]] == \
        [(f["file"], f["line"], f["path"]) for f in local_dial["findings"]]
    assert data["origin"] == f"ssh://{server.user}@127.0.0.1:{server.port}"
    text = proc.stdout + proc.stderr
    for secret in secrets(leaky):
        assert secret not in text


def test_over_ssh_text_report_has_no_secret(server: SshServer, leaky: Path) -> None:
    proc = attest("pbx-check", *ssh_args(server, leaky), "--inventory", leaky / "inventory.yaml")
    assert proc.returncode == 1, proc.stderr
    assert "FAIL  DIAL-01" in proc.stdout
    for secret in secrets(leaky):
        assert secret not in proc.stdout + proc.stderr


def test_over_ssh_wrong_fingerprint_exits_2_naming_the_host(server: SshServer, leaky: Path) -> None:
    wrong = "SHA256:" + "A" * 43
    proc = attest("pbx-check", *ssh_args(server, leaky, fingerprint=wrong), "--inventory", leaky / "inventory.yaml")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr
    assert proc.stdout == ""
    assert "127.0.0.1" in proc.stderr
