"""Waivers (`waivers.yaml`): a waived control shows as waived with the justification and the
approver, never as a pass; an expired waiver no longer applies; a bad file is refused naming
the entry; the waivers are part of the recorded configuration, a tenant's own only in its record."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from attest.attestation import Result, Verdict
from attest.config import ConfigError
from attest.render.html import render_html
from attest.waivers import Waiver, apply, load_waivers
from evidence.log import CheckpointSigner, EvidenceLog
from tests.engine.builder import config_doc, judge, load
from tests.render.conftest import build_attestation

CONTROLS = ["BK-02", "SLA-01", "FW-01"]
TENANTS = ["acme", "bellini"]


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
waivers:
  - control: BK-02
    tenant: acme
    justification: The backup server moves to a new datacenter; backups resume on 10 December.
    approver: Maria Rossi (CISO)
    expires: 2026-12-15
    reference: RISK-42
  - control: FW-01
    tenant: all
    justification: Firewall migration to the new cluster, tracked in the change plan
    approver: Luca Bianchi
    granted: 2026-11-01
    expires: 2026-11-30
"""


def _result(verdict: Verdict, control: str = "BK-02") -> Result:
    return Result(control_id=control, title={"en": "Recent backup", "it": "Backup recente"}, duty="backups",
                  verdict=verdict, reason={"en": "The last backup is 52 h old.", "it": "L'ultimo backup ha 52 h."},
                  facts=[{"en": "VM 101", "it": "VM 101"}])


def test_a_missing_file_means_no_waivers(tmp_path: Path) -> None:
    assert load_waivers(tmp_path / "waivers.yaml", TENANTS, CONTROLS) == []


def test_a_good_file_loads(tmp_path: Path) -> None:
    waivers = load_waivers(_file(tmp_path, GOOD), TENANTS, CONTROLS)
    assert [(w.control, w.tenant, w.expires) for w in waivers] == [
        ("BK-02", "acme", date(2026, 12, 15)), ("FW-01", "all", date(2026, 11, 30))]


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.replace("control: BK-02", "control: BK-09"), "waivers[0].control: unknown control 'BK-09'"),
    (GOOD.replace("tenant: acme", "tenant: zeta"), "waivers[0].tenant: unknown tenant 'zeta'"),
    (GOOD.replace("expires: 2026-12-15", "expires: next week"), "waivers[0].expires"),
    (GOOD.replace("    approver: Maria Rossi (CISO)\n", ""), "waivers[0].approver: Field required"),
    (GOOD.replace("The backup server moves to a new datacenter; backups resume on 10 December.", "ok"),
     "waivers[0].justification"),
    (GOOD.replace("granted: 2026-11-01", "granted: 2026-12-01"), "waivers[1]: granted 2026-12-01 is after"),
    (GOOD + GOOD.split("waivers:\n")[1].split("  - control: FW-01")[0], "waivers[0] already waives BK-02"),
    (GOOD.replace("tenant: acme", "tenant: acme\n    colour: red"), "waivers[0].colour: Extra inputs"),
    ("waivers:\n  - control: [unclosed\n  - tenant: acme\n", "not valid YAML"),
])
def test_a_bad_file_is_refused_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_waivers(path, TENANTS, CONTROLS)
    assert str(path) in str(err.value) and message in str(err.value)


def _waiver(**kw: object) -> Waiver:
    fields: dict[str, object] = {"control": "BK-02", "tenant": "acme", "approver": "Maria Rossi",
                                 "justification": "Backups paused during the datacenter move.",
                                 "expires": date(2026, 12, 15)}
    return Waiver.model_validate(fields | kw)


def test_a_failing_control_is_waived_never_passed_and_says_what_it_was() -> None:
    got = apply(_result(Verdict.FAIL), [_waiver(reference="RISK-42")], "acme", date(2026, 11, 30))
    assert got.verdict == Verdict.WAIVED
    assert got.waiver is not None and got.waiver.verdict_without == Verdict.FAIL
    assert got.waiver.approver == "Maria Rossi" and got.waiver.reference == "RISK-42"
    assert "Backups paused during the datacenter move." in got.reason["en"] and "Maria Rossi" in got.reason["en"]
    assert "Without the waiver the result would be: fail — The last backup is 52 h old." in got.reason["en"]
    assert "Senza la deroga l'esito sarebbe: non superato — L'ultimo backup ha 52 h." in got.reason["it"]
    assert got.facts == _result(Verdict.FAIL).facts  # the tenant's facts stay


def test_insufficient_evidence_can_be_waived_too() -> None:
    got = apply(_result(Verdict.INSUFFICIENT_EVIDENCE), [_waiver()], "acme", date(2026, 11, 30))
    assert got.verdict == Verdict.WAIVED and "not assessed (insufficient evidence)" in got.reason["en"]


def test_the_waiver_applies_through_its_expiry_day_and_not_after() -> None:
    assert apply(_result(Verdict.FAIL), [_waiver()], "acme", date(2026, 12, 15)).verdict == Verdict.WAIVED
    expired = apply(_result(Verdict.FAIL), [_waiver()], "acme", date(2026, 12, 16))
    assert expired.verdict == Verdict.FAIL and expired.waiver is None
    assert "expired on 2026-12-15: it no longer applies" in expired.facts[0]["en"]


