"""The lab answers in the shapes of the reference material in ../shared/reference/proxmox.

For each endpoint the lab serves:
* every field it emits has the JSON type the recorded fixtures use for that field;
* every field it emits is declared in the apidata.js schema `returns` (unless that schema object
  allows additional properties), and has the wire type of its schema type (booleans are 0/1);
* fields that are in every fixture record (and required schema fields) are not missing.
Where the schema has no properties (/access/permissions) the fixtures are the only reference.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from attest.lab.pve_api import PveApi
from attest.lab.world import AUDITOR_PRIVS, LabToken, demo_world

REF = Path(__file__).resolve().parents[3] / "shared" / "reference" / "proxmox"
if not (REF / "apidata.js").is_file():
    pytest.skip(f"reference material not found at {REF}", allow_module_level=True)

FIXTURES = REF / "fixtures"
WORLD = demo_world()
EVIDENCE = next(t for t in WORLD.tokens if t.tokenid == "evidence")
# The auditor may not list disk images (that takes VM.Config.Disk or Datastore.Allocate): this one may.
STORAGE_ADMIN = LabToken("attest@pve", "storage-admin", "storage-admin-secret",
                         {"/": (*AUDITOR_PRIVS, "Datastore.Allocate")})
Record = dict[str, Any]

# Fixtures left out because SOURCES.md flags their types as test artefacts, not PVE output:
# - cluster_resources_type_vm__community-proxmox-inventory.json: vmid as a string, template "".
# - cluster_status__community-proxmox.json: booleans as true/false where the others use 0/1.
# Fields whose recorded fixture is older than the behaviour the schema (and the lab) follow:
# - qemu `memory`: a string since qemu-server 8.0.8 (schema: string); the only fixture is an
#   older unit-test literal with an integer.
STALE_FIXTURE_FIELDS = {("qemu config", "memory"),
                        # null in the fixture (an unset option read back); the schema says string.
                        ("firewall", "nf_conntrack_helpers")}
# Fields real PVE sends that its schema leaves out, and optional fields it sends as null:
# - storage content `content`: pve-storage's Plugin.pm list_volumes sets it on every volume (the
#   PBS fixture has it too); `name`: RBDPlugin's rbd_ls; `parent`: rbd_ls sets it to undef (JSON
#   null) for an image that is no linked clone.
UNDECLARED_FIELDS = {("storage content", "content"), ("storage content", "name"),
                     # Sent by real PVE (the fixtures have them), missing from the schema's returns:
                     ("storage content", "subtype"), ("backup jobs", "type"), ("ha status", "comment"),
                     ("firewall", "digest"), ("firewall", "ipversion")}
NULL_FIELDS = {("storage content", "parent")}


# --- reference loading -------------------------------------------------------------------------------


@functools.cache
def schema_index() -> dict[str, Any]:
    text = (REF / "apidata.js").read_text(encoding="utf-8").strip()
    tree = json.loads(text.removeprefix("const apiSchema = ").removesuffix(";"))
    index: dict[str, Any] = {}

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            index[node["path"]] = node
            walk(node.get("children", []))

    walk(tree)
    return index


def returned_object(path: str) -> dict[str, Any]:
    """The schema of one returned object (the items of an array return)."""
    returns = schema_index()[path]["info"]["GET"]["returns"]
    return returns.get("items", returns) if returns.get("type") == "array" else returns


def fixture_data(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["data"]


def as_records(data: Any) -> list[Record]:
    return data if isinstance(data, list) else [data]


# --- the checks ---------------------------------------------------------------------------------------


def json_type(value: Any) -> str:
    for py, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                     (list, "array"), (dict, "object")):
        if isinstance(value, py):
            return name
    return "null"


def wire_types(schema_type: str) -> set[str]:
    """JSON types PVE puts on the wire for a schema type: booleans are 0/1 integers."""
    return {"boolean": {"integer"}, "number": {"integer", "number"}}.get(schema_type, {schema_type})


def schema_property(obj_schema: dict[str, Any], field: str) -> dict[str, Any] | None:
    props: dict[str, Any] = obj_schema.get("properties") or {}
    if field in props:
        return props[field]
    indexed = re.fullmatch(r"([a-z]+)\d+", field)  # net0 -> net[n], scsi0 -> scsi[n]
    return props.get(f"{indexed.group(1)}[n]") if indexed else None


def check_records(label: str, lab: list[Record], fixtures: list[Record], obj_schema: dict[str, Any], *,
                  fixture_fields_required: bool = True) -> int:
    """Assert the rules of the module docstring; return how many field values were compared.

    `fixture_fields_required=False` when the fixtures show another kind of record (their types
    still apply, but not which fields they all have)."""
    assert lab, f"{label}: the lab returned nothing to compare"
    fixture_types: dict[str, set[str]] = {}
    for rec in fixtures:
        for k, v in rec.items():
            fixture_types.setdefault(k, set()).add(json_type(v))
    has_props = bool(obj_schema.get("properties"))
    open_schema = bool(obj_schema.get("additionalProperties"))
    compared = 0
    for rec in lab:
        for field, value in rec.items():
            got = json_type(value)
            prop = schema_property(obj_schema, field)
            if value is None and (label, field) in NULL_FIELDS and prop is not None and prop.get("optional"):
                compared += 1
                continue
            if prop is not None:
                assert got in wire_types(prop.get("type", got)), f"{label}.{field}: {got}, schema {prop['type']}"
                if prop.get("type") == "boolean":
                    assert value in (0, 1), f"{label}.{field}: boolean {value!r} is not 0/1"
            elif has_props:
                declared = open_schema or (label, field) in UNDECLARED_FIELDS
                assert declared, f"{label}.{field}: not declared in the schema"
            if not has_props:
                assert field in fixture_types, f"{label}.{field}: in no fixture (and the schema lists nothing)"
            if field in fixture_types and (label, field) not in STALE_FIXTURE_FIELDS:
                allowed = fixture_types[field] | ({"integer"} if "number" in fixture_types[field] else set())
                assert got in allowed, f"{label}.{field}: {got}, fixtures use {sorted(fixture_types[field])}"
            compared += 1
    required = {k for k, p in (obj_schema.get("properties") or {}).items() if not p.get("optional")}
    always = set.intersection(*(set(r) for r in fixtures)) if len(fixtures) > 1 and fixture_fields_required else set()
    for rec in lab:
        missing = (required | always) - set(rec)
        assert not missing, f"{label}: {rec.get('id', '')} lacks {sorted(missing)}"
    return compared


def lab_get(path: str, token: LabToken = EVIDENCE, **query: str) -> Any:
    headers = {"Authorization": f"PVEAPIToken={token.full_id}={token.secret}"}
    world = WORLD if token in WORLD.tokens else dataclasses.replace(WORLD, tokens=(*WORLD.tokens, token))
    r = PveApi(world).handle("GET", "/api2/json" + path, query, headers)
    assert r.status == 200, (path, r.status, r.reason)
    envelope = json.loads(r.body)
    assert set(envelope) == {"data"}
    return envelope["data"]


def fixtures_of(*names: str, keep: Callable[[Record], bool] = lambda r: True) -> list[Record]:
    return [r for n in names for r in as_records(fixture_data(n)) if keep(r)]


def guests_only(rec: Record) -> bool:
    return rec.get("type") in ("qemu", "lxc")


# --- per endpoint -------------------------------------------------------------------------------------


def test_version() -> None:
    lab = [lab_get("/version")]
    assert check_records("version", lab, fixtures_of("version__bpg-pve9.json", "version__proxmoxer.json"),
                         returned_object("/version")) == 3
    assert set(lab[0]) == set(fixture_data("version__bpg-pve9.json"))


@pytest.mark.parametrize("kind", ["cluster", "node"])
def test_cluster_status(kind: str) -> None:
    lab = [e for e in lab_get("/cluster/status") if e["type"] == kind]
    fixtures = fixtures_of("cluster_status__go-proxmox.json", "cluster_status__community-proxmox-inventory.json",
                           keep=lambda r: r["type"] == kind)
    check_records("cluster status", lab, fixtures, returned_object("/cluster/status"))
    assert all(set(e) == set(fixtures[0]) for e in lab)  # exactly the fixture's fields


def test_cluster_resources_vm() -> None:
    lab = lab_get("/cluster/resources", type="vm")
    fixtures = fixtures_of("cluster_resources_type_vm__community-proxmox-vm_info.json",
                           "cluster_resources_type_vm__community-proxmox-backup_info.json",
                           "cluster_resources__go-proxmox.json", keep=guests_only)
    check_records("cluster resources", lab, fixtures, returned_object("/cluster/resources"))
    assert {"tags", "pool"} <= set().union(*lab)  # the optional fields do get exercised


@pytest.mark.parametrize("kind", ["node", "storage"])
def test_cluster_resources_other_types(kind: str) -> None:
    lab = lab_get("/cluster/resources", type=kind)
    fixtures = fixtures_of("cluster_resources__go-proxmox.json", keep=lambda r: r["type"] == kind)
    check_records("cluster resources", lab, fixtures, returned_object("/cluster/resources"))


def test_cluster_resources_pool_entries() -> None:
    lab = [e for e in lab_get("/cluster/resources") if e["type"] == "pool"]
    # No fixture has pool entries; the schema describes them ('pool' is for types pool, qemu, lxc).
    assert check_records("cluster resources", lab, [], returned_object("/cluster/resources")) == 3 * len(lab)


def test_pools_list() -> None:
    lab = lab_get("/pools")
    fixtures = fixtures_of("pools__go-proxmox.json", "pools__community-proxmox-inventory.json")
    check_records("pools", lab, fixtures, returned_object("/pools"))


def test_pools_with_poolid() -> None:
    lab = lab_get("/pools", poolid="acme")
    fixture_files = ("pools_poolid_query__go-proxmox.json", "pools__community-proxmox-inventory.json")
    check_records("pools", lab, fixtures_of(*fixture_files), returned_object("/pools"))
    members_schema = returned_object("/pools")["properties"]["members"]["items"]
    assert members_schema.get("additionalProperties")  # the schema lists only id/node/type/vmid/storage
    fixture_members = [m for p in fixtures_of(*fixture_files) for m in p["members"] if guests_only(m)]
    compared = check_records("pool members", lab[0]["members"], fixture_members, members_schema)
    assert compared >= 2 * 15


def test_qemu_config() -> None:
    lab = [lab_get(f"/nodes/{g.node}/qemu/{g.vmid}/config") for g in WORLD.guests if g.type == "qemu"]
    fixtures = fixtures_of("nodes_node_qemu_vmid_config_tags_firewall_nic__community-proxmox.json")
    check_records("qemu config", lab, fixtures, returned_object("/nodes/{node}/qemu/{vmid}/config"))
    assert any("template" in c for c in lab) and all(isinstance(c["memory"], str) for c in lab)


def test_lxc_config() -> None:
    lab = [lab_get(f"/nodes/{g.node}/lxc/{g.vmid}/config") for g in WORLD.guests if g.type == "lxc"]
    fixtures = fixtures_of("nodes_node_lxc_vmid_config__go-proxmox.json")
    check_records("lxc config", lab, fixtures, returned_object("/nodes/{node}/lxc/{vmid}/config"))


def test_nodes_index() -> None:
    # No fixture; the schema leaves out id/type, which PVE's extract_node_stats does send (so does the lab).
    lab = lab_get("/nodes")
    schema = returned_object("/nodes")
    check_records("nodes", [{k: v for k, v in e.items() if k not in ("id", "type")} for e in lab], [], schema)


STORAGE_CONTENT_FIXTURES = ("nodes_node_storage_storage_content__go-proxmox-handwritten.json",
                            "nodes_node_storage_storage_content_backup_pbs__community-proxmox.json")


def test_storage_content_files() -> None:
    lab = lab_get("/nodes/pve1/storage/local/content")
    assert {v["content"] for v in lab} == {"iso", "vztmpl"}
    fixtures = fixtures_of(*STORAGE_CONTENT_FIXTURES)
    check_records("storage content", lab, fixtures, returned_object("/nodes/{node}/storage/{storage}/content"))
    # The go-proxmox mock's iso/vztmpl entries carry exactly these fields, plus the `content` PVE adds.
    iso_like = fixtures_of(STORAGE_CONTENT_FIXTURES[0], keep=lambda r: "vmid" not in r)
    assert all(set(v) == set(iso_like[0]) | {"content"} for v in lab)


def test_storage_content_images() -> None:
    lab = lab_get("/nodes/pve2/storage/ceph-vm/content", STORAGE_ADMIN)
    on_ceph = [g for g in WORLD.guests if g.disk_storage == "ceph-vm"]
    assert {v["content"] for v in lab} == {"images", "rootdir"} and len(lab) == len(on_ceph)
    # No fixture lists disk images; the file fixtures still fix the types (vmid, size: integers).
    # RBD images have no ctime, so the fields every fixture record has are not required here.
    compared = check_records("storage content", lab, fixtures_of(*STORAGE_CONTENT_FIXTURES),
                             returned_object("/nodes/{node}/storage/{storage}/content"),
                             fixture_fields_required=False)
    assert compared == 7 * len(lab)
    for bad in (lab[0] | {"vmid": str(lab[0]["vmid"])}, lab[0] | {"size": None}, lab[0] | {"subvol": 1}):
        with pytest.raises(AssertionError):
            check_records("storage content", [bad], fixtures_of(*STORAGE_CONTENT_FIXTURES),
                          returned_object("/nodes/{node}/storage/{storage}/content"), fixture_fields_required=False)


def test_access_permissions() -> None:
    assert not returned_object("/access/permissions").get("properties")  # fixtures are the reference
    names = ("access_permissions__go-proxmox.json", "access_permissions__community-proxmox-backup.json")
    known_privs = {p for n in names for privs in fixture_data(n).values() for p in privs}
    lab = lab_get("/access/permissions")
    assert {"/", "/vms", "/pool", "/storage"} <= set(lab)
    for path, privs in lab.items():
        assert path.startswith("/") and isinstance(privs, dict) and privs
        assert set(privs) <= known_privs, f"{path}: unknown privileges {set(privs) - known_privs}"
        assert all(json_type(v) == "integer" and v in (0, 1) for v in privs.values())


# --- the checker itself can fail ------------------------------------------------------------------------


def _violations(records: Iterable[Record]) -> list[str]:
    fixtures = fixtures_of("cluster_resources__go-proxmox.json", keep=guests_only)
    failures = []
    for rec in records:
        try:
            check_records("cluster resources", [rec], fixtures, returned_object("/cluster/resources"))
        except AssertionError as e:
            failures.append(str(e))
    return failures


def test_checker_rejects_wrong_shapes() -> None:
    good = lab_get("/cluster/resources", type="vm")[0]
    bad = [good | {"vmid": str(good["vmid"])}, good | {"template": False}, good | {"tags": ["a", "b"]},
           good | {"hostname": "x"}, {k: v for k, v in good.items() if k != "maxmem"}, good | {"name": None}]
    assert _violations([good]) == []
    assert len(_violations(bad)) == len(bad)


# --- issue 3: HA, backups, tasks, firewall, storage config, PBS --------------------------------------

HA_NOW = 1795680000  # 2026-11-26 08:00 UTC
# Where the schema lists (almost) nothing, only the fixtures' types are checked, not their field set.
OPEN_SCHEMA: dict[str, Any] = {"properties": {"digest": {"type": "string", "optional": 1}}, "additionalProperties": 1}
HA_WORLD = dataclasses.replace(demo_world(now=HA_NOW), tokens=WORLD.tokens)


def world_get(world: Any, path: str, **query: str) -> Any:
    headers = {"Authorization": f"PVEAPIToken={EVIDENCE.full_id}={EVIDENCE.secret}"}
    r = PveApi(world).handle("GET", "/api2/json" + path, query, headers)
    assert r.status == 200, (path, r.status, r.reason)
    return json.loads(r.body)["data"]


@pytest.mark.parametrize("kind", ["quorum", "master", "fencing", "lrm", "service"])
def test_ha_status_current(kind: str) -> None:
    lab = [e for e in world_get(HA_WORLD, "/cluster/ha/status/current") if e["type"] == kind]
    fixtures = fixtures_of("cluster_ha_status_current__captured-pve9.json", keep=lambda r: r["type"] == kind)
    check_records("ha status", lab, fixtures, returned_object("/cluster/ha/status/current"),
                  fixture_fields_required=kind != "service")


def test_ha_resources_and_rules() -> None:
    check_records("ha resources", world_get(HA_WORLD, "/cluster/ha/resources"),
                  fixtures_of("cluster_ha_resources__go-proxmox-handwritten.json"),
                  returned_object("/cluster/ha/resources/{sid}"), fixture_fields_required=False)
    check_records("ha rules", world_get(HA_WORLD, "/cluster/ha/rules"),
                  fixtures_of("cluster_ha_rules__community-proxmox.json"),
                  OPEN_SCHEMA, fixture_fields_required=False)
    pve8 = dataclasses.replace(demo_world(now=HA_NOW, pve_major=8), tokens=WORLD.tokens)
    check_records("ha groups", world_get(pve8, "/cluster/ha/groups"),
                  fixtures_of("cluster_ha_groups_group__go-proxmox-handwritten.json"), OPEN_SCHEMA,
                  fixture_fields_required=False)


def test_cluster_backup_jobs() -> None:
    lab = world_get(HA_WORLD, "/cluster/backup")
    fixtures = fixtures_of("cluster_backup__community-proxmox-backup_info.json",
                           "cluster_backup__community-proxmox-backup_schedule.json")
    schema = returned_object("/cluster/backup")
    # prune-backups: an object in the schema; the lab also serves the string form on purpose.
    objects = [{k: v for k, v in j.items() if not (k == "prune-backups" and isinstance(v, str))} for j in lab]
    check_records("backup jobs", objects, fixtures, schema, fixture_fields_required=False)
    check_records("not backed up", world_get(HA_WORLD, "/cluster/backup-info/not-backed-up"),
                  fixtures_of("cluster_backup-info_not-backed-up__go-proxmox-handwritten.json"),
                  returned_object("/cluster/backup-info/not-backed-up"))


def test_pbs_backup_volumes() -> None:
    lab = world_get(HA_WORLD, "/nodes/pve1/storage/pbs-main/content", content="backup")
    fixtures = fixtures_of("nodes_node_storage_storage_content_backup_pbs__community-proxmox.json")
    check_records("storage content", lab, fixtures, returned_object("/nodes/{node}/storage/{storage}/content"))


def test_tasks_status_and_log() -> None:
    tasks = world_get(HA_WORLD, "/nodes/pve2/tasks", typefilter="vzdump")
    check_records("tasks", tasks, fixtures_of("nodes_node_tasks__community-proxmox.json"),
                  returned_object("/nodes/{node}/tasks"))
    upid = tasks[0]["upid"]
    status = world_get(HA_WORLD, f"/nodes/pve2/tasks/{upid}/status")
    check_records("task status", [status],
                  fixtures_of("nodes_node_tasks_upid_status__vzdump__community-proxmox.json"),
                  returned_object("/nodes/{node}/tasks/{upid}/status"))
    log = world_get(HA_WORLD, f"/nodes/pve2/tasks/{upid}/log")
    check_records("task log", log, fixtures_of("nodes_node_tasks_upid_log__vzdump__community-proxmox.json"), {})


@pytest.mark.parametrize(("path", "fixture", "schema_path"), [
    ("/cluster/firewall/options", "cluster_firewall_options__community-proxmox.json", "/cluster/firewall/options"),
    ("/cluster/firewall/rules", "cluster_firewall_rules__community-proxmox.json", "/cluster/firewall/rules"),
    ("/cluster/firewall/groups", "cluster_firewall_groups__community-proxmox.json", "/cluster/firewall/groups"),
    ("/cluster/firewall/ipset", "cluster_firewall_ipset__community-proxmox.json", "/cluster/firewall/ipset"),
    ("/cluster/firewall/ipset/management", "cluster_firewall_ipset_name__community-proxmox.json",
     "/cluster/firewall/ipset/{name}"),
    ("/cluster/firewall/aliases", "cluster_firewall_aliases__community-proxmox.json", "/cluster/firewall/aliases"),
    ("/cluster/firewall/refs", "cluster_firewall_refs__go-proxmox-handwritten.json", "/cluster/firewall/refs"),
    ("/nodes/pve1/firewall/options", "nodes_node_firewall_options__community-proxmox.json",
     "/nodes/{node}/firewall/options"),
    ("/nodes/pve1/qemu/101/firewall/options", "nodes_node_qemu_vmid_firewall_options__go-proxmox-handwritten.json",
     "/nodes/{node}/qemu/{vmid}/firewall/options"),
    ("/nodes/pve1/qemu/101/firewall/rules", "nodes_node_qemu_vmid_firewall_rules__go-proxmox-handwritten.json",
     "/nodes/{node}/qemu/{vmid}/firewall/rules"),
    ("/nodes/pve1/qemu/101/firewall/ipset", "nodes_node_qemu_vmid_firewall_ipset__go-proxmox-handwritten.json",
     "/nodes/{node}/qemu/{vmid}/firewall/ipset"),
    ("/nodes/pve1/qemu/101/firewall/refs", "nodes_node_qemu_vmid_firewall_refs__go-proxmox-handwritten.json",
     "/nodes/{node}/qemu/{vmid}/firewall/refs"),
])
def test_firewall(path: str, fixture: str, schema_path: str) -> None:
    check_records("firewall", as_records(world_get(HA_WORLD, path)), fixtures_of(fixture),
                  returned_object(schema_path), fixture_fields_required=False)


def test_storage_config() -> None:
    lab = world_get(HA_WORLD, "/storage")
    fixtures = fixtures_of("storage_config_pbs_and_zfs__community-proxmox.json")
    check_records("storage config", lab, fixtures, OPEN_SCHEMA, fixture_fields_required=False)
    pbs = next(s for s in lab if s["type"] == "pbs")
    assert set(next(f for f in fixtures if f["type"] == "pbs")) - {"prune-backups"} <= set(pbs)


def test_pbs_snapshots() -> None:
    from attest.lab.pbs_api import PbsApi

    assert HA_WORLD.pbs is not None
    token = HA_WORLD.pbs.tokens[0]
    r = PbsApi(HA_WORLD).handle("GET", "/api2/json/admin/datastore/store1/snapshots", {},
                                {"Authorization": f"PBSAPIToken={token.full_id}:{token.secret}"})
    lab = json.loads(r.body)["data"]
    fixtures = fixtures_of("pbs_admin_datastore_store_snapshots__captured-single.json")
    check_records("pbs snapshots", lab, fixtures, OPEN_SCHEMA)
    files_fixture = json.loads((FIXTURES / "pbs_snapshot_list_cli__checkmk-example.json").read_text())
    check_records("pbs snapshot files", lab[0]["files"], files_fixture[0]["files"], {},
                  fixture_fields_required=False)
