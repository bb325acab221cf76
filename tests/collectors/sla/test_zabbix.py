"""The Zabbix `sla.getsli` cross-check source against a loopback JSON-RPC stub answering with the
shapes (and numbers) of Zabbix's documentation; see zabbix_stub.py for the pages used."""

from __future__ import annotations

import hashlib
import json
import socket
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collectors.base import Emitter, SourceFailed
from collectors.sla.zabbix import (
    SECTION,
    SLI_KIND,
    ZabbixClient,
    ZabbixError,
    ZabbixSlaCollector,
    compare,
    last_months,
)
from tests.collectors.sla.zabbix_stub import (
    DOC_ERROR_RESPONSE,
    DOC_GETSLI_MONTHLY_REQUEST,
    DOC_GETSLI_MONTHLY_RESPONSE,
    SLA_MONTHLY_UTC,
    ZabbixStub,
    running_stub,
)

TOKEN = "b03a1f7c5e8d4c2a9f6e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a"
SRC = "zbx"
SERVICES = {"50": "acme-pbx", "60": "beta-pbx", "70": "gamma-pbx"}
FEB_2022 = datetime(2022, 2, 10, 9, 30, tzinfo=UTC)  # the documented months (Nov 2021 - Jan 2022) are complete


class Store:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, data: bytes, media_type: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        return sha


def _emitter() -> tuple[Emitter, Store]:
    store = Store()
    return Emitter(SRC, store.put), store


def _collector(stub: ZabbixStub, *, months: int = 3, now: datetime = FEB_2022, slaid: str = "5",
               services: dict[str, str] | None = None, time_zone: str = "UTC", timeout_s: float = 5.0,
               auth: Any = "auto") -> ZabbixSlaCollector:
    client = ZabbixClient(stub.url, TOKEN, timeout_s=timeout_s, auth=auth)
    return ZabbixSlaCollector(SRC, client, slaid, dict(services or SERVICES), months=months, time_zone=time_zone,
                              clock=lambda: now)


def _everything(out: Emitter, store: Store) -> str:
    return json.dumps([r.payload for r in out.records]) + repr(out.failures) + "".join(
        b.decode("utf-8", "replace") for b in store.blobs.values())


# -- the documented example ---------------------------------------------------------------------


def test_the_stub_answers_the_documented_request_with_the_documented_response() -> None:
    with running_stub(ZabbixStub(TOKEN)) as stub:
        client = ZabbixClient(stub.url, TOKEN, auth="header")
        result = client.call("sla.getsli", DOC_GETSLI_MONTHLY_REQUEST["params"])
    assert result == DOC_GETSLI_MONTHLY_RESPONSE["result"]


def test_records_match_the_documented_monthly_example() -> None:
    out, store = _emitter()
    with running_stub(ZabbixStub(TOKEN)) as stub:
        _collector(stub).collect(out)
    assert out.failures == []
    assert out.sections == [SECTION]
    sli = {r.subject: r for r in out.records if r.kind == SLI_KIND}
    assert sorted(sli) == sorted(f"{SRC}/{i}/{m}" for i in SERVICES.values() for m in ("2021-11", "2021-12", "2022-01"))
    nov = sli[f"{SRC}/beta-pbx/2021-11"].payload
    assert nov == {
        "instance": "beta-pbx", "serviceid": "60", "month": "2021-11",
        "period_from": "2021-11-01T00:00:00Z", "period_to": "2021-12-01T00:00:00Z",
        "uptime_s": 1186212, "downtime_s": 0, "sli": 100.0, "error_budget_s": 0,
        "excluded_downtimes": [{"name": "Maintenance Nov 25 - Dec 01", "period_from": "2021-11-25T10:30:12Z",
                                "period_to": "2021-12-01T00:00:00Z", "duration_s": 1638316800 - 1637836212}],
        "slaid": "5", "slo": 99.9, "time_zone": "UTC",
    }
    dec = sli[f"{SRC}/acme-pbx/2021-12"].payload
    assert (dec["uptime_s"], dec["excluded_downtimes"][0]["name"]) == (1147548, "Maintenance Dec 02 - Dec 10")
    jan = sli[f"{SRC}/gamma-pbx/2022-01"].payload
    assert (jan["uptime_s"], jan["excluded_downtimes"], jan["period_to"]) == (1674000, [], "2022-02-01T00:00:00Z")
    # each record links the raw sla.getsli answer it came from, stored as evidence
    raw = json.loads(store.blobs[nov_artifact(sli, "beta-pbx", "2021-11")])
    assert raw["result"]["periods"] == [{"period_from": 1635724800, "period_to": 1638316800}]
    read = next(r for r in out.records if r.kind == "sla.zabbix.read").payload
    assert read["sla"]["slo"] == 99.9 and read["sla"]["period_name"] == "monthly"
    assert read["sla"]["effective_date"] == "2021-10-01T00:00:00Z" and read["time_zone"] == "UTC"
    assert read["version"] == "7.0.0" and read["auth"] == "header"


