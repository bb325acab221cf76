"""PLACE-01, HA-01, BK-01..04, FW-01, FW-02 and LIST-01 judged from synthetic evidence written
into a real log (tests/engine/builder.py): pass, fail and insufficient-evidence cases, with
reasons drawn from the tenant's own facts and never another tenant's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from attest.attestation import Verdict
from evidence.log import EvidenceLog
from tests.engine.builder import AS_OF, PBS, PVE, Scenario, collect, config_doc, judge, load, standard_manual

CONTROLS = ("PLACE-01", "HA-01", "BK-01", "BK-02", "BK-03", "BK-04", "FW-01", "FW-02", "LIST-01")
AT = AS_OF - timedelta(hours=2)


def world(log, signer, scenario: Scenario | None = None, **kw) -> Scenario:  # type: ignore[no-untyped-def]
    scenario = scenario or Scenario()
    collect(log, signer, scenario, AT, **kw)
    collect(log, signer, scenario, AT, source=PBS)
    standard_manual(log, signer)
    return scenario


def test_every_control_passes_for_a_well_run_tenant(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    world(log, signer)
    for control in CONTROLS:
        result = judge(config, log, signer, control)["acme"]
        assert result.verdict == Verdict.PASS, (control, result.reason, result.facts)
        assert result.reason["it"] and result.reason["en"] != result.reason["it"]


def test_every_control_passes_on_postgresql_too(tmp_path: Path, db_url: str, config, signer) -> None:  # type: ignore[no-untyped-def]
    pg = EvidenceLog.open(db_url, tmp_path / "evidence-pg")
    world(pg, signer)
    for control in CONTROLS:
        assert judge(config, pg, signer, control)["acme"].verdict == Verdict.PASS, control
    pg.close()


def _text(result) -> str:  # type: ignore[no-untyped-def]
    """Everything a result says in English: reason, facts and its tables' titles and cells."""
    cells = [c for t in result.tables for row in t.rows for c in row]
    return " ".join([result.reason["en"], *(f["en"] for f in result.facts), *(t.title["en"] for t in result.tables),
                     *cells])


