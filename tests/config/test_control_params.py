"""Control parameters: catalog defaults, overridden by the tenant's contract, then by the tenant;
typos in control ids or parameter names are refused at load, naming where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from attest.catalog import load_catalog
from attest.config import ConfigError, load_config
from attest.lab.world import demo_world
from attest.workspace import config_document, init_workspace, write_config


def _write(tmp_path: Path, mutate: Any) -> Path:
    directory = tmp_path / "ws"
    if not (directory / "attest.yaml").exists():
        init_workspace(directory)
    doc = config_document(demo_world(), "https://127.0.0.1:9", False)
    mutate(doc)
    return write_config(directory, doc)


def _tenant(doc: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    return next(t for t in doc["tenants"] if t["id"] == tenant_id)


def test_tenant_over_contract_over_catalog(tmp_path: Path) -> None:
    defaults = next(c.entry.params for c in load_catalog() if c.entry.id == "BK-02")

    def mutate(doc: dict[str, Any]) -> None:
        doc["contracts"] = [{"id": "premium", "name": "Premium", "controls": {"BK-02": {"rpo_hours": 12}}}]
        _tenant(doc, "acme")["contract"] = "premium"
        _tenant(doc, "conti")["contract"] = "premium"
        _tenant(doc, "conti")["controls"] = {"BK-02": {"rpo_hours": 6}}

    loaded = load_config(_write(tmp_path, mutate))
    assert loaded.control_params(loaded.tenant("acme"), "BK-02", dict(defaults))["rpo_hours"] == 12
    assert loaded.control_params(loaded.tenant("conti"), "BK-02", dict(defaults))["rpo_hours"] == 6
    assert loaded.control_params(loaded.tenant("delta"), "BK-02", dict(defaults)) == defaults


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: _tenant(d, "acme").update(controls={"BK-99": {}}), "tenants[0] (id 'acme').controls: unknown control"),
    (lambda d: _tenant(d, "acme").update(controls={"BK-02": {"rpo_hour": 1}}), "BK-02 has no parameter 'rpo_hour'"),
    (lambda d: _tenant(d, "acme").update(contract="gold"), "unknown contract 'gold'"),
    (lambda d: d.update(contracts=[{"id": "x", "name": "X", "controls": {"ISO-01": {"a": 1}}}]),
     "contracts[0] (id 'x').controls.ISO-01: ISO-01 has no parameter 'a'"),
])
def test_typos_are_refused_with_their_place(tmp_path: Path, mutate: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, mutate))
    assert expected in str(info.value)


def test_pbs_source_must_name_known_sites(tmp_path: Path) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["sources"].append({"id": "pbs-x", "type": "proxmox_bs", "url": "https://127.0.0.1:8007",
                               "token_id": "attest@pbs!evidence", "token_value_file": "secrets/x",
                               "site": "mil1", "remote_sites": {"far": "atlantis"}})

    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, mutate))
    assert "far is placed at unknown site 'atlantis'" in str(info.value)


def test_terms_say_where_each_value_came_from(tmp_path: Path) -> None:
    defaults = dict(next(c.entry.params for c in load_catalog() if c.entry.id == "BK-02"))

    def mutate(doc: dict[str, Any]) -> None:
        doc["contracts"] = [{"id": "premium", "name": "Premium", "controls": {"BK-02": {"rpo_hours": 12}}}]
        _tenant(doc, "acme")["contract"] = "premium"
        _tenant(doc, "conti")["contract"] = "premium"
        _tenant(doc, "conti")["controls"] = {"BK-02": {"rpo_hours": 6}}
        _tenant(doc, "conti")["sla_target"] = 99.95

    loaded = load_config(_write(tmp_path, mutate))
    acme = {name: (value, source, contract) for name, value, source, contract
            in loaded.control_terms(loaded.tenant("acme"), "BK-02", defaults)}
    assert acme["rpo_hours"] == (12, "contract", "premium")
    assert all(source == "catalog" for name, (_, source, _) in acme.items() if name != "rpo_hours")
    conti = {name: (value, source) for name, value, source, _ in
             loaded.control_terms(loaded.tenant("conti"), "BK-02", defaults)}
    assert conti["rpo_hours"] == (6, "tenant")
    sla = {name: (value, source) for name, value, source, _ in
           loaded.control_terms(loaded.tenant("conti"), "SLA-01", {"min_coverage": 99.0})}
    assert sla["sla_target"] == (99.95, "tenant") and sla["min_coverage"] == (99.0, "catalog")


def test_every_control_is_catalogued_for_readers_and_auditors() -> None:
    duties = {"dedicated", "datacenter", "cluster_ha", "backups", "sla", "firewall", "lists", "isolation"}
    for control in load_catalog():
        e = control.entry
        assert set(e.title) == {"en", "it"} and set(e.explanation) == {"en", "it"}, e.id
        assert e.duty in duties and e.severity and e.max_evidence_age, e.id
        assert e.mappings.get("iso27001_2022") and e.mappings.get("iso27017") and e.mappings.get("gdpr"), e.id
        assert all(ref.startswith("Art. ") for ref in e.mappings["gdpr"]), e.id
    assert {c.entry.duty for c in load_catalog()} == duties  # every duty has at least one control
