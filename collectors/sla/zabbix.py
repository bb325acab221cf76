"""Zabbix 6+ SLA figures through the JSON-RPC API (`sla.get`, `sla.getsli`): a cross-check of the
probes, never what SLA-01 judges.

The API (Zabbix manual, "API" and "sla.getsli" pages):
  * HTTP POST of a JSON-RPC 2.0 request object (`jsonrpc`, `method`, `params`, `id`) to
    `…/api_jsonrpc.php` with `Content-Type: application/json-rpc`; the answer carries `result`,
    or an `error` object `{code, message, data}` (`data` is the detailed message).
  * Authentication with an API token: from 6.4 in the `Authorization: Bearer <token>` header;
    in 6.0 (and 6.2) only in the request's `auth` property, which 6.4 deprecated and 7.4 refuses
    ("unexpected parameter \"auth\""). `apiinfo.version` must be called without any token. The
    client therefore asks `apiinfo.version` first and sends the token the way that version
    documents (`auth="auto"`), unless told otherwise.
  * `sla.getsli(slaid, period_from [inclusive], period_to, periods 1-100, serviceids)` returns
    `periods[]` ({period_from, period_to}, Unix seconds, sorted), `serviceids[]` (order NOT
    defined, even when `serviceids` was passed) and `sli[period index][service index]` =
    {uptime, downtime (s, inside the scheduled uptime, net of excluded downtimes), sli (%),
    error_budget (s), excluded_downtimes[{name, period_from, period_to}]}. Returned periods never
    precede the SLA's first period (its effective date) nor pass the current one.

`ZabbixSlaCollector` reads the SLA (`sla.get`: slo, period, time zone, effective date), then the
last `months` COMPLETE months, one `sla.getsli` call each (`period_from` = the first of the month
at 00:00 in the SLA's time zone, `periods` = 1), so one month that times out leaves the others.
Every raw answer is stored as an artifact; each (instance, month) becomes a `sla.zabbix.sli`
record. A month Zabbix answers with another period (SLA effective later, another time zone) or
without a configured service is a failure of section `sli`, as is a call that fails. A server
that cannot be reached, or refuses the token, fails the source. The token is sent, never shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import certifi
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import parse_url

from collectors.base import Emitter, SourceFailed
from evidence.scrub import REDACTED, scrub_text

SOURCE_TYPE = "zabbix"
SECTION = "sli"
SLI_KIND = "sla.zabbix.sli"
READ_KIND = "sla.zabbix.read"
MONTHLY = "2"  # SLA object `period`: 0 daily, 1 weekly, 2 monthly, 3 quarterly, 4 annually
PERIOD_NAMES = {"0": "daily", "1": "weekly", "2": "monthly", "3": "quarterly", "4": "annually"}
# What Zabbix answers for a token it does not accept (error `data`, sometimes `message`).
_AUTH_HINTS = ("re-login", "not authorized", "not authorised", "api token", "session terminated")

AuthMode = Literal["auto", "header", "body"]


class ZabbixError(Exception):
    """One call that gave no result. `message` holds no secret. `code`/`data` are the JSON-RPC
    error object's; `raw` the answer when it was JSON (kept as evidence); `unreachable` says the
    server was not reached, `auth` that it refused the token."""

    def __init__(self, message: str, *, code: int | None = None, data: str | None = None, raw: bytes | None = None,
                 unreachable: bool = False, auth: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data
        self.raw = raw
        self.unreachable = unreachable
        self.auth = auth
        self.status = status


def _tls_options(verify_tls: bool | str | Path) -> dict[str, Any]:
    if verify_tls is False:
        return {"cert_reqs": "CERT_NONE", "assert_hostname": False}
    if verify_tls is True:
        return {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
    if Path(verify_tls).is_dir():
        return {"cert_reqs": "CERT_REQUIRED", "ca_cert_dir": str(verify_tls)}
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": str(verify_tls)}


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


class ZabbixClient:
    """A JSON-RPC 2.0 client of one Zabbix frontend (`https://host/zabbix/api_jsonrpc.php`).

    *auth*: "header" sends `Authorization: Bearer <token>` (6.4+), "body" the `auth` property
    (6.0/6.2), "auto" picks by `apiinfo.version` (asked once, without the token)."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 30.0, verify_tls: bool | str | Path = True,
                 auth: AuthMode = "auto") -> None:
        if not token:
            raise ValueError("a Zabbix API token is required")
        parsed = parse_url(url)
        if parsed.scheme not in ("http", "https") or not parsed.host or not (parsed.path or "").endswith(
                "api_jsonrpc.php"):
            raise ValueError("the Zabbix URL must be http(s)://host[:port]/…/api_jsonrpc.php")
        self._token = token
        self._secrets = sorted((s for s in (token, parsed.auth) if s), key=len, reverse=True)
        self.url = parsed._replace(auth=None).url  # shown: never user:password of the URL
        self.timeout_s = timeout_s
        self.auth_mode: AuthMode = auth
        self.version: str | None = None
        self._id = 0
        tls = _tls_options(verify_tls) if parsed.scheme == "https" else {}
        self._pool = urllib3.PoolManager(num_pools=1, maxsize=1, retries=False,
                                         timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s), **tls)

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return scrub_text(text)

    def next_id(self) -> int:
        self._id += 1
        return self._id

    # -- calls ---------------------------------------------------------------------------------

    def api_version(self) -> str:
        """`apiinfo.version` (called without the token, as documented); remembered."""
        result, _raw = self.call_raw("apiinfo.version", {}, authenticate=False)
        if not isinstance(result, str):
            raise ZabbixError(f"apiinfo.version answered {type(result).__name__}, not a version string")
        self.version = result
        return result

    def resolved_auth(self) -> Literal["header", "body"]:
        """How the token travels: the Bearer header from 6.4, the `auth` property before."""
        if self.auth_mode != "auto":
            return self.auth_mode
        version = self.version if self.version is not None else self.api_version()
        return "header" if _version_tuple(version) >= (6, 4) else "body"

    def call(self, method: str, params: Mapping[str, Any] | list[Any]) -> Any:
        """The `result` of *method*; ZabbixError when there is none."""
        return self.call_raw(method, params)[0]

    def call_raw(self, method: str, params: Mapping[str, Any] | list[Any], *,
                 authenticate: bool = True) -> tuple[Any, bytes]:
        """(`result`, raw answer) of *method*. Raises ZabbixError on an error object, an HTTP
        error, a timeout, a broken connection or an answer that is not a JSON-RPC response."""
        request_id = self.next_id()
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method,
                                "params": dict(params) if isinstance(params, Mapping) else list(params),
                                "id": request_id}
        headers = {"Content-Type": "application/json-rpc", "Accept": "application/json"}
        if authenticate:
            if self.resolved_auth() == "header":
                headers["Authorization"] = f"Bearer {self._token}"
            else:
                body["auth"] = self._token
        status, raw = self._post(json.dumps(body).encode(), headers, method)
        answer: Any = None
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        json_raw = raw if answer is not None else None
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            raise self._error(method, answer["error"], json_raw, status)
        if status != 200:
            detail = " ".join(raw[:200].decode("utf-8", "replace").split())
            raise ZabbixError(self.clean(f"{method}: HTTP {status}{': ' + detail if detail else ''}"), raw=json_raw,
                              status=status, auth=status in (401, 403), unreachable=status in (401, 403))
        if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0" or "result" not in answer:
            raise ZabbixError(self.clean(f"{method}: the answer is not a JSON-RPC 2.0 response ({len(raw)} bytes)"),
                              raw=json_raw, status=status)
        if answer.get("id") != request_id:
            raise ZabbixError(f"{method}: the answer is for request id {answer.get('id')!r}, not {request_id}",
                              raw=json_raw, status=status)
        return answer["result"], raw

    def _error(self, method: str, error: dict[str, Any], raw: bytes | None, status: int) -> ZabbixError:
        code = error.get("code") if isinstance(error.get("code"), int) else None
        message = str(error.get("message") or "").strip()
        data = str(error.get("data") or "").strip()
        text = ": ".join(p for p in (message, data) if p) or "error without a message"
        auth = any(hint in text.lower() for hint in _AUTH_HINTS)
        shown = self.clean(f"{method}: Zabbix error {code if code is not None else '?'}: {text}"[:500])
        return ZabbixError(shown, code=code, data=self.clean(data) or None, raw=raw, auth=auth, unreachable=auth,
                           status=status)

    def _post(self, body: bytes, headers: dict[str, str], method: str) -> tuple[int, bytes]:
        try:
            reply = self._pool.request("POST", self.url, body=body, headers=headers, redirect=False,
                                       preload_content=True)
        except (ConnectTimeoutError, NewConnectionError) as exc:
            raise ZabbixError(self.clean(f"cannot connect to {self.url}: {_reason(exc)}"), unreachable=True) from None
        except (TimeoutError, ReadTimeoutError, Urllib3Timeout):
            raise ZabbixError(f"{method}: no answer within the {self.timeout_s:g} s timeout") from None
        except SSLError as exc:
            raise ZabbixError(self.clean(f"TLS with {self.url} failed: {_reason(exc)}"), unreachable=True) from None
        except ProtocolError as exc:
            raise ZabbixError(self.clean(f"{method}: the connection broke: {_reason(exc)}")) from None
        except HTTPError as exc:
            raise ZabbixError(self.clean(f"{method}: HTTP failure: {_reason(exc)}")) from None
        return reply.status, reply.data

    def close(self) -> None:
        self._pool.clear()


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or (exc.args[-1] if exc.args else None) or exc
    return str(inner)[:300]


