"""PBX sources in attest.yaml: local or SSH, the host key always pinned, secrets only by reference,
the inventory kept out of the provider-wide record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from attest.config import ConfigError, load_config
from attest.lab.world import demo_world
from attest.workspace import config_document, init_workspace, write_config

FP = "SHA256:" + "A" * 43


def _load(tmp_path: Path, source: dict[str, Any]):  # type: ignore[no-untyped-def]
    directory = tmp_path / "ws"
    if not (directory / "attest.yaml").exists():
        init_workspace(directory)
    doc = config_document(demo_world(), "https://127.0.0.1:9", False)
    doc["sources"].append(source)
    return load_config(write_config(directory, doc))


def test_local_and_ssh_sources_load(tmp_path: Path) -> None:
    ws = _load(tmp_path, {"id": "pbx-a", "type": "asterisk", "path": "pbx/a", "tenants": {"acme": {"extensions": 100}}})
    [src] = ws.asterisk_sources("acme")
    assert src.tenants["acme"].extensions == ["100"]
    ws = _load(tmp_path, {"id": "pbx-b", "type": "asterisk", "tenants": {"acme": {"extensions": ["100-119"]}},
                          "ssh": {"host": "pbx.example", "user": "audit", "key_file": "keys/pbx",
                                  "host_key_fingerprint": FP, "key_passphrase_env": "PBX_KEY_PASS"}})
    assert ws.asterisk_sources("acme")[0].ssh.host == "pbx.example"  # type: ignore[union-attr]


@pytest.mark.parametrize(("source", "message"), [
    ({"path": "a", "ssh": {"host": "h", "user": "u", "key_file": "k", "host_key_fingerprint": FP}},
     "exactly one of path or ssh"),
    ({"ssh": {"host": "h", "user": "u", "key_file": "k"}}, "known_hosts or host_key_fingerprint"),
    ({"ssh": {"host": "h", "user": "u", "host_key_fingerprint": FP}}, "key_file or set use_agent"),
    ({"ssh": {"host": "h", "user": "u", "key_file": "k", "host_key_fingerprint": FP, "key_passphrase": "x"}},
     "secrets are not written in the config"),
    ({"path": "a", "tenants": {}}, "tenants"),
])
def test_bad_pbx_sources_are_refused_naming_the_key(tmp_path: Path, source: dict[str, Any], message: str) -> None:
    full = {"id": "pbx-x", "type": "asterisk", "tenants": {"acme": {"extensions": "1-2"}}, **source}
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, full)
    assert message in str(exc.value)
    assert "pbx-x" in str(exc.value) or "key_passphrase" in str(exc.value)


def test_inventory_stays_out_of_the_provider_record(tmp_path: Path) -> None:
    ws = _load(tmp_path, {"id": "pbx-s", "type": "asterisk", "path": "p",
                          "tenants": {"moretti": {"extensions": "10-19"}, "nautilus": {"extensions": "20-29"}}})
    provider = ws.provider_part()
    [pbx] = [s for s in provider["sources"] if s["type"] == "asterisk"]
    assert pbx["tenants"] == {"count": 2}
    assert "moretti" not in str(provider) and "nautilus" not in str(provider)
    part = ws.tenant_part(ws.tenant("moretti"))
    assert part["pbx_inventory"] == {"pbx-s": {"extensions": ["10-19"], "endpoints": []}}
    assert "nautilus" not in str(part)