def test_no_result_cites_or_names_another_tenants_guest(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    world(log, signer)
    for control in CONTROLS:
        result = judge(config, log, signer, control)["acme"]
        ev_records = {r.leaf_hex: r for r in log.records()}
        cited = [ev_records[h] for h in result.evidence]
        assert not [r.subject for r in cited if "/qemu/103" in r.subject or "/vm/103/" in r.subject], control
        assert "103" not in _text(result) and "bellini" not in _text(result).lower(), control


# --- PLACE-01 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["groups", "rules"])
def test_place_unrestricted_ha_may_move_the_pbx_to_a_non_eu_site(tmp_path, log, signer, shape) -> None:  # type: ignore[no-untyped-def]
    doc = config_doc()
    doc["sources"][0]["node_sites"]["pve3"] = "ny1"
    s = Scenario(shape=shape)
    if shape == "groups":
        s.ha[101]["group_def"]["restricted"] = False
    else:
        s.ha[101]["rules"][0]["strict"] = False
    world(log, signer, s)
    result = judge(load(doc, tmp_path), log, signer, "PLACE-01")["acme"]
    assert result.verdict == Verdict.FAIL, result.reason
    assert "New York DC is in US" in result.reason["en"]
    assert "any node" in _text(result)


def test_place_restricted_ha_keeps_it_in_milan(tmp_path, log, signer) -> None:  # type: ignore[no-untyped-def]
    doc = config_doc()
    doc["sources"][0]["node_sites"]["pve3"] = "ny1"  # pve3 is outside the strict rule's nodes
    world(log, signer)
    assert judge(load(doc, tmp_path), log, signer, "PLACE-01")["acme"].verdict == Verdict.PASS


def test_place_office_and_unmapped_nodes_fail(tmp_path, log, signer) -> None:  # type: ignore[no-untyped-def]
    doc = config_doc()
    doc["sources"][0]["node_sites"] = {"pve1": "hq", "pve3": "fra1"}
    world(log, signer)
    result = judge(load(doc, tmp_path), log, signer, "PLACE-01")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "pve2" in result.reason["en"] and "not assigned to any registered site" in result.reason["en"]
    assert "Head office is registered as 'office'" in _text(result)


def test_place_missing_certificate_document_is_insufficient(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    collect(log, signer, Scenario(), AT)
    result = judge(config, log, signer, "PLACE-01")["acme"]
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "certificate IT-27001-1 of Milano DC1 is declared, but no copy" in result.reason["en"]


def test_place_expired_certificate_fails(tmp_path, log, signer) -> None:  # type: ignore[no-untyped-def]
    doc = config_doc()
    doc["sites"][0]["certifications"][0]["expires"] = "2030-11-15"
    world(log, signer)
    result = judge(load(doc, tmp_path), log, signer, "PLACE-01")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "expired on 2030-11-15" in result.reason["en"] and "scaduto il 2030-11-15" in result.reason["it"]


# --- HA-01 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["groups", "rules"])
def test_ha_passes_in_both_shapes(log, config, signer, shape) -> None:  # type: ignore[no-untyped-def]
    world(log, signer, Scenario(shape=shape))  # groups: PVE 8 reports no fencing (null), which is no failure
    result = judge(config, log, signer, "HA-01")["acme"]
    assert result.verdict == Verdict.PASS, result.reason
    assert "may fail over among pve1, pve2" in _text(result)


def test_ha_unmanaged_instance_fails(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    del s.ha[101]
    world(log, signer, s)
    result = judge(config, log, signer, "HA-01")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "VM 101 'pbx-acme-01' is not managed by HA" in result.reason["en"]


@pytest.mark.parametrize("shape", ["groups", "rules"])
def test_ha_maintenance_node_leaves_one_failover_node(log, config, signer, shape) -> None:  # type: ignore[no-untyped-def]
    s = Scenario(shape=shape)
    s.ha_status["lrm"]["pve2"]["mode"] = "maintenance"
    world(log, signer, s)
    result = judge(config, log, signer, "HA-01")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "can run on 1 online node(s) (pve1" in result.reason["en"]


def test_ha_two_votes_and_local_disk_fail(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.cluster["quorum_votes_total"] = 2
    s.guests[101]["disks"]["scsi1"] = {"storage": "local", "volume": "local:101/x.qcow2", "backup": True,
                                       "shared": None}
    world(log, signer, s)
    result = judge(config, log, signer, "HA-01")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "2 quorum vote(s)" in result.reason["en"]
    assert "Disk scsi1 of VM 101 'pbx-acme-01' is on local storage local" in result.reason["en"]


def test_ha_disarmed_fencing_fails(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.ha_status["fencing"]["armed_state"] = "disarmed"
    world(log, signer, s)
    assert "fencing" in judge(config, log, signer, "HA-01")["acme"].reason["en"]


# --- BK-01 ----------------------------------------------------------------------------------------------


def test_bk01_disabled_job_does_not_count(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.jobs["daily"]["enabled"] = False
    s.not_backed_up = ["qemu/101", "qemu/103"]
    world(log, signer, s)
    result = judge(config, log, signer, "BK-01")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "No enabled backup job selects VM 101 'pbx-acme-01' (job(s) daily would include it" in result.reason["en"]


def test_bk01_all_minus_exclude_and_node_restriction(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.jobs["daily"]["selection"] = {"mode": "all", "vmids": [], "pool": None, "exclude": [101]}
    s.jobs["node3"] = dict(s.jobs["daily"], id="node3", node="pve3",
                           selection={"mode": "all", "vmids": [], "pool": None, "exclude": []})
    world(log, signer, s)
    assert judge(config, log, signer, "BK-01")["acme"].verdict == Verdict.FAIL
    assert judge(config, log, signer, "BK-01")["bellini"].verdict == Verdict.PASS


# --- BK-02 --------------------------------------------------------------------------------------------


def test_bk02_a_missed_backup_in_the_period_is_a_proven_gap(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    s = Scenario()
    s.missing_days = {datetime(2030, 11, 10, tzinfo=UTC), datetime(2030, 11, 11, tzinfo=UTC)}
    world(log, signer, s)
    result = judge(config, log, signer, "BK-02")["acme"]
    assert result.verdict == Verdict.FAIL, result.reason
    assert "after the backup of 2030-11-09 01:00 UTC until 2030-11-12 01:00 UTC" in result.reason["en"]


def test_bk02_uncovered_start_of_period_is_insufficient(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    s = Scenario(keep_days=7, history_days=26)  # task history from 4 Nov; older backups pruned
    s.missing_days = {datetime(2030, 11, 2, tzinfo=UTC)}
    world(log, signer, s)
    result = judge(config, log, signer, "BK-02")["acme"]
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE, result.reason
    assert "backups were proven from 2030-11-04" in result.reason["en"]
    assert "is not covered by the evidence" in result.reason["en"]


def test_bk02_no_backup_since_collection_window_is_judged_at_as_of(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    s = Scenario()
    s.missing_days = {datetime(2030, 11, d, tzinfo=UTC) for d in (29, 30)}
    world(log, signer, s)
    result = judge(config, log, signer, "BK-02")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "after the backup of 2030-11-28 01:00 UTC" in result.reason["en"]


# --- BK-03 ---------------------------------------------------------------------------------------------


def test_bk03_storage_retention_below_policy_fails(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.storages["pbs"]["prune_backups"] = {"keep-daily": 3, "keep-weekly": 4, "keep-monthly": 3}
    world(log, signer, s)
    result = judge(config, log, signer, "BK-03")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "keep-daily 3 < 7" in result.reason["en"]


def test_bk03_job_retention_takes_precedence_over_the_storage(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.storages["pbs"]["prune_backups"] = {"keep-last": 1}
    s.jobs["daily"]["retention"] = {"keep-daily": 14, "keep-weekly": 8, "keep-monthly": 6}
    world(log, signer, s)
    result = judge(config, log, signer, "BK-03")["acme"]
    assert result.verdict == Verdict.PASS, result.reason
    assert "job daily keeps keep-daily 14" in _text(result)


def test_bk03_unencrypted_and_failed_verification_fail(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario(encrypted=None, verification={"state": "failed", "upid": None})
    world(log, signer, s)
    result = judge(config, log, signer, "BK-03")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "not encrypted" in _text(result) and "failed (failed)" in _text(result)


# --- BK-04 ------------------------------------------------------------------------------------------------


def test_bk04_stale_sync_and_no_restore_test_fail(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.pbs_jobs["offsite"]["last_run_state"] = "error: connection refused"
    collect(log, signer, s, AT)
    collect(log, signer, s, AT, source=PBS)
    result = judge(config, log, signer, "BK-04")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "No backup copy of VM 101 'pbx-acme-01'" in result.reason["en"]
    assert "No restore test" in result.reason["en"]
    assert "Sync job offsite to Frankfurt DC2" in _text(result)


def test_bk04_stale_backup_server_evidence_is_insufficient(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    collect(log, signer, s, AT)
    collect(log, signer, s, AT - timedelta(hours=50), source=PBS)
    standard_manual(log, signer)
    result = judge(config, log, signer, "BK-04")["acme"]
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert f"complete evidence from {PBS}" in result.reason["en"]


# --- FW-01 / FW-02 / LIST-01 -----------------------------------------------------------------------------------


def test_fw01_disabled_guest_firewall_open_nic_and_accept_policy(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    fw = s.guest_fw[101]
    fw["options"]["enable"] = False
    fw["options"]["policy_in"] = "ACCEPT"
    fw["nics"]["net1"] = {"firewall": False, "raw": "virtio=BB,bridge=vmbr1"}
    world(log, signer, s)
    result = judge(config, log, signer, "FW-01")["acme"]
    assert result.verdict == Verdict.FAIL
    text = _text(result)
    assert "The firewall of VM 101 'pbx-acme-01' is disabled" in text
    assert "net1" in text and "inbound default policy of VM 101 'pbx-acme-01' is ACCEPT" in text
    assert judge(config, log, signer, "FW-01")["bellini"].verdict == Verdict.PASS


def test_fw01_cluster_firewall_off_fails(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.firewall_cluster["options"]["enable"] = False
    world(log, signer, s)
    assert "cluster firewall" in judge(config, log, signer, "FW-01")["acme"].reason["en"]


def test_fw02_ssh_open_to_all_through_a_security_group(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.groups["pbx-base"][0]["source"] = None
    world(log, signer, s)
    result = judge(config, log, signer, "FW-02")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "management port 22/tcp is open to any source on the Internet (security group pbx-base)" in \
        result.reason["en"]
    assert "RTP port 10000:20000/udp is open to any source by its rule 1, approved" in _text(result)


def test_fw02_sip_open_to_all_with_a_port_list_and_unapproved_rtp(log, signer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = config_doc()
    doc["tenants"][0]["controls"] = {}
    s = Scenario()
    s.guest_fw[101]["rules"][0].update(source="0.0.0.0/0", dport="80,5060", proto=None)
    world(log, signer, s)
    result = judge(load(doc, tmp_path), log, signer, "FW-02")["acme"]
    assert result.verdict == Verdict.FAIL
    text = _text(result)
    assert "SIP port 5060/udp" in text and "SIP port 5060/tcp" in text and "management port 80/tcp" in text
    assert "RTP port 10000:20000/udp is open to any source on the Internet (its rule 1) without approval" in text


def test_fw02_only_group_rules_fail(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.guest_fw[101]["rules"] = [s.guest_fw[101]["rules"][3]]
    world(log, signer, s)
    result = judge(config, log, signer, "FW-02")["acme"]
    assert result.verdict == Verdict.FAIL
    assert "no enabled firewall rule of its own" in result.reason["en"]


def test_list01_sip_from_anywhere_no_blacklist_no_ipfilter(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    fw = s.guest_fw[101]
    fw["rules"][0]["source"] = None
    fw["rules"][2]["enable"] = False
    fw["options"]["ipfilter"] = False
    s.ipsets["blacklist"] = []
    world(log, signer, s)
    result = judge(config, log, signer, "LIST-01")["acme"]
    assert result.verdict == Verdict.FAIL
    text = _text(result)
    assert "admits SIP from sources that are not its own whitelist IP set (any)" in text
    assert "has no blacklist" in text and "does not filter spoofed source addresses" in text


def test_list01_cluster_blacklist_and_ipfilter_sets_suffice(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    fw = s.guest_fw[101]
    fw["rules"][2]["enable"] = False
    fw["options"]["ipfilter"] = False
    fw["ipsets"]["ipfilter-net0"] = {"comment": None, "entries": [{"cidr": "192.0.2.10", "nomatch": False}]}
    world(log, signer, s)
    result = judge(config, log, signer, "LIST-01")["acme"]
    assert result.verdict == Verdict.PASS, result.reason
    assert "provider-wide blacklist (1 entries)" in _text(result)


# --- truth before coverage ---------------------------------------------------------------------------------


def test_a_section_not_read_is_insufficient(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    world(log, signer, sections=("inventory", "cluster", "ha", "storage", "backup", "tasks"))
    result = judge(config, log, signer, "FW-01")["acme"]
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "did not complete" in result.reason["en"] and "firewall configuration" in result.reason["en"]
    assert judge(config, log, signer, "BK-01")["acme"].verdict == Verdict.PASS  # other sections still serve


def test_a_failure_on_the_tenants_guest_is_insufficient_on_anothers_is_not(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    failures = [{"section": "firewall", "subject": f"{PVE}/qemu/103/firewall", "error": "timeout after 30 s"}]
    world(log, signer, failures=failures, drop={f"{PVE}/qemu/103/firewall"})
    assert judge(config, log, signer, "FW-01")["acme"].verdict == Verdict.PASS
    bellini = judge(config, log, signer, "FW-01")["bellini"]
    assert bellini.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "the firewall configuration of VM 103 could not be read (timeout after 30 s)" in bellini.reason["en"]


def test_an_unanswering_node_blocks_the_tenants_whose_pbx_may_run_there(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    failures = [{"section": "ha", "subject": f"{PVE}/node/pve2", "error": "No route to host"}]
    world(log, signer, failures=failures)
    result = judge(config, log, signer, "HA-01")["acme"]  # pve2 is in acme's failover rule
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "node pve2 did not answer (No route to host)" in result.reason["en"]


def test_an_older_clean_collection_is_used_when_the_newest_is_affected(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    collect(log, signer, s, AT - timedelta(hours=10))
    failures = [{"section": "firewall", "subject": f"{PVE}/qemu/101/firewall", "error": "timeout"}]
    collect(log, signer, s, AT, failures=failures, drop={f"{PVE}/qemu/101/firewall"})
    assert judge(config, log, signer, "FW-01")["acme"].verdict == Verdict.PASS


def test_a_whole_section_failure_blocks_everyone(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    failures = [{"section": "backup", "subject": None, "error": "500 on /cluster/backup"}]
    world(log, signer, failures=failures)
    result = judge(config, log, signer, "BK-01")["acme"]
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "500 on /cluster/backup" in result.reason["en"]


def test_stale_evidence_is_insufficient(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    world(log, signer)
    for control in CONTROLS:
        result = judge(config, log, signer, control, as_of=AT + timedelta(hours=40))["acme"]
        assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE, control
        assert "at most 36 h" in result.reason["en"], control


def test_a_token_without_sys_audit_is_insufficient(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    del s.permissions["/"]["Sys.Audit"]
    world(log, signer, s)
    for control in ("FW-01", "HA-01", "BK-01", "PLACE-01"):
        result = judge(config, log, signer, control)["acme"]
        assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE, control
        assert "lacks Sys.Audit on /" in result.reason["en"], control


def test_a_plain_auditor_token_cannot_prove_backups(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    # PVE lists backup volumes only to a token holding Datastore.AllocateSpace and VM.Backup: a
    # plain PVEAuditor token sees an empty list, which must not read as "no backups kept".
    s = Scenario()
    for path in ("/", "/vms"):
        del s.permissions[path]["VM.Backup"]
    world(log, signer, s)
    for control in ("BK-02", "BK-03", "BK-04"):
        result = judge(config, log, signer, control)["acme"]
        assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE, control
        assert "VM.Backup on /vms" in result.reason["en"], (control, result.reason)


def test_iso01_still_needs_the_whole_inventory(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    failures = [{"section": "inventory", "subject": f"{PVE}/qemu/103", "error": "500 on /nodes/pve2/qemu/103/config"}]
    world(log, signer, failures=failures)
    iso = judge(config, log, signer, "ISO-01")["acme"]
    assert iso.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "103" not in iso.reason["en"]  # another customer's guest is not named
    assert judge(config, log, signer, "BK-01")["acme"].verdict == Verdict.PASS


def test_a_tenant_without_instances_is_insufficient_for_infrastructure_controls(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.guests[101]["tags"] = ["pbx"]
    world(log, signer, s)
    assert judge(config, log, signer, "ISO-01")["acme"].verdict == Verdict.FAIL
    result = judge(config, log, signer, "BK-01")["acme"]
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "No PBX instance" in result.reason["en"]


# --- gaps the previous round listed ------------------------------------------------------------------------


def test_bk01_pool_based_job_selects_the_pools_members(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.jobs["daily"]["selection"] = {"mode": "pool", "vmids": [], "pool": "voice", "exclude": []}
    s.pools = {"voice": ["qemu/101"]}
    world(log, signer, s)
    acme = judge(config, log, signer, "BK-01")["acme"]
    assert acme.verdict == Verdict.PASS, acme.reason
    assert acme.tables[0].rows[0][7] == "pool"  # not a pool acme is matched by: its name is not shown
    bellini = judge(config, log, signer, "BK-01")["bellini"]
    assert bellini.verdict == Verdict.FAIL
    assert "No enabled backup job selects VM 103 'pbx-bellini-01'" in bellini.reason["en"]


def test_bk01_pool_based_job_without_the_instance_fails(log, config, signer) -> None:  # type: ignore[no-untyped-def]
    s = Scenario()
    s.jobs["daily"]["selection"] = {"mode": "pool", "vmids": [], "pool": "voice", "exclude": []}
    s.pools = {"voice": ["qemu/103"]}
    world(log, signer, s)
    acme = judge(config, log, signer, "BK-01")["acme"]
    assert acme.verdict == Verdict.FAIL
    assert "No enabled backup job selects VM 101 'pbx-acme-01'." in acme.reason["en"]
    assert not acme.tables  # no job selects it: nothing to tabulate
    assert judge(config, log, signer, "BK-01")["bellini"].verdict == Verdict.PASS


def test_bk04_backups_on_a_pbs_that_is_no_evidence_source_are_insufficient(tmp_path, log, signer) -> None:  # type: ignore[no-untyped-def]
    doc = config_doc()
    doc["sources"] = [s for s in doc["sources"] if s["type"] != "proxmox_bs"]
    collect(log, signer, Scenario(), AT)
    standard_manual(log, signer)
    result = judge(load(doc, tmp_path), log, signer, "BK-04")["acme"]
    assert result.verdict == Verdict.INSUFFICIENT_EVIDENCE, result.reason
    assert "kept on backup server pbs.example, which is not an evidence source" in result.reason["en"]
    assert "non è una fonte di evidenze" in result.reason["it"]