# -- periods ----------------------------------------------------------------------------------


def month_start(year: int, month: int, zone: ZoneInfo) -> datetime:
    """00:00 on the first of *month* in *zone*, as an aware datetime in *zone*."""
    return datetime(year, month, 1, tzinfo=zone)


def add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def last_months(now: datetime, months: int, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The last *months* complete months before *now* in *zone*, oldest first, each as
    [first of the month 00:00, first of the next month 00:00) in *zone*."""
    if months < 1:
        raise ValueError("months must be at least 1")
    local = now.astimezone(zone)
    out = []
    for back in range(months, 0, -1):
        y, m = add_months(local.year, local.month, -back)
        ny, nm = add_months(y, m, 1)
        out.append((month_start(y, m, zone), month_start(ny, nm, zone)))
    return out


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def iso_utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the collector ----------------------------------------------------------------------------


@dataclass
class ZabbixSlaCollector:
    """Reads the SLA and the SLI of its services for the last `months` complete months; see the
    module docstring. *services* maps the Zabbix serviceid to the SLA instance id; *time_zone* is
    the contract's, used when Zabbix gives none (`system`) and checked against the SLA's."""

    source_id: str
    client: ZabbixClient
    slaid: str
    services: dict[str, str]
    months: int = 2
    time_zone: str = "Europe/Rome"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    source_type: str = SOURCE_TYPE

    def __post_init__(self) -> None:
        if not self.services:
            raise ValueError("no services to read: map at least one Zabbix serviceid to an SLA instance id")
        if not 1 <= self.months <= 100:
            raise ValueError("months must be between 1 and 100 (sla.getsli reports at most 100 periods)")
        self.services = {str(k): v for k, v in self.services.items()}
        _zone(self.time_zone)  # fails early on a misspelt zone

    def collect(self, out: Emitter) -> None:
        try:
            self._collect(out)
        finally:
            self.client.close()

    def _collect(self, out: Emitter) -> None:
        src, client = self.source_id, self.client
        read: dict[str, Any] = {"url": client.url, "slaid": self.slaid, "services": dict(sorted(self.services.items())),
                                "configured_time_zone": self.time_zone}
        artifacts: list[str] = []
        try:
            if client.auth_mode == "auto":
                read["version"] = client.api_version()
            read["auth"] = client.resolved_auth()
            sla_result, sla_raw = client.call_raw("sla.get", {"slaids": [self.slaid], "output": "extend",
                                                              "selectExcludedDowntimes": "extend",
                                                              "selectSchedule": "extend"})
        except ZabbixError as exc:
            if exc.raw is not None:
                out.artifact(exc.raw, "application/json")
            raise SourceFailed(self._fatal(exc)) from None
        artifacts.append(out.artifact(sla_raw, "application/json"))
        sla = _find_sla(sla_result, self.slaid)
        if sla is None:
            out.record(READ_KIND, f"{src}/read", {**read, "sla": None}, artifacts=tuple(artifacts))
            raise SourceFailed(f"Zabbix {client.url} has no SLA {self.slaid} visible to this token")
        zone_name, zone_note = self._zone_of(sla)
        zone = _zone(zone_name)
        slo = _number(sla.get("slo"))
        read["sla"] = {"name": sla.get("name"), "period": sla.get("period"),
                       "period_name": PERIOD_NAMES.get(str(sla.get("period"))), "slo": slo,
                       "timezone": sla.get("timezone"), "effective_date": _effective(sla.get("effective_date")),
                       "status": sla.get("status"), "schedule": sla.get("schedule"),
                       "excluded_downtimes": sla.get("excluded_downtimes")}
        read["time_zone"] = zone_name
        if zone_note:
            read["time_zone_note"] = zone_note
        if str(sla.get("period")) != MONTHLY:
            out.record(READ_KIND, f"{src}/read", read, artifacts=tuple(artifacts))
            raise SourceFailed(f"Zabbix SLA {self.slaid} reports {PERIOD_NAMES.get(str(sla.get('period')), '?')} "
                               f"periods (period {sla.get('period')!r}), not monthly: its SLI cannot cross-check "
                               f"a month")
        if zone_note and "differs" in zone_note:
            out.failed(SECTION, zone_note)
        months = last_months(self.clock(), self.months, zone)
        read["months"] = []
        base = {"slaid": self.slaid, "slo": slo, "time_zone": zone_name}
        for lo, hi in months:
            entry = self._month(out, lo, hi, base)
            read["months"].append(entry)
            if "sha256" in entry:
                artifacts.append(entry["sha256"])
            if entry.get("fatal"):
                out.record(READ_KIND, f"{src}/read", read, artifacts=tuple(artifacts))
                raise SourceFailed(str(entry["error"]))
        out.record(READ_KIND, f"{src}/read", read, artifacts=tuple(artifacts))
        out.completed(SECTION)

    def _month(self, out: Emitter, lo: datetime, hi: datetime, base: dict[str, Any]) -> dict[str, Any]:
        src = self.source_id
        label = lo.strftime("%Y-%m")
        params = {"slaid": self.slaid, "serviceids": sorted(self.services, key=_id_key), "period_from": unix(lo),
                  "periods": 1}
        entry: dict[str, Any] = {"month": label, "params": params}
        try:
            result, raw = self.client.call_raw("sla.getsli", params)
        except ZabbixError as exc:
            entry["error"] = exc.message
            if exc.raw is not None:
                entry["sha256"] = out.artifact(exc.raw, "application/json")
            if exc.unreachable:
                entry["fatal"] = True
                entry["error"] = self._fatal(exc)
                return entry
            out.failed(SECTION, f"sla.getsli for {label}: {exc.message}", f"{src}/{label}")
            return entry
        sha = out.artifact(raw, "application/json")
        entry["sha256"] = sha
        problem = _shape_problem(result)
        if problem:
            entry["error"] = problem
            out.failed(SECTION, f"sla.getsli for {label}: {problem}", f"{src}/{label}")
            return entry
        periods, serviceids, sli = result["periods"], [str(s) for s in result["serviceids"]], result["sli"]
        index = next((i for i, p in enumerate(periods) if _int(p.get("period_from")) == unix(lo)), None)
        if index is None:
            got = ", ".join(f"{iso_utc(_int(p.get('period_from')) or 0)}" for p in periods) or "none"
            entry["error"] = f"no period starting {iso_utc(unix(lo))}"
            for instance in sorted(self.services.values()):
                out.failed(SECTION, f"Zabbix gave no SLI for {label} (periods starting: {got}); the SLA may be "
                                    f"effective later or use another time zone", f"{src}/{instance}/{label}")
            return entry
        period = periods[index]
        period_to = _int(period.get("period_to"))
        if period_to != unix(hi):
            out.failed(SECTION, f"Zabbix's period for {label} ends {iso_utc(period_to or 0)}, not "
                                f"{iso_utc(unix(hi))} (first of the next month in {base['time_zone']})",
                       f"{src}/{label}")
        row = sli[index] if index < len(sli) and isinstance(sli[index], list) else []
        emitted = 0
        for serviceid, instance in sorted(self.services.items()):
            subject = f"{src}/{instance}/{label}"
            column = serviceids.index(serviceid) if serviceid in serviceids else None
            cell = row[column] if column is not None and column < len(row) else None
            if not isinstance(cell, dict):
                out.failed(SECTION, f"Zabbix gave no SLI for service {serviceid} (instance {instance}) in {label}: "
                                    f"is the service linked to SLA {self.slaid}?", subject)
                continue
            payload = {"instance": instance, "serviceid": serviceid, "month": label,
                       "period_from": iso_utc(unix(lo)), "period_to": iso_utc(period_to or unix(hi)),
                       "uptime_s": _int(cell.get("uptime")), "downtime_s": _int(cell.get("downtime")),
                       "sli": _number(cell.get("sli")), "error_budget_s": _int(cell.get("error_budget")),
                       "excluded_downtimes": [_downtime(d) for d in cell.get("excluded_downtimes") or []
                                              if isinstance(d, dict)],
                       **base}
            out.record(SLI_KIND, subject, payload, artifacts=(sha,))
            emitted += 1
        entry["records"] = emitted
        return entry

    def _zone_of(self, sla: dict[str, Any]) -> tuple[str, str | None]:
        given = str(sla.get("timezone") or "").strip()
        if not given or given == "system":
            return self.time_zone, (f"the SLA uses the Zabbix server's time zone ({given or 'none given'}); "
                                    f"months are taken in the configured {self.time_zone}")
        try:
            _zone(given)
        except ValueError:
            return self.time_zone, f"the SLA's time zone {given!r} is unknown here; months taken in {self.time_zone}"
        if given != self.time_zone:
            return given, (f"Zabbix SLA {self.slaid} computes its months in {given}, which differs from the "
                           f"configured {self.time_zone}: its periods do not line up with the contract's months")
        return given, None

    def _fatal(self, exc: ZabbixError) -> str:
        if exc.auth:
            return (f"Zabbix {self.client.url} refused the API token ({exc.message}); check the token and that its "
                    f"user may read SLAs")
        return f"Zabbix {self.client.url} unreachable: {exc.message}"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _find_sla(result: Any, slaid: str) -> dict[str, Any] | None:
    items = result.values() if isinstance(result, dict) else result if isinstance(result, list) else []
    for item in items:
        if isinstance(item, dict) and str(item.get("slaid")) == slaid:
            return item
    return None


def _shape_problem(result: Any) -> str | None:
    if not isinstance(result, dict):
        return f"expected an object with periods, serviceids and sli, got {type(result).__name__}"
    for key in ("periods", "serviceids", "sli"):
        if not isinstance(result.get(key), list):
            return f"the answer has no {key} list"
    if not all(isinstance(p, dict) for p in result["periods"]):
        return "a period is not an object"
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _effective(value: Any) -> str | None:
    seconds = _int(value)
    return iso_utc(seconds) if seconds else None


def _downtime(item: dict[str, Any]) -> dict[str, Any]:
    lo, hi = _int(item.get("period_from")), _int(item.get("period_to"))
    return {"name": str(item.get("name", "")), "period_from": iso_utc(lo) if lo is not None else None,
            "period_to": iso_utc(hi) if hi is not None else None,
            "duration_s": hi - lo if lo is not None and hi is not None else None}


def _id_key(serviceid: str) -> tuple[int, str]:
    return (int(serviceid), "") if serviceid.isdigit() else (1 << 62, serviceid)


# -- the cross-check --------------------------------------------------------------------------


def compare(probe_availability: float, zabbix_sli_percent: float, tolerance_pp: float = 0.05) -> str | None:
    """A plain-English sentence when the probes' availability (a fraction, 0.999) and Zabbix's
    SLI (a percentage, 99.9) differ by more than *tolerance_pp* percentage points; else None."""
    for name, value, top in (("probe_availability", probe_availability, 1.0),
                             ("zabbix_sli_percent", zabbix_sli_percent, 100.0)):
        if not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= top:
            raise ValueError(f"{name} must be a number from 0 to {top:g}, not {value!r}")
    if not math.isfinite(tolerance_pp) or tolerance_pp < 0:
        raise ValueError("tolerance_pp must be a non-negative number of percentage points")
    probe_pct = probe_availability * 100
    gap = round(abs(probe_pct - zabbix_sli_percent), 9)  # 9 decimals: float noise, never a real gap
    if gap <= tolerance_pp:
        return None
    higher = "the probes" if probe_pct > zabbix_sli_percent else "Zabbix"
    return (f"The probes measured {_pct(probe_pct)} availability but Zabbix reports an SLI of "
            f"{_pct(zabbix_sli_percent)}: {higher} see{'s' if higher == 'Zabbix' else ''} the service up more, "
            f"a gap of {gap:.4g} percentage points, more than the {tolerance_pp:g}-point tolerance.")


def _pct(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return f"{text} %"