def test_a_waiver_not_yet_granted_does_not_apply() -> None:
    got = apply(_result(Verdict.FAIL), [_waiver(granted=date(2026, 12, 1))], "acme", date(2026, 11, 30))
    assert got.verdict == Verdict.FAIL


def test_a_passing_control_stays_a_pass_and_the_waiver_is_noted_as_not_needed() -> None:
    got = apply(_result(Verdict.PASS), [_waiver()], "acme", date(2026, 11, 30))
    assert got.verdict == Verdict.PASS and got.waiver is None and "was not needed" in got.facts[0]["en"]


def test_other_tenants_and_other_controls_are_untouched() -> None:
    assert apply(_result(Verdict.FAIL), [_waiver()], "bellini", date(2026, 11, 30)).verdict == Verdict.FAIL
    assert apply(_result(Verdict.FAIL, "FW-01"), [_waiver()], "acme", date(2026, 11, 30)).verdict == Verdict.FAIL


def test_a_waiver_for_all_applies_to_everyone_and_the_tenants_own_comes_first() -> None:
    everyone = _waiver(tenant="all", approver="Luca Bianchi")
    assert apply(_result(Verdict.FAIL), [everyone], "bellini", date(2026, 11, 30)).verdict == Verdict.WAIVED
    got = apply(_result(Verdict.FAIL), [everyone, _waiver()], "acme", date(2026, 11, 30))
    assert got.waiver is not None and got.waiver.approver == "Maria Rossi" and not got.waiver.for_all


def _workspace(tmp_path: Path, waivers: str) -> object:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "waivers.yaml").write_text(waivers, encoding="utf-8")
    return load(config_doc(), tmp_path)


SLA_WAIVER = """\
waivers:
  - control: SLA-01
    tenant: acme
    justification: Probes are being moved to the new monitoring; availability is reported by the carrier.
    approver: Maria Rossi (CISO)
    expires: 2031-01-31
"""


def test_end_to_end_the_waiver_is_judged_recorded_and_cited(tmp_path: Path, log: EvidenceLog,
                                                             signer: CheckpointSigner) -> None:
    # acme has no SLA instance: SLA-01 is insufficient evidence, which the waiver covers.
    config = _workspace(tmp_path, SLA_WAIVER)
    results = judge(config, log, signer, "SLA-01")  # type: ignore[arg-type]
    acme, bellini = results["acme"], results["bellini"]
    assert acme.verdict == Verdict.WAIVED and bellini.verdict == Verdict.INSUFFICIENT_EVIDENCE
    records = {r.subject: r for r in log.records(kind="attest.tenant")} | {
        r.subject: r for r in log.records(kind="attest.config")}
    assert records["tenant/acme"].payload["tenant"]["waivers"][0]["approver"] == "Maria Rossi (CISO)"
    assert "waivers" not in records["tenant/bellini"].payload["tenant"]
    assert "waivers" not in records["config"].payload["provider_config"]  # names acme: not provider-wide
    assert records["tenant/acme"].leaf_hex in acme.evidence


def test_changing_a_waiver_changes_the_configuration_digest(tmp_path: Path) -> None:
    a = _workspace(tmp_path / "a", SLA_WAIVER)
    b = _workspace(tmp_path / "b", SLA_WAIVER.replace("2031-01-31", "2031-02-28"))
    none = load(config_doc(), tmp_path / "c")
    assert len({a.digest, b.digest, none.digest}) == 3  # type: ignore[attr-defined]


def test_the_document_shows_the_exception_and_never_a_pass() -> None:
    waived = apply(_result(Verdict.FAIL), [_waiver(reference="RISK-42")], "acme", date(2026, 11, 30))
    passed = _result(Verdict.PASS).model_copy(update={"control_id": "FW-01", "duty": "firewall"})
    att = build_attestation("en", results=[waived, passed])
    html = render_html(att)
    assert "Accepted exception" in html
    assert "Backups paused during the datacenter move. Approved by Maria Rossi (RISK-42), valid until 15 December " \
           "2026 inclusive. Without it the result would be: fail." in html
    assert att.overall == Verdict.WAIVED
    assert "Every control passed or is covered by an accepted exception." in html
    it = render_html(build_attestation("it", results=[waived, passed]))
    assert "Deroga accettata" in it and "valida fino al 15 dicembre 2026 compreso" in it


def test_load_config_refuses_a_bad_waivers_file(tmp_path: Path) -> None:
    from attest.config import load_config
    from attest.lab.world import demo_world
    from attest.workspace import config_document, init_workspace, write_config

    init_workspace(tmp_path / "ws")
    path = write_config(tmp_path / "ws", config_document(demo_world(), "https://127.0.0.1:9", False))
    (tmp_path / "ws" / "waivers.yaml").write_text("waivers:\n  - control: XX-99\n    tenant: acme\n"
                                                  "    justification: because we say so, really\n"
                                                  "    approver: me\n    expires: 2030-01-01\n")
    with pytest.raises(ConfigError, match=r"waivers\[0\]\.control: unknown control 'XX-99'"):
        load_config(path)
