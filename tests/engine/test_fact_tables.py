"""Each infrastructure control shows the tenant's own facts as bilingual tables (the data behind
the findings), bounded in size, with language-neutral cells, and never another tenant's guest."""

from __future__ import annotations

from datetime import UTC, datetime

from attest.attestation import FactTable, Result
from tests.engine.builder import Scenario, judge
from tests.engine.test_infra_controls import CONTROLS, _text, world

LABEL = "VM 101 'pbx-acme-01'"


def _table(result: Result, title_start: str) -> FactTable:
    found = [t for t in result.tables if t.title["en"].startswith(title_start)]
    assert found, (result.control_id, [t.title["en"] for t in result.tables])
    return found[0]


def _rows(table: FactTable) -> list[dict[str, str]]:
    names = [c["en"] for c in table.columns]
    return [dict(zip(names, row, strict=True)) for row in table.rows]


def test_every_control_emits_bilingual_tables_of_the_tenants_own_facts(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    world(log, signer)
    for control in CONTROLS:
        for tenant, own, other in (("acme", "101", ("103", "bellini")), ("bellini", "103", ("101", "acme"))):
            result = judge(config, log, signer, control)[tenant]
            assert result.tables, control
            for table in result.tables:
                assert table.title["en"] != table.title["it"], (control, table.title)
                assert all(c["en"] and c["it"] for c in table.columns), control
                assert all(len(row) == len(table.columns) for row in table.rows), control
            said = _text(result).lower()
            assert not [o for o in other if o in said], (control, tenant)
            if control not in ("BK-04",):  # BK-04's sync jobs copy a whole datastore, not one guest
                assert own in said, (control, tenant)


def test_place_table_lists_each_node_with_its_site_and_certificate(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    world(log, signer)
    rows = _rows(_table(judge(config, log, signer, "PLACE-01")["acme"], "Where the instances run"))
    assert [(r["Node"], r["Runs there now"]) for r in rows] == [("pve1", "✓"), ("pve2", "—")]
    assert rows[0]["Site"] == "Milano DC1" and rows[0]["Country"] == "IT"
    assert (rows[0]["Number"], rows[0]["Expires"], rows[0]["Document on record"]) == ("IT-27001-1", "2031-06-30", "✓")


def test_place_table_shows_a_missing_certificate_document(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    from tests.engine.builder import AS_OF, collect

    collect(log, signer, Scenario(), AS_OF.replace(hour=20))
    rows = _rows(_table(judge(config, log, signer, "PLACE-01")["acme"], "Where the instances run"))
    assert {r["Document on record"] for r in rows} == {"✗"}


def test_ha_tables_show_cluster_instance_and_disks(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.ha_status["lrm"]["pve2"]["mode"] = "maintenance"
    s.guests[101]["disks"]["scsi1"] = {"storage": "local", "volume": "local:101/x.qcow2", "backup": True,
                                       "shared": None}
    world(log, signer, s)
    result = judge(config, log, signer, "HA-01")["acme"]
    cluster = _rows(_table(result, "Cluster and HA"))
    assert cluster == [{"Cluster": "pbx-cluster", "Quorum": "✓", "Quorum votes": "3", "HA master": "pve1 (active)",
                        "Fencing": "armed"}]
    (instance,) = _rows(_table(result, "High availability"))
    assert instance["HA state (effective)"] == "started" and instance["Service state"] == "started"
    assert instance["Nodes it may run on"] == "pve1 (online), pve2 (maintenance)"
    disks = {r["Disk"]: r for r in _rows(_table(result, "Disks"))}
    assert disks["scsi0"]["Shared storage"] == "✓" and disks["scsi1"]["Shared storage"] == "✗"


def test_bk01_table_shows_the_job_but_not_the_other_guests_it_selects(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    world(log, signer)
    (row,) = _rows(_table(judge(config, log, signer, "BK-01")["acme"], "Backup jobs"))
    assert (row["Job"], row["Enabled"], row["Schedule"], row["Storage"], row["Mode"]) == \
        ("daily", "✓", "01:00", "pbs", "snapshot")
    assert row["Selected by"] == "vmid 101"  # the job also lists 103: never shown to acme
    assert row["Retention"] == "keep-daily=7, keep-monthly=3, keep-weekly=4"
    assert row["Retention set on"] == "storage pbs"


def test_bk02_tables_list_the_last_backups_and_the_gap(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.missing_days = {datetime(2030, 11, 10, tzinfo=UTC), datetime(2030, 11, 11, tzinfo=UTC)}
    world(log, signer, s)
    result = judge(config, log, signer, "BK-02")["acme"]
    backups = _rows(_table(result, f"Backups of {LABEL}"))
    assert len(backups) == 14  # bounded: the newest 14
    assert backups[0]["Date (UTC)"] == "2030-11-30 01:00 UTC"
    assert backups[0]["Source"] == "PVE pbs, PBS pbs-mil/store1, vzdump pve1"
    assert (backups[0]["Result"], backups[0]["Verification"], backups[0]["Encrypted"]) == ("ok", "ok", "✓")
    assert _rows(_table(result, "Stretches of the period"))[0]["To (UTC)"] == "2030-11-30 20:00 UTC"
    (gap,) = _rows(_table(result, "Stretches without"))
    assert gap["Gap proven by the evidence"] == "✓" and gap["From (UTC)"].startswith("2030-11-10")


def test_bk02_lists_a_failed_run(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.missing_days = {datetime(2030, 11, 30, tzinfo=UTC)}
    s.failed_runs = {datetime(2030, 11, 30, 1, 0, tzinfo=UTC)}
    world(log, signer, s)
    result = judge(config, log, signer, "BK-02")["acme"]
    backups = _rows(_table(result, f"Backups of {LABEL}"))
    assert (backups[0]["Date (UTC)"], backups[0]["Result"], backups[0]["Source"]) == \
        ("2030-11-30 01:00 UTC", "failed", "vzdump pve1")
    assert (backups[0]["Size"], backups[0]["Encrypted"]) == ("—", "—")
    assert backups[1]["Result"] == "ok" and "1 failed run(s)" in _text(result)


def test_bk03_table_lists_kept_backups_unencrypted_and_unverified(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    world(log, signer, Scenario(encrypted=None, verification=None))
    result = judge(config, log, signer, "BK-03")["acme"]
    kept = _rows(_table(result, f"Kept backups of {LABEL}"))
    assert len(kept) == 14 and {(r["Encrypted"], r["Verification"]) for r in kept} == {("✗", "—")}
    assert _rows(_table(result, "Backup jobs"))[0]["Job"] == "daily"


def test_bk04_tables_show_the_sync_job_and_restore_tests(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.pbs_jobs["offsite"]["last_run_state"] = "error: connection refused"
    world(log, signer, s)
    result = judge(config, log, signer, "BK-04")["acme"]
    (sync,) = _rows(_table(result, "Sync jobs"))
    assert (sync["Job"], sync["Direction"], sync["Copy at site"], sync["Last run state"]) == \
        ("offsite", "push", "Frankfurt DC2", "error: connection refused")
    assert sync["Last run (UTC)"] == "2030-11-30 19:00 UTC"
    (restore,) = _rows(_table(result, "Restore tests"))
    assert (restore["Date (UTC)"], restore["Instance"], restore["Added by"]) == \
        ("2030-10-15 10:00 UTC", LABEL, "test")


def test_firewall_tables(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.guest_fw[101]["nics"]["net1"] = {"firewall": False, "raw": "virtio=BB,bridge=vmbr1"}
    world(log, signer, s)
    (fw,) = _rows(_table(judge(config, log, signer, "FW-01")["acme"], "Firewall of each instance"))
    assert fw == {"Instance": LABEL, "Cluster firewall": "✓", "Instance firewall": "✓",
                  "Inbound policy (effective)": "DROP", "Firewall flag per network interface": "net0 ✓, net1 ✗"}
    fw02 = judge(config, log, signer, "FW-02")["acme"]
    rules = {r["#"]: r for r in _rows(_table(fw02, "Firewall rules of"))}
    assert list(rules) == ["0", "1", "2", "3", "pbx-base:0"]  # the group's rules follow the rule pulling it in
    assert (rules["0"]["Action"], rules["0"]["Protocol or macro"], rules["0"]["Port"], rules["0"]["Comment"]) == \
        ("ACCEPT", "udp", "5060:5061", "SIP")
    assert rules["pbx-base:0"]["Protocol or macro"] == "SSH" and rules["3"]["Direction"] == "group"
    ipsets = {r["IP set"]: r for r in _rows(_table(fw02, "IP sets used by"))}
    assert ipsets["trunks"]["Entries"] == "1" and ipsets["trunks"]["Scope"] == "guest"
    assert "Role" not in ipsets["trunks"]


def test_list01_tables_name_whitelist_blacklist_and_ipfilter(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    fw = s.guest_fw[101]
    fw["rules"][2]["enable"] = False  # no blacklist of its own: the provider-wide one serves
    fw["ipsets"]["trunks"]["entries"].append({"cidr": "203.0.113.11", "nomatch": True, "comment": None})
    world(log, signer, s)
    result = judge(config, log, signer, "LIST-01")["acme"]
    ipsets = {(r["Scope"], r["IP set"]): r for r in _rows(_table(result, "IP sets used by"))}
    assert ipsets[("guest", "trunks")]["Role"] == "whitelist"
    assert (ipsets[("guest", "trunks")]["Entries"], ipsets[("guest", "trunks")]["Of which nomatch"]) == ("2", "1")
    assert ipsets[("cluster", "blacklist")]["Role"] == "blacklist"
    assert ipsets[("guest", "banned")]["Role"] == "—"
    (ipfilter,) = _rows(_table(result, "Anti-spoofing"))
    assert ipfilter["IP filter option"] == "✓"
