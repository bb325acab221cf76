"""Issue 4, item 8: broken input never raises and never reads as a pass. Unreadable, binary,
non-UTF-8 and oversized files, include loops, missing includes and `#exec` each give a CFG-01
finding with file:line, and the checks that need the file are not evaluated."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from attest.lab.pbx_trees import write_leaky_tree
from attest.pbx.analysis import Analysis, analyse
from attest.pbx.inventory import load_inventory
from collectors.pbx import dump as dump_mod
from collectors.pbx.dump import DumpFile, PbxDump
from collectors.pbx.local import read_local
from tests.cli.test_demo_end_to_end import attest

# Checks that read the endpoints / the dialplan: none may pass when those files are not known.
ENDPOINT_CHECKS = ("INST-01", "INST-02", "DIAL-01", "PICK-01", "PICK-02", "SPY-01")
DIALPLAN_CHECKS = ("DIAL-01", "DIAL-02", "SPY-01", "PICK-02", "HINT-01")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_leaky_tree(tmp_path / "pbx")


def run(root: Path, dump: PbxDump | None = None) -> Analysis:
    return analyse(dump if dump is not None else read_local(root), load_inventory(root / "inventory.yaml"))


def etc(root: Path, name: str) -> Path:
    return root / "etc" / "asterisk" / name


def cfg01(a: Analysis, file: str) -> list[tuple[str, int | None]]:
    result = a.check("CFG-01")
    return [(f.message, f.line) for f in result.findings if f.file == file]


def assert_not_evaluated(a: Analysis, ids: tuple[str, ...], why: str) -> None:
    for check_id in ids:
        c = a.check(check_id)
        assert c.status == "not_evaluated", (check_id, c.status, c.summary)
        assert why in c.summary, (check_id, c.summary)


def test_the_intact_tree_reads_cleanly(root: Path) -> None:
    a = run(root)
    assert a.check("CFG-01").status == "pass"
    assert a.check("DIAL-01").status == "fail"  # the baseline the cases below change


def test_unreadable_file(root: Path) -> None:
    dump = read_local(root)
    dump.asterisk["pjsip.endpoint.conf"] = DumpFile("pjsip.endpoint.conf", None, error="permission denied")
    a = run(root, dump)
    assert a.check("CFG-01").status == "fail"
    [(message, _)] = cfg01(a, "pjsip.endpoint.conf")
    assert "could not be read: permission denied" in message and "included at pjsip.conf:" in message
    assert_not_evaluated(a, ENDPOINT_CHECKS, "pjsip.conf is not completely known")


def test_binary_file(root: Path) -> None:
    etc(root, "extensions.conf").write_bytes(etc(root, "extensions.conf").read_bytes() + b"\x00\x01\x02")
    a = run(root)
    assert a.check("CFG-01").status == "fail"
    [(message, _)] = cfg01(a, "extensions.conf")
    assert "binary" in message
    assert_not_evaluated(a, DIALPLAN_CHECKS, "extensions.conf is not completely known")


def test_include_loop(root: Path) -> None:
    aor = etc(root, "pjsip.aor.conf")
    aor.write_text(aor.read_text() + "#include pjsip.conf\n")
    a = run(root)
    assert a.check("CFG-01").status == "fail"
    [(message, line)] = cfg01(a, "pjsip.aor.conf")
    assert "include loop" in message and "pjsip.conf -> pjsip.aor.conf -> pjsip.conf" in message
    assert line == len(aor.read_text().splitlines())
    assert_not_evaluated(a, ENDPOINT_CHECKS, "pjsip.conf is not completely known")


def test_missing_included_file(root: Path) -> None:
    etc(root, "pjsip.auth.conf").unlink()
    a = run(root)
    found = cfg01(a, "pjsip.conf")
    assert len(found) == 1
    message, line = found[0]
    assert "pjsip.auth.conf" in message and "no such file" in message
    text = etc(root, "pjsip.conf").read_text().splitlines()
    assert line is not None and text[line - 1] == "#include pjsip.auth.conf"
    # a warning: the endpoints are still all known, the checks still judge them
    assert a.check("CFG-01").status == "pass"
    assert a.check("DIAL-01").status == "fail"


def test_non_utf8_file_is_analysed_with_a_warning(root: Path) -> None:
    ext = etc(root, "extensions.conf")
    lines = ext.read_bytes().split(b"\n")
    lines.insert(3, b"; Citt\xe0 di Bol\xf2gna")  # Latin-1, becomes line 4
    ext.write_bytes(b"\n".join(lines))
    a = run(root)
    [(message, line)] = cfg01(a, "extensions.conf")
    assert "not UTF-8" in message and line == 4
    assert a.check("CFG-01").status == "pass"  # a warning, nothing is unknown
    assert a.check("DIAL-01").status == "fail"  # and the dialplan is still analysed


def test_enormous_file(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = etc(root, "extensions.conf")
    big.write_text(big.read_text() + ";" * 4000 + "\n")
    monkeypatch.setattr(dump_mod, "MAX_FILE_BYTES", 3000)
    dump = read_local(root)
    assert dump.asterisk["extensions.conf"].data is None
    a = run(root, dump)
    assert a.check("CFG-01").status == "fail"
    [(message, _)] = cfg01(a, "extensions.conf")
    assert "larger than 3000 bytes" in message
    assert_not_evaluated(a, DIALPLAN_CHECKS, "extensions.conf is not completely known")


def test_exec(root: Path) -> None:
    ep = etc(root, "pjsip.endpoint.conf")
    ep.write_text("#exec /usr/local/bin/more-endpoints.sh\n" + ep.read_text())
    a = run(root)
    assert a.check("CFG-01").status == "fail"
    [(message, line)] = cfg01(a, "pjsip.endpoint.conf")
    assert "#exec /usr/local/bin/more-endpoints.sh" in message and line == 1
    assert_not_evaluated(a, ENDPOINT_CHECKS, "pjsip.conf is not completely known")


def test_every_bad_file_at_once_never_raises(root: Path) -> None:
    dump = read_local(root)
    broken = dict(dump.asterisk)
    broken["pjsip.endpoint.conf"] = DumpFile("pjsip.endpoint.conf", None, error="I/O error")
    broken["extensions.conf"] = DumpFile("extensions.conf", b"\x00" * 10)
    broken["features.conf"] = DumpFile("features.conf", b"[general]\n#include features.conf\n#exec /bin/x\n")
    broken["sip.conf"] = DumpFile("sip.conf", b"[general]\ncontext=\xff\xfe\n#include nope.conf\n")
    a = run(root, replace(dump, asterisk=broken))
    statuses = {c.id: c.status for c in a.checks}
    assert statuses["CFG-01"] == "fail"
    assert not any("internal error" in c.summary for c in a.checks)
    for check_id in {*ENDPOINT_CHECKS, *DIALPLAN_CHECKS}:
        assert statuses[check_id] == "not_evaluated", check_id
    files = {f.file for f in a.check("CFG-01").findings}
    assert {"pjsip.endpoint.conf", "extensions.conf", "features.conf", "sip.conf"} <= files


def test_tree_without_any_configuration(tmp_path: Path) -> None:
    folder = tmp_path / "empty-asterisk"
    folder.mkdir()
    (folder / "README").write_text("nothing here\n")
    a = analyse(read_local(folder), None)
    cfg = a.check("CFG-01")
    assert cfg.status == "fail" and "No Asterisk configuration file" in cfg.summary
    for check_id in (*ENDPOINT_CHECKS, *DIALPLAN_CHECKS):
        assert a.check(check_id).status == "not_evaluated", check_id
    passed = {c.id for c in a.checks if c.status == "pass"}
    assert not passed


def test_pickup_code_is_not_a_pass_without_features_conf(root: Path) -> None:
    etc(root, "features.conf").write_bytes(b"[general]\x00pickupexten = **9\n")
    assert run(root).check("PICK-04").status != "pass"


def test_pbx_check_exits_2_on_an_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    proc = attest("pbx-check", folder)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error" in proc.stderr and "empty" in proc.stderr and proc.stdout == ""


def test_pbx_check_exits_2_on_a_tree_without_configuration(tmp_path: Path) -> None:
    folder = tmp_path / "no-config"
    folder.mkdir()
    (folder / "README").write_text("nothing here\n")
    proc = attest("pbx-check", folder)
    assert proc.returncode == 2, proc.stdout + proc.stderr