def nov_artifact(sli: dict[str, Any], instance: str, month: str) -> str:
    arts = sli[f"{SRC}/{instance}/{month}"].artifacts
    assert len(arts) == 1
    return str(arts[0])


def test_requests_carry_the_documented_params_and_the_token_as_the_version_documents() -> None:
    with running_stub(ZabbixStub(TOKEN, version="7.0.0")) as stub:
        _collector(stub).collect(_emitter()[0])
    methods = [r.method for r in stub.requests]
    assert methods == ["apiinfo.version", "sla.get", "sla.getsli", "sla.getsli", "sla.getsli"]
    version = stub.requests[0]
    assert "authorization" not in version.headers and "auth" not in version.body  # as documented
    for r in stub.requests[1:]:
        assert r.headers["authorization"] == f"Bearer {TOKEN}" and "auth" not in r.body
        assert r.headers["content-type"] == "application/json-rpc"
        assert r.body["jsonrpc"] == "2.0"
    assert [r.body["id"] for r in stub.requests] == [1, 2, 3, 4, 5]
    assert stub.requests[1].params["slaids"] == ["5"]
    assert [r.params for r in stub.requests[2:]] == [
        {"slaid": "5", "serviceids": ["50", "60", "70"], "period_from": start, "periods": 1}
        for start in (1635724800, 1638316800, 1640995200)]  # the manual's month starts


def test_zabbix_6_0_gets_the_token_in_the_auth_property() -> None:
    with running_stub(ZabbixStub(TOKEN, version="6.0.20")) as stub:
        out, _ = _emitter()
        _collector(stub, months=1).collect(out)
    assert out.failures == [] and len(out.records) == 1 + len(SERVICES)
    for r in stub.requests[1:]:
        assert r.body["auth"] == TOKEN and "authorization" not in r.headers


# -- month boundaries -----------------------------------------------------------------------------


def test_months_start_on_the_first_at_midnight_in_the_time_zone() -> None:
    rome = ZoneInfo("Europe/Rome")
    # 1 Nov 00:30 in Rome is still 31 Oct in UTC: October is the month in progress, not complete
    now = datetime(2021, 10, 31, 23, 30, tzinfo=UTC)
    got = last_months(now, 2, rome)
    assert [(lo.isoformat(), hi.isoformat()) for lo, hi in got] == [
        ("2021-09-01T00:00:00+02:00", "2021-10-01T00:00:00+02:00"),
        ("2021-10-01T00:00:00+02:00", "2021-11-01T00:00:00+01:00"),  # CEST -> CET: 31 days and 1 hour
    ]
    assert [int(lo.timestamp()) for lo, _ in got] == [1630447200, 1633039200]
    assert int(got[1][1].timestamp()) - int(got[1][0].timestamp()) == 31 * 86400 + 3600
    # across a year boundary
    jan = last_months(datetime(2022, 1, 5, tzinfo=UTC), 3, ZoneInfo("UTC"))
    assert [lo.strftime("%Y-%m") for lo, _ in jan] == ["2021-10", "2021-11", "2021-12"]


