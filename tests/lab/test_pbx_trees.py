"""The synthetic Asterisk/FreePBX dumps of `attest.lab.pbx_trees`: files, inventory, referential
integrity (`#include`, `include =>`, endpoint → aor/auth/context), CDR shape, the seed scenario's
properties, the isolated design's properties and the size/speed of the big trees.

Parsing here is deliberately minimal (regexes); the real reader lives elsewhere."""

from __future__ import annotations

import csv
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from attest.lab.pbx_trees import (
    big_tenants,
    extension_patterns,
    write_dedicated_tree,
    write_freepbx_big_tree,
    write_isolated_big_tree,
    write_isolated_tree,
    write_leaky_tree,
)

_SECTION = re.compile(r"^\[([^\]]+)\](?:\(([^)]*)\))?")
_FILE_INCLUDE = re.compile(r'^#include\s+"?([^"\s]+)"?')
_COMMENT = re.compile(r"(?<!\\);.*$")


@dataclass
class Conf:
    """One top-level config file with its #includes spliced in: (section, key, value) in load order."""

    items: list[tuple[str | None, str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def sections(self) -> dict[str, list[dict[str, list[str]]]]:
        """name → list of option maps (pjsip reuses a name for different types)."""
        out: dict[str, list[dict[str, list[str]]]] = defaultdict(list)
        current: dict[str, list[str]] | None = None
        last: str | None = None
        for section, key, value in self.items:
            if key == "[":
                current = {}
                out[value].append(current)
                last = value
                continue
            assert section is not None and section == last, f"option {key} outside a section"
            assert current is not None
            current.setdefault(key, []).append(value)
        return out


def read_conf(etc: Path, name: str) -> Conf:
    conf = Conf()

    def walk(path: Path, section: str | None) -> str | None:
        assert path.is_file(), f"#include target missing: {path}"
        conf.files.append(path)
        for raw in path.read_text("utf-8").splitlines():
            line = _COMMENT.sub("", raw).strip()
            if not line:
                continue
            if m := _FILE_INCLUDE.match(line):
                target = Path(m.group(1))
                section = walk(target if target.is_absolute() else etc / target, section)
                continue
            if m := _SECTION.match(line):
                section = m.group(1)
                conf.items.append((section, "[", section))
                continue
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not key=value: {raw!r}"
            conf.items.append((section, key.strip(), value.lstrip(">").strip()))
        return section

    walk(etc / name, None)
    return conf


@lru_cache(maxsize=16)
def pjsip_objects(etc: Path) -> dict[str, dict[str, dict[str, list[str]]]]:
    """type → name → options (cached per tree: treat as read-only)."""
    out: dict[str, dict[str, dict[str, list[str]]]] = defaultdict(dict)
    for name, bodies in read_conf(etc, "pjsip.conf").sections().items():
        for body in bodies:
            (kind,) = body["type"]
            assert name not in out[kind], f"duplicate pjsip {kind} {name}"
            out[kind][name] = body
    return out


@lru_cache(maxsize=16)
def dialplan(etc: Path) -> dict[str, list[tuple[str, str]]]:
    """context → [(key, value)] over extensions.conf and its #includes (cached: read-only)."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for section, key, value in read_conf(etc, "extensions.conf").items:
        if key != "[" and section is not None:
            out[section].append((key, value))
        elif key == "[":
            out.setdefault(value, [])
    return out


def parking_contexts(etc: Path) -> dict[str, str]:
    """lot → context (res_parking creates these contexts at load time)."""
    if not (etc / "res_parking.conf").exists():
        return {}
    lots = read_conf(etc, "res_parking.conf").sections()
    return {name: bodies[-1]["context"][0] for name, bodies in lots.items() if "context" in bodies[-1]}


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("_"):
        return re.compile(re.escape(pattern))
    out = []
    body = pattern[1:]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "X":
            out.append("[0-9]")
        elif ch == "Z":
            out.append("[1-9]")
        elif ch == "N":
            out.append("[2-9]")
        elif ch == ".":
            out.append(".+")
        elif ch == "!":
            out.append(".*")
        elif ch == "[":
            j = body.index("]", i)
            out.append(body[i:j + 1])
            i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out))


def closure(plan: dict[str, list[tuple[str, str]]], start: str) -> list[str]:
    seen: list[str] = []
    todo = [start]
    while todo:
        ctx = todo.pop(0)
        if ctx in seen:
            continue
        seen.append(ctx)
        todo += [v.split(",")[0].strip() for k, v in plan.get(ctx, []) if k == "include"]
    return seen


def dialable(plan: dict[str, list[tuple[str, str]]], start: str, number: str) -> bool:
    """Does `number` exist at priority 1 in the closure of `start` (dialplan contexts only)?"""
    for ctx in closure(plan, start):
        for key, value in plan.get(ctx, []):
            if key != "exten":
                continue
            ext, prio = value.split(",")[:2]
            if prio == "1" and _pattern_regex(ext).fullmatch(number):
                return True
    return False


def hints(plan: dict[str, list[tuple[str, str]]], ctx: str) -> dict[str, str]:
    return {v.split(",")[0]: v.split(",", 2)[2] for k, v in plan.get(ctx, []) if k == "exten"
            and v.split(",")[1] == "hint"}


def cdr_rows(root: Path) -> list[list[str]]:
    with (root / "var/log/asterisk/cdr-csv/Master.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def inventory(root: Path) -> dict[str, tuple[int, int]]:
    doc = yaml.safe_load((root / "inventory.yaml").read_text("utf-8"))
    out = {}
    for tid, spec in doc["tenants"].items():
        a, b = str(spec["extensions"]).split("-")
        out[tid] = (int(a), int(b))
    return out


# --------------------------------------------------------------------------- scenarios

SMALL = {"x": (10, 19), "y": (20, 29)}

SCENARIOS: dict[str, tuple[Callable[[Path], Path], dict[str, tuple[int, int]]]] = {
    "leaky": (write_leaky_tree, SMALL),
    "isolated": (write_isolated_tree, SMALL),
    "dedicated": (write_dedicated_tree, {"acme": (100, 119)}),
    "freepbx_big": (write_freepbx_big_tree, big_tenants(50, 100, 1000)),
    "isolated_big": (write_isolated_big_tree, big_tenants(50, 100, 1000)),
}

PRESENT: dict[str, set[str]] = {
    "leaky": {"etc/asterisk/pjsip.conf", "etc/asterisk/pjsip.endpoint.conf", "etc/asterisk/pjsip.aor.conf",
              "etc/asterisk/pjsip.auth.conf", "etc/asterisk/extensions.conf", "etc/asterisk/features.conf",
              "var/log/asterisk/cdr-csv/Master.csv", "etc/hostname", "inventory.yaml"},
    "isolated": {"etc/asterisk/pjsip.conf", "etc/asterisk/pjsip_x.conf", "etc/asterisk/pjsip_y.conf",
                 "etc/asterisk/acl.conf", "etc/asterisk/extensions.conf", "etc/asterisk/extensions_x.conf",
                 "etc/asterisk/voicemail.conf", "etc/asterisk/res_parking.conf", "etc/asterisk/modules.conf",
                 "etc/asterisk/cdr_adaptive_odbc.conf", "etc/asterisk/cel.conf", "etc/asterisk/manager.conf",
                 "etc/asterisk/ari.conf", "etc/asterisk/http.conf", "etc/asterisk/logger.conf",
                 "etc/asterisk/features.conf", "etc/fail2ban/jail.local", "etc/hostname", "inventory.yaml"},
    "dedicated": {"etc/asterisk/pjsip.conf", "etc/asterisk/extensions.conf", "etc/asterisk/extensions_additional.conf",
                  "etc/asterisk/voicemail.conf", "etc/asterisk/manager.conf", "etc/asterisk/logger.conf",
                  "etc/asterisk/res_parking_additional.conf", "etc/asterisk/features_general_additional.conf",
                  "etc/asterisk/freepbx-id", "etc/fail2ban/jail.local", "var/log/asterisk/cdr-csv/Master.csv",
                  "etc/hostname", "inventory.yaml"},
    "freepbx_big": {"etc/asterisk/pjsip.endpoint.conf", "etc/asterisk/extensions_additional.conf",
                    "etc/asterisk/voicemail.conf", "etc/asterisk/manager.conf",
                    "etc/asterisk/features_general_additional.conf", "var/log/asterisk/cdr-csv/Master.csv"},
    "isolated_big": {"etc/asterisk/pjsip_t01.conf", "etc/asterisk/pjsip_t50.conf", "etc/asterisk/extensions_t50.conf",
                     "etc/fail2ban/jail.local"},
}

ABSENT: dict[str, set[str]] = {
    "leaky": {"etc/asterisk/manager.conf", "etc/asterisk/ari.conf", "etc/asterisk/voicemail.conf",
              "etc/asterisk/res_parking.conf", "etc/asterisk/cdr.conf", "etc/asterisk/logger.conf",
              "etc/asterisk/acl.conf", "etc/fail2ban", "etc/asterisk/freepbx-id"},
    "isolated": {"var/log/asterisk/cdr-csv/Master.csv", "etc/asterisk/freepbx-id"},
    "dedicated": set(),
    "freepbx_big": {"etc/asterisk/freepbx-id"},
    "isolated_big": {"var/log/asterisk/cdr-csv/Master.csv"},
}


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pbx")
    return {name: writer(base / name) for name, (writer, _t) in SCENARIOS.items()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_expected_files(trees: dict[str, Path], name: str) -> None:
    root = trees[name]
    for rel in PRESENT[name]:
        assert (root / rel).is_file(), rel
    for rel in ABSENT[name]:
        assert not (root / rel).exists(), rel
    assert (root / "etc/hostname").read_text("utf-8").strip()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_files_are_utf8_with_lf(trees: dict[str, Path], name: str) -> None:
    for path in trees[name].rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"\r" not in data, path
            data.decode("utf-8")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_inventory_parses_to_tenants(trees: dict[str, Path], name: str) -> None:
    assert inventory(trees[name]) == SCENARIOS[name][1]
    for tid in SCENARIOS[name][1]:
        assert re.fullmatch(r"[a-z0-9_-]+", tid)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_file_include_exists(trees: dict[str, Path], name: str) -> None:
    etc = trees[name] / "etc/asterisk"
    count = 0
    for path in etc.glob("*.conf"):
        for line in path.read_text("utf-8").splitlines():
            if m := _FILE_INCLUDE.match(line.strip()):
                assert (etc / m.group(1)).is_file(), f"{path.name}: #include {m.group(1)}"
                count += 1
    assert count > 0
    # every file is loaded from some top-level file (nothing orphaned but the top-level ones)
    loaded: set[Path] = set()
    for top in ("pjsip.conf", "extensions.conf", "features.conf", "res_parking.conf", "logger.conf",
                "manager.conf", "res_odbc.conf"):
        if (etc / top).exists():
            loaded |= set(read_conf(etc, top).files)
    orphan = {p.name for p in etc.glob("*.conf") if "additional" in p.name or p.name.startswith(
        ("pjsip.", "pjsip_", "extensions_"))} - {p.name for p in loaded}
    assert not orphan


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_context_include_is_defined(trees: dict[str, Path], name: str) -> None:
    etc = trees[name] / "etc/asterisk"
    plan = dialplan(etc)
    defined = set(plan) | set(parking_contexts(etc).values())
    for ctx, lines in plan.items():
        for key, value in lines:
            if key == "include":
                target = value.split(",")[0].strip()
                assert target in defined, f"[{ctx}] include => {target}"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_endpoint_references_exist(trees: dict[str, Path], name: str) -> None:
    etc = trees[name] / "etc/asterisk"
    objs = pjsip_objects(etc)
    plan = dialplan(etc)
    assert objs["endpoint"]
    for ep, body in objs["endpoint"].items():
        for aor in ",".join(body.get("aors", [])).split(","):
            if aor:
                assert aor in objs["aor"], f"{ep}: aor {aor}"
        for key in ("auth", "outbound_auth"):
            for auth in body.get(key, []):
                assert auth in objs["auth"], f"{ep}: {key} {auth}"
        for key in ("context", "subscribe_context"):
            for ctx in body.get(key, []):
                assert ctx in plan, f"{ep}: {key} {ctx}"
        for tr in body.get("transport", []):
            assert tr in objs["transport"]
    for kind in ("identify", "registration"):
        for name_, body in objs.get(kind, {}).items():
            for ep in body.get("endpoint", []):
                assert ep in objs["endpoint"], f"{kind} {name_}"
            for auth in body.get("outbound_auth", []):
                assert auth in objs["auth"]
    # every inventory extension has an endpoint named after it
    for _tid, (a, b) in SCENARIOS[name][1].items():
        for n in range(a, b + 1):
            assert str(n) in objs["endpoint"]


@pytest.mark.parametrize("name", ["leaky", "dedicated", "freepbx_big"])
def test_master_csv_has_16_columns(trees: dict[str, Path], name: str) -> None:
    rows = cdr_rows(trees[name])
    assert rows and all(len(r) == 16 for r in rows)
    for r in rows:
        assert r[5].startswith("PJSIP/") and re.fullmatch(r"PJSIP/[\w-]+-[0-9a-f]{8}", r[5])
        assert r[14] in {"ANSWERED", "NO ANSWER", "BUSY"}
        assert int(r[12]) >= int(r[13]) >= 0
    # cdr_csv quotes strings, leaves duration/billsec bare
    first = (trees[name] / "var/log/asterisk/cdr-csv/Master.csv").read_text("utf-8").splitlines()[0]
    assert first.startswith('"') and re.search(r'",\d+,\d+,"', first)


def test_cdr_sizes_and_accountcodes(trees: dict[str, Path]) -> None:
    leaky = cdr_rows(trees["leaky"])
    assert 35 <= len(leaky) <= 45
    assert {r[0] for r in leaky} == {""}
    owners = {"x" if 10 <= int(r[5][6:].split("-")[0]) <= 19 else "y" for r in leaky}
    assert owners == {"x", "y"}
    dedicated = cdr_rows(trees["dedicated"])
    assert 15 <= len(dedicated) <= 25 and {r[0] for r in dedicated} == {"acme"}
    big = cdr_rows(trees["freepbx_big"])
    assert 2000 <= len(big) <= 5000 and {r[0] for r in big} == {""}


# --------------------------------------------------------------------------- the seed scenario


def test_leaky_matches_seed_scenario(trees: dict[str, Path]) -> None:
    root = trees["leaky"]
    etc = root / "etc/asterisk"
    objs = pjsip_objects(etc)
    users = objs["endpoint"]
    assert sorted(users, key=int) == [str(n) for n in range(10, 30)]
    for body in users.values():
        assert body["context"] == ["from-internal"]
        assert body["call_group"] == ["1"] and body["pickup_group"] == ["1"]
        assert body["auth"] == [f"{body['aors'][0]}-auth"]
    assert "global" in objs and "acl" not in objs
    for path in etc.iterdir():
        text = path.read_text("utf-8")
        assert not re.search(r"^\s*(acl|permit|deny|contact_acl|contact_permit|contact_deny)\s*=", text, re.M), path
    assert "#include pjsip.endpoint.conf" in (etc / "pjsip.conf").read_text("utf-8")

    plan = dialplan(etc)
    assert closure(plan, "from-internal") == ["from-internal", "ext-local", "app-pickup", "app-chanspy"]
    assert ("exten", "_1X,1,Set(__PICKUPMARK=${EXTEN})") in plan["ext-local"]
    assert ("exten", "_2X,1,Set(__PICKUPMARK=${EXTEN})") in plan["ext-local"]
    assert ("same", "n,Dial(PJSIP/${EXTEN},20)") in plan["ext-local"]
    assert hints(plan, "ext-local") == {"10": "PJSIP/10", "11": "PJSIP/11", "20": "PJSIP/20", "21": "PJSIP/21"}
    assert ("exten", "_**.,1,Pickup(${EXTEN:2}&${EXTEN:2}@PICKUPMARK)") in plan["app-pickup"]
    assert plan["app-chanspy"][:2] == [("exten", "555,1,Answer()"), ("same", "n,ChanSpy()")]
    assert dialable(plan, "from-internal", "20") and dialable(plan, "from-internal", "**20")
    assert dialable(plan, "from-internal", "555")
    features = read_conf(etc, "features.conf").sections()
    assert features["general"][0]["pickupexten"] == ["*8"]


def test_leaky_derives_patterns_from_ranges(tmp_path: Path) -> None:
    root = write_leaky_tree(tmp_path, {"alpha": (100, 119), "beta": (200, 209)})
    plan = dialplan(root / "etc/asterisk")
    heads = [v.split(",")[0] for k, v in plan["ext-local"] if k == "exten" and ",1," in v]
    assert heads == ["_10X", "_11X", "_20X"]
    assert set(hints(plan, "ext-local")) == {"100", "101", "200", "201"}
    assert inventory(root) == {"alpha": (100, 119), "beta": (200, 209)}


# --------------------------------------------------------------------------- the isolated design


@pytest.mark.parametrize("name", ["isolated", "isolated_big"])
def test_isolated_tenants_cannot_reach_each_other(trees: dict[str, Path], name: str) -> None:
    etc = trees[name] / "etc/asterisk"
    tenants = SCENARIOS[name][1]
    owner = {str(n): tid for tid, (a, b) in tenants.items() for n in range(a, b + 1)}
    objs = pjsip_objects(etc)
    plan = dialplan(etc)
    lots = parking_contexts(etc)
    acl = read_conf(etc, "acl.conf").sections()
    groups: dict[str, set[str]] = defaultdict(set)
    park_ctx: dict[str, set[str]] = defaultdict(set)
    for ep, body in objs["endpoint"].items():
        if ep == "trunk":
            assert objs["identify"]["trunk-identify"]["match"]
            continue
        tid = owner[ep]
        assert body["context"] == [f"{tid}-internal"] == body["subscribe_context"]
        assert f"SPYGROUP={tid}" in body["set_var"]
        assert f"CHANNEL(parkinglot)={tid}-lot" in body["set_var"]
        assert body["accountcode"] == [tid] and body["mailboxes"] == [f"{ep}@{tid}"]
        assert body["acl"] == [f"{tid}-phones"] and acl[f"{tid}-phones"][0]["deny"] == ["0.0.0.0/0.0.0.0"]
        groups[tid] |= set(body["call_group"]) | set(body["pickup_group"])
        park_ctx[tid].add(lots[f"{tid}-lot"])
    assert all(len(g) == 1 for g in groups.values())
    assert len({next(iter(g)) for g in groups.values()}) == len(tenants)  # distinct group per tenant
    assert len({next(iter(c)) for c in park_ctx.values()}) == len(tenants)
    assert "acl" in objs and objs["acl"]["global-acl"]["deny"] == ["0.0.0.0/0.0.0.0"]

    sample = list(tenants)[:3] + list(tenants)[-2:]
    for tid in sample:
        reach = closure(plan, f"{tid}-internal")
        assert "parkedcalls" not in reach
        for other, (a, b) in tenants.items():
            if other == tid:
                continue
            assert not dialable(plan, f"{tid}-internal", str(a))
            assert not dialable(plan, f"{tid}-internal", str(b))
            assert f"{other}-park" not in reach
            assert not any(set(hints(plan, ctx)) & {str(a), str(b)} for ctx in reach)
        a, b = tenants[tid]
        assert dialable(plan, f"{tid}-internal", str(a)) and dialable(plan, f"{tid}-internal", "0612345678")
        text = "\n".join(v for _k, v in plan[f"{tid}-features"])
        assert f"Pickup(${{EXTEN:2}}%{tid}-internal@PICKUPMARK)" in text
        assert f"555,1,ChanSpy(,qg({tid}))" in text
        assert f"VoiceMailMain(${{CALLERID(num)}}@{tid})" in text
        assert f"ConfBridge({tid}-room)" in text
        assert f"Set(__PICKUPMARK=${{EXTEN}}%{tid}-internal)" in "\n".join(v for _k, v in plan[f"{tid}-extens"])
    # the shared outbound context dials only the trunk
    outbound = [v for k, v in plan["outbound"] if "Dial(" in v]
    assert outbound == ["_0X.,1,Dial(PJSIP/${EXTEN}@trunk,60)"]


def test_isolated_side_files(trees: dict[str, Path]) -> None:
    etc = trees["isolated"] / "etc/asterisk"
    vm = read_conf(etc, "voicemail.conf").sections()
    assert set(vm["x"][0]) == {str(n) for n in range(10, 20)}
    assert set(vm["y"][0]) == {str(n) for n in range(20, 30)}
    assert vm["general"][0]["searchcontexts"] == ["no"]
    park = read_conf(etc, "res_parking.conf").sections()
    assert park["default"][0]["context"] == ["parkedcalls"]
    assert park["x-lot"][0]["parkext_exclusive"] == ["yes"] and park["x-lot"][0]["parkext"] == ["710"]
    assert park["y-lot"][0]["parkext"] == ["720"]
    assert "cdr_csv.so" in read_conf(etc, "modules.conf").sections()["modules"][0]["noload"]
    odbc = read_conf(etc, "cdr_adaptive_odbc.conf").sections()
    assert odbc["x"][0]["table"] == ["cdr_x"] and odbc["x"][0]["filter accountcode"] == ["x"]
    assert read_conf(etc, "cel.conf").sections()["general"][0]["enable"] == ["no"]
    mgr = read_conf(etc, "manager.conf").sections()
    assert mgr["general"][0]["bindaddr"] == ["127.0.0.1"]
    users = [u for u in mgr if u != "general"]
    assert len(users) == 1
    user = mgr[users[0]][0]
    assert user["deny"] == ["0.0.0.0/0.0.0.0"] and user["permit"] == ["127.0.0.1/255.255.255.255"]
    assert user["read"] == ["system"] and user["write"] == ["system"]
    assert read_conf(etc, "ari.conf").sections()["general"][0]["enabled"] == ["no"]
    assert read_conf(etc, "http.conf").sections()["general"][0]["bindaddr"] == ["127.0.0.1"]
    logfiles = read_conf(etc, "logger.conf").sections()["logfiles"][0]
    assert logfiles["security"] == ["security"] and logfiles["messages"] == ["notice,warning,error"]
    jail = (trees["isolated"] / "etc/fail2ban/jail.local").read_text("utf-8")
    assert re.search(r"^\[asterisk\]\nenabled\s*=\s*true\n(?:.*\n)*?logpath\s*=\s*/var/log/asterisk/security$",
                     jail, re.M)


# --------------------------------------------------------------------------- FreePBX trees


@pytest.mark.parametrize("name", ["dedicated", "freepbx_big"])
def test_freepbx_layout(trees: dict[str, Path], name: str) -> None:
    etc = trees[name] / "etc/asterisk"
    plan = dialplan(etc)
    reach = closure(plan, "from-internal")
    assert {"from-internal-noxfer", "from-internal-xfer", "from-internal-additional"} <= set(reach)
    for ctx in ("ext-local", "app-pickup", "app-chanspy", "park-hints", "parkedcalls", "ext-intercom-users",
                "app-vmmain", "app-dialvm", "ext-meetme", "outbound-allroutes", "outrt-1"):
        assert ctx in reach, ctx
    assert "ext-intercom" in plan and any(v.startswith("_*80.,1,") for _k, v in plan["ext-intercom"])
    first = next(iter(SCENARIOS[name][1].values()))[0]
    assert dialable(plan, "from-internal", f"*80{first}")  # ext-intercom-users → Goto(ext-intercom)
    local = [v for _k, v in plan["ext-local"] if v.startswith(f"{first},")]
    assert local == [
        f'{first},1,Set(__RINGTIMER=${{IF($["${{DB(AMPUSER/{first}/ringtimer)}}" > "0"]'
        f'?${{DB(AMPUSER/{first}/ringtimer)}}:${{RINGTIMER_DEFAULT}})}})',
        f"{first},n,Macro(exten-vm,{first},{first},0,0,0)",
        f"{first},n,Set(__PICKUPMARK={first})",
        f"{first},hint,PJSIP/{first}&Custom:DND{first},CustomPresence:{first}",
    ]
    assert any("Dial(${DSTRING},${ARG1},${D_OPTIONS})" in v for _k, v in plan["macro-dial-one"])
    assert ("exten", "555,n,ChanSpy()") in plan["app-chanspy"]
    assert ("exten", "_**.,n,Pickup(${EXTEN:2}&${EXTEN:2}@PICKUPMARK)") in plan["app-pickup"]
    assert parking_contexts(etc) == {"default": "parkedcalls"}
    assert "pickupexten=*8" in (etc / "features_general_additional.conf").read_text("utf-8")
    mgr = read_conf(etc, "manager.conf").sections()
    assert mgr["general"][0]["bindaddr"] == ["0.0.0.0"]
    assert mgr["admin"][0]["permit"] == ["127.0.0.1/255.255.255.0"]
    vm = read_conf(etc, "voicemail.conf").sections()
    count = sum(b - a + 1 for a, b in SCENARIOS[name][1].values())
    assert len(vm["default"][0]) == count


def test_dedicated_specifics(trees: dict[str, Path]) -> None:
    root = trees["dedicated"]
    etc = root / "etc/asterisk"
    objs = pjsip_objects(etc)
    for n in range(100, 120):
        body = objs["endpoint"][str(n)]
        assert body["deny"] == ["0.0.0.0/0.0.0.0"] and body["permit"]
        assert body["accountcode"] == ["acme"] and body["context"] == ["from-internal"]
    assert objs["identify"]["carrier"]["match"]
    assert len((etc / "freepbx-id").read_bytes()) == 36
    assert read_conf(etc, "logger.conf").sections()["logfiles"][0]["security"] == ["security"]
    assert "logpath  = /var/log/asterisk/security" in (root / "etc/fail2ban/jail.local").read_text("utf-8")


def test_secrets_are_where_real_systems_keep_them(trees: dict[str, Path]) -> None:
    for name in SCENARIOS:
        objs = pjsip_objects(trees[name] / "etc/asterisk")
        assert all(len(body["password"][0]) >= 12 for body in objs["auth"].values())
    for name in ("isolated", "dedicated"):
        etc = trees[name] / "etc/asterisk"
        mgr = read_conf(etc, "manager.conf").sections()
        assert all(len(b[0]["secret"][0]) >= 12 for u, b in mgr.items() if u != "general")
        vm = read_conf(etc, "voicemail.conf").sections()
        boxes = [v[0] for ctx, b in vm.items() if ctx not in {"general", "zonemessages", "pbxaliases"}
                 for v in b[0].values()]
        assert boxes and all(re.fullmatch(r"\d{6},[^,]+,\S+@\S+.*", v) for v in boxes)


# --------------------------------------------------------------------------- size, speed, determinism


@pytest.mark.parametrize("name", ["freepbx_big", "isolated_big"])
def test_big_trees_have_5000_endpoints(trees: dict[str, Path], name: str) -> None:
    etc = trees[name] / "etc/asterisk"
    objs = pjsip_objects(etc)
    users = [ep for ep in objs["endpoint"] if ep.isdigit()]
    assert len(users) == 5000
    assert len(objs["aor"]) >= 5000 and len(objs["auth"]) >= 5000
    assert len(inventory(trees[name])) == 50
    assert list(inventory(trees[name]))[:2] == ["t01", "t02"]
    assert inventory(trees[name])["t50"] == (5900, 5999)


@pytest.mark.parametrize("writer", [write_freepbx_big_tree, write_isolated_big_tree])
def test_big_trees_are_fast(tmp_path: Path, writer: Callable[[Path], Path]) -> None:
    started = time.perf_counter()
    writer(tmp_path)
    assert time.perf_counter() - started < 2.0


def test_deterministic(tmp_path: Path) -> None:
    for writer in (write_leaky_tree, write_isolated_tree, write_dedicated_tree):
        a = writer(tmp_path / "a" / writer.__name__)
        b = writer(tmp_path / "b" / writer.__name__)
        files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
        assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
        for rel in files_a:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_rejects_bad_tenants(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_leaky_tree(tmp_path, {"Tenant X": (10, 19)})
    with pytest.raises(ValueError):
        write_isolated_tree(tmp_path, {"x": (10, 19), "y": (15, 29)})
    with pytest.raises(ValueError):
        write_dedicated_tree(tmp_path, {"acme": (120, 100)})


def test_extension_patterns() -> None:
    assert extension_patterns(10, 19) == ["_1X"]
    assert extension_patterns(10, 29, max_wild=1) == ["_1X", "_2X"]
    assert extension_patterns(1000, 1099) == ["_10XX"]
    assert extension_patterns(100, 119) == ["_10X", "_11X"]
    assert extension_patterns(5, 12) == ["5", "6", "7", "8", "9", "10", "11", "12"]
    assert extension_patterns(0, 9) == ["_X"]
    assert extension_patterns(98, 101) == ["98", "99", "100", "101"]
    covered = {n for n in range(0, 3000)
               if any(_pattern_regex(p).fullmatch(str(n)) for p in extension_patterns(995, 2013))}
    assert covered == set(range(995, 2014))
