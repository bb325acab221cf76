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