def test_an_sla_in_another_time_zone_is_read_in_its_months() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    oct_from = int(datetime(2021, 10, 1, tzinfo=berlin).timestamp())
    nov_from = int(datetime(2021, 11, 1, tzinfo=berlin).timestamp())
    dec_from = int(datetime(2021, 12, 1, tzinfo=berlin).timestamp())
    cell = {"uptime": 2679180, "downtime": 2820, "sli": 99.89485458612975, "error_budget": -138,
            "excluded_downtimes": []}
    cell_nov = {"uptime": 2592000, "downtime": 0, "sli": 100, "error_budget": 2592, "excluded_downtimes": []}
    sla = {**SLA_MONTHLY_UTC, "slaid": "7", "timezone": "Europe/Berlin", "effective_date": "1609459200"}
    stub = ZabbixStub(TOKEN, slas=[sla], sli={"7": {
        "periods": [{"period_from": oct_from, "period_to": nov_from}, {"period_from": nov_from, "period_to": dec_from}],
        "serviceids": [60, 50], "sli": [[cell_nov, cell], [cell_nov, cell_nov]]}})  # service order not defined
    out, _ = _emitter()
    with running_stub(stub):
        _collector(stub, slaid="7", months=2, now=datetime(2021, 12, 15, tzinfo=UTC), time_zone="Europe/Berlin",
                   services={"50": "acme-pbx"}).collect(out)
    assert out.failures == []
    assert [r.params["period_from"] for r in stub.requests if r.method == "sla.getsli"] == [oct_from, nov_from]
    assert oct_from == 1633039200  # 30 Sep 22:00 UTC
    octo = next(r for r in out.records if r.subject == f"{SRC}/acme-pbx/2021-10").payload
    assert (octo["uptime_s"], octo["downtime_s"], octo["sli"]) == (2679180, 2820, 99.89485458612975)
    assert (octo["period_from"], octo["period_to"]) == ("2021-09-30T22:00:00Z", "2021-10-31T23:00:00Z")
    assert octo["time_zone"] == "Europe/Berlin"


def test_a_time_zone_other_than_the_contracts_is_reported() -> None:
    out, _ = _emitter()
    with running_stub(ZabbixStub(TOKEN)) as stub:
        _collector(stub, time_zone="Europe/Rome").collect(out)
    assert [f.section for f in out.failures] == [SECTION]
    assert "UTC" in out.failures[0].error and "Europe/Rome" in out.failures[0].error
    assert sum(r.kind == SLI_KIND for r in out.records) == 9  # still read, in Zabbix's months


def test_a_month_before_the_sla_took_effect_is_a_failure_the_others_kept() -> None:
    out, _ = _emitter()
    with running_stub(ZabbixStub(TOKEN)) as stub:
        _collector(stub, months=4).collect(out)  # Oct 2021: no period there; Zabbix answers November's
    subjects = {f.subject for f in out.failures}
    assert subjects == {f"{SRC}/{i}/2021-10" for i in SERVICES.values()}
    assert all("2021-10" in f.error and "2021-11-01T00:00:00Z" in f.error for f in out.failures)
    assert sum(r.kind == SLI_KIND for r in out.records) == 9
    assert out.sections == [SECTION]


def test_a_service_zabbix_does_not_report_is_a_failure_of_that_instance() -> None:
    out, _ = _emitter()
    with running_stub(ZabbixStub(TOKEN)) as stub:
        _collector(stub, months=1, services={"50": "acme-pbx", "99": "ghost-pbx"}).collect(out)
    assert [(f.subject, "service 99" in f.error) for f in out.failures] == [(f"{SRC}/ghost-pbx/2022-01", True)]
    assert [r.subject for r in out.records if r.kind == SLI_KIND] == [f"{SRC}/acme-pbx/2022-01"]


# -- failures -------------------------------------------------------------------------------------


def test_a_bad_token_fails_the_source_with_a_clear_message_without_the_token() -> None:
    out, store = _emitter()
    with running_stub(ZabbixStub("the-right-token")) as stub, pytest.raises(SourceFailed) as raised:
        _collector(stub).collect(out)
    message = str(raised.value)
    assert "refused the API token" in message and "Session terminated, re-login, please." in message
    assert TOKEN not in message and TOKEN not in _everything(out, store)
    assert stub.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"  # it was sent, never shown


def test_a_bad_token_in_the_auth_property_is_not_echoed_either() -> None:
    with running_stub(ZabbixStub("the-right-token", version="6.0.20")) as stub:
        client = ZabbixClient(stub.url, TOKEN)
        with pytest.raises(ZabbixError) as raised:
            client.call("sla.get", {"slaids": ["5"]})
    assert raised.value.auth and raised.value.code == -32602
    assert TOKEN not in str(raised.value) and stub.requests[-1].body["auth"] == TOKEN


def test_the_documented_error_object_becomes_a_zabbix_error() -> None:
    stub = ZabbixStub(TOKEN, errors={"sla.getsli": DOC_ERROR_RESPONSE["error"]})
    out, _ = _emitter()
    with running_stub(stub):
        _collector(stub, months=2).collect(out)
    assert [f.subject for f in out.failures] == [f"{SRC}/2021-12", f"{SRC}/2022-01"]
    assert all('Zabbix error -32602: Invalid params.: No groups for host "Linux server".' in f.error
               for f in out.failures)
    assert out.sections == [SECTION]  # read through, the failures listed
    with running_stub(ZabbixStub(TOKEN, errors={"sla.get": DOC_ERROR_RESPONSE["error"]})) as stub2:
        client = ZabbixClient(stub2.url, TOKEN)
        with pytest.raises(ZabbixError) as raised:
            client.call("sla.get", {})
    assert (raised.value.code, raised.value.data, raised.value.auth) == (-32602, 'No groups for host "Linux server".',
                                                                        False)


def test_a_month_that_times_out_is_recorded_and_the_others_kept() -> None:
    stub = ZabbixStub(TOKEN, slow_s=1.5, slow_periods={1638316800})  # December answers too late
    out, _ = _emitter()
    with running_stub(stub):
        _collector(stub, timeout_s=0.5).collect(out)
    assert [(f.section, f.subject) for f in out.failures] == [(SECTION, f"{SRC}/2021-12")]
    assert "no answer within the 0.5 s timeout" in out.failures[0].error
    months = sorted({r.payload["month"] for r in out.records if r.kind == SLI_KIND})
    assert months == ["2021-11", "2022-01"]


def test_a_server_that_answers_nothing_in_time_fails_the_source() -> None:
    with running_stub(ZabbixStub(TOKEN, slow_s=1.5)) as stub, pytest.raises(SourceFailed) as raised:
        _collector(stub, timeout_s=0.3).collect(_emitter()[0])
    assert "timeout" in str(raised.value)


def test_an_unreachable_server_fails_the_source() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = ZabbixClient(f"http://127.0.0.1:{port}/api_jsonrpc.php", TOKEN, timeout_s=2)
    with pytest.raises(SourceFailed, match="unreachable"):
        ZabbixSlaCollector(SRC, client, "5", SERVICES, time_zone="UTC", clock=lambda: FEB_2022).collect(_emitter()[0])


def test_an_unknown_sla_or_a_weekly_one_fails_the_source() -> None:
    with running_stub(ZabbixStub(TOKEN)) as stub:
        with pytest.raises(SourceFailed, match="no SLA 42"):
            _collector(stub, slaid="42").collect(_emitter()[0])
        with pytest.raises(SourceFailed, match="weekly periods"):  # the manual's "Database Uptime"
            _collector(stub, slaid="1", time_zone="America/Toronto").collect(_emitter()[0])


def test_the_client_refuses_a_wrong_url_and_a_missing_token() -> None:
    with pytest.raises(ValueError, match=r"api_jsonrpc\.php"):
        ZabbixClient("https://zabbix.example/", TOKEN)
    with pytest.raises(ValueError, match="token"):
        ZabbixClient("https://zabbix.example/api_jsonrpc.php", "")


# -- compare ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("probe", "zabbix", "tolerance"), [
    (0.999, 99.9, 0.05),
    (0.9995, 99.95, 0.05),
    (0.9990, 99.95, 0.05),  # exactly the tolerance apart: agreement
    (1.0, 100, 0.05),
    (0.99894854, 99.89485458612975, 0.0001),
])
def test_compare_agreement(probe: float, zabbix: float, tolerance: float) -> None:
    assert compare(probe, zabbix, tolerance) is None


def test_compare_disagreement_is_a_plain_sentence() -> None:
    text = compare(0.9989, 99.95)
    assert text == ("The probes measured 99.89 % availability but Zabbix reports an SLI of 99.95 %: Zabbix sees the "
                    "service up more, a gap of 0.06 percentage points, more than the 0.05-point tolerance.")
    other = compare(0.9999, 99.5, tolerance_pp=0.1)
    assert other is not None and other.startswith("The probes measured 99.99 % availability")
    assert "the probes see the service up more" in other and "0.49 percentage points" in other


@pytest.mark.parametrize(("probe", "zabbix", "tolerance"), [
    (99.9, 99.9, 0.05),  # a percentage given as the probe fraction
    (0.999, 100.5, 0.05),
    (float("nan"), 99.9, 0.05),
    (0.999, 99.9, -1.0),
])
def test_compare_refuses_impossible_inputs(probe: float, zabbix: float, tolerance: float) -> None:
    with pytest.raises(ValueError):
        compare(probe, zabbix, tolerance)
