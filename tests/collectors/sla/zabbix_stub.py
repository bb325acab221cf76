"""A tiny Zabbix JSON-RPC API on 127.0.0.1 answering with the shapes of Zabbix's documentation.

A real Zabbix API needs its PHP frontend (out of scope here), so this serves what the manual
documents, copied from it:
  * https://www.zabbix.com/documentation/current/en/manual/api/reference/sla/getsli -- the
    "Calculating SLI for a monthly SLA" example (SLA 5, services 50/60/70, three months from
    Nov 2021 UTC) and the "daily SLA" example (SLA 1, services 1/4, 30 Oct 2025 GMT+2): requests
    and responses verbatim in DOC_* below.
  * https://www.zabbix.com/documentation/6.4/en/manual/api -- JSON-RPC 2.0 over POST to
    api_jsonrpc.php, `Authorization: Bearer <token>` (6.4+) or the deprecated `auth` property
    (the only way in 6.0), `apiinfo.version` answering a version string, and the error object
    {code, message, data} (DOC_ERROR_RESPONSE, the manual's host.create example).
  * https://www.zabbix.com/documentation/current/en/manual/api/reference/sla/get and
    …/sla/object -- the SLA object (slaid, name, period 0-4, slo, effective_date, timezone,
    status, description; schedule, excluded_downtimes, service_tags on request). The manual's
    "Retrieving all SLAs" answer for SLA 1 ("Database Uptime", weekly, slo "99.9995", effective
    "1672444800") is in DOC_SLA_DATABASE_UPTIME; the rest of that object follows the manual's
    sla.create example for the same SLA (time zone America/Toronto, schedule, tags, the 4 July
    downtime).

A token Zabbix does not accept gets the error it gives for a bad session:
{"code": -32602, "message": "Invalid params.", "data": "Session terminated, re-login, please."}.
Every request is recorded (headers, parsed body) so tests can check params and how the token
travelled. `slow_s` delays answers (all, or only sla.getsli for the period starts in
`slow_periods`) to exercise timeouts.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# -- the manual's examples, verbatim ------------------------------------------------------------

DOC_GETSLI_MONTHLY_REQUEST: dict[str, Any] = {
    "jsonrpc": "2.0",
    "method": "sla.getsli",
    "params": {
        "slaid": "5",
        "serviceids": [50, 60, 70],
        "periods": 3,
        "period_from": "1635724800",
    },
    "id": 1,
}


def _nov() -> dict[str, Any]:
    return {"uptime": 1186212, "downtime": 0, "sli": 100, "error_budget": 0,
            "excluded_downtimes": [{"name": "Maintenance Nov 25 - Dec 01", "period_from": 1637836212,
                                    "period_to": 1638316800}]}


def _dec() -> dict[str, Any]:
    return {"uptime": 1147548, "downtime": 0, "sli": 100, "error_budget": 0,
            "excluded_downtimes": [{"name": "Maintenance Dec 02 - Dec 10", "period_from": 1638439200,
                                    "period_to": 1639109652}]}


def _jan() -> dict[str, Any]:
    return {"uptime": 1674000, "downtime": 0, "sli": 100, "error_budget": 0, "excluded_downtimes": []}


DOC_GETSLI_MONTHLY_RESPONSE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "result": {
        "periods": [
            {"period_from": 1635724800, "period_to": 1638316800},
            {"period_from": 1638316800, "period_to": 1640995200},
            {"period_from": 1640995200, "period_to": 1643673600},
        ],
        "serviceids": [50, 60, 70],
        "sli": [
            [_nov(), _nov(), _nov()],
            [_dec(), _dec(), _dec()],
            [_jan(), _jan(), _jan()],
        ],
    },
    "id": 1,
}

DOC_GETSLI_DAILY_REQUEST: dict[str, Any] = {
    "jsonrpc": "2.0",
    "method": "sla.getsli",
    "params": {"slaid": "1", "serviceids": [1, 4], "periods": 1, "period_to": 1761861599},
    "id": 1,
}

DOC_GETSLI_DAILY_RESPONSE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "result": {
        "periods": [{"period_from": 1761775200, "period_to": 1761861600}],
        "serviceids": [1, 4],
        "sli": [[
            {"uptime": 43843, "downtime": 0, "sli": 100, "error_budget": 0,
             "excluded_downtimes": [{"name": "Maintenance OCT", "period_from": 1761825600,
                                     "period_to": 1761829200}]},
            {"uptime": 32225, "downtime": 0, "sli": 100, "error_budget": 0, "excluded_downtimes": []},
        ]],
    },
    "id": 1,
}

DOC_ERROR_RESPONSE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "error": {"code": -32602, "message": "Invalid params.", "data": "No groups for host \"Linux server\"."},
    "id": 7,
}

BAD_TOKEN_ERROR: dict[str, Any] = {"code": -32602, "message": "Invalid params.",
                                   "data": "Session terminated, re-login, please."}

DOC_SLA_DATABASE_UPTIME: dict[str, Any] = {
    "slaid": "1",
    "name": "Database Uptime",
    "period": "1",
    "slo": "99.9995",
    "effective_date": "1672444800",
    "timezone": "America/Toronto",
    "status": "1",
    "description": "Provide excellent uptime for main database engines.",
    "schedule": [{"period_from": "0", "period_to": "601200"}],
    "excluded_downtimes": [{"name": "Software version upgrade rollout", "period_from": "1648760400",
                            "period_to": "1648764900"}],
    "service_tags": [{"tag": "database", "operator": "0", "value": "mysql"},
                     {"tag": "database", "operator": "0", "value": "postgresql"}],
}

# The SLA behind the monthly getsli example: the manual gives its id (5) and that it is monthly in
# UTC; its other fields are this stub's, in the SLA object's documented shape.
SLA_MONTHLY_UTC: dict[str, Any] = {
    "slaid": "5",
    "name": "SIP trunks",
    "period": "2",
    "slo": "99.9",
    "effective_date": "1633046400",  # 2021-10-01 00:00 UTC
    "timezone": "UTC",
    "status": "1",
    "description": "",
    "schedule": [],
    "excluded_downtimes": [],
}


def doc_monthly_table() -> dict[str, Any]:
    """The documented monthly `sla.getsli` result, the stub's data for SLA 5."""
    return copy.deepcopy(DOC_GETSLI_MONTHLY_RESPONSE["result"])


# -- the server ---------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: Any

    @property
    def method(self) -> str | None:
        return self.body.get("method") if isinstance(self.body, dict) else None

    @property
    def params(self) -> Any:
        return self.body.get("params") if isinstance(self.body, dict) else None


@dataclass
class ZabbixStub:
    token: str
    version: str = "7.0.0"
    slas: list[dict[str, Any]] = field(default_factory=lambda: [copy.deepcopy(DOC_SLA_DATABASE_UPTIME),
                                                                copy.deepcopy(SLA_MONTHLY_UTC)])
    sli: dict[str, dict[str, Any]] = field(default_factory=lambda: {"5": doc_monthly_table()})
    slow_s: float = 0.0
    slow_periods: set[int] | None = None  # None: every answer is slow (when slow_s > 0)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> error object to answer
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    # -- authentication, as the manual describes it per version --

    def _version(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split(".")[:2])

    def _authorised(self, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any] | None:
        """None when the request may proceed, else the error object to answer with."""
        header = headers.get("authorization", "")
        has_auth = "auth" in body
        if body.get("method") == "apiinfo.version":
            if has_auth or header:
                return {"code": -32602, "message": "Invalid params.",
                        "data": 'The "apiinfo.version" method must be called without the "auth" parameter.'}
            return None
        if has_auth and self._version() >= (7, 4):
            return {"code": -32600, "message": "Invalid request.",
                    "data": 'Invalid parameter "/": unexpected parameter "auth".'}
        given: str | None = None
        if header.startswith("Bearer ") and self._version() >= (6, 4):
            given = header[len("Bearer "):]
        elif has_auth:
            given = body.get("auth")
        return None if given == self.token else dict(BAD_TOKEN_ERROR)

    # -- methods --

    def sla_get(self, params: dict[str, Any]) -> Any:
        wanted = params.get("slaids")
        ids = None if wanted is None else {str(i) for i in (wanted if isinstance(wanted, list) else [wanted])}
        found = [copy.deepcopy(s) for s in self.slas if ids is None or s["slaid"] in ids]
        for sla in found:
            for key, select in (("schedule", "selectSchedule"), ("excluded_downtimes", "selectExcludedDowntimes"),
                                ("service_tags", "selectServiceTags")):
                if select not in params:
                    sla.pop(key, None)
        if params.get("preservekeys"):
            return {s["slaid"]: s for s in found}
        return found

    def sla_getsli(self, params: dict[str, Any]) -> Any:
        """The documented partitioning of periods over the stored table (no period beyond it)."""
        table = self.sli.get(str(params.get("slaid")))
        if table is None:
            return None
        periods = table["periods"]
        count = int(params.get("periods") or 20)
        lo, hi = params.get("period_from"), params.get("period_to")
        chosen = list(range(len(periods)))
        if lo is not None:
            chosen = [i for i in chosen if periods[i]["period_to"] > int(lo)]
        if hi is not None:
            chosen = [i for i in chosen if periods[i]["period_from"] <= int(hi)]
        chosen = chosen[:count] if lo is not None else chosen[-count:]
        wanted = params.get("serviceids")
        services = table["serviceids"]
        if wanted is not None:
            keep = {str(s) for s in (wanted if isinstance(wanted, list) else [wanted])}
            columns = [j for j, s in enumerate(services) if str(s) in keep]
        else:
            columns = list(range(len(services)))
        return {"periods": [periods[i] for i in chosen], "serviceids": [services[j] for j in columns],
                "sli": [[table["sli"][i][j] for j in columns] for i in chosen]}

    def answer(self, headers: dict[str, str], body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or "method" not in body:
            return {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request.",
                                                "data": "The received JSON is not a valid JSON-RPC request."},
                    "id": None}
        rid = body.get("id")
        refused = self._authorised(headers, body)
        if refused is not None:
            return {"jsonrpc": "2.0", "error": refused, "id": rid}
        method, params = body["method"], body.get("params") or {}
        if method in self.errors:
            return {"jsonrpc": "2.0", "error": self.errors[method], "id": rid}
        if method == "apiinfo.version":
            return {"jsonrpc": "2.0", "result": self.version, "id": rid}
        if method == "sla.get":
            return {"jsonrpc": "2.0", "result": self.sla_get(params), "id": rid}
        if method == "sla.getsli":
            result = self.sla_getsli(params)
            if result is None:
                return {"jsonrpc": "2.0", "error": {"code": -32500, "message": "Application error.",
                                                    "data": "No permissions to referred object or it does not "
                                                            "exist!"}, "id": rid}
            return {"jsonrpc": "2.0", "result": result, "id": rid}
        return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found.",
                                            "data": f'Incorrect API "{method.split(".")[0]}".'}, "id": rid}

    def delay_for(self, body: Any) -> float:
        if self.slow_s <= 0:
            return 0.0
        if self.slow_periods is None:
            return self.slow_s
        params = body.get("params") if isinstance(body, dict) else None
        if isinstance(body, dict) and body.get("method") == "sla.getsli" and isinstance(params, dict) \
                and int(params.get("period_from") or -1) in self.slow_periods:
            return self.slow_s
        return 0.0


def _handler(stub: ZabbixStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = None
            stub.requests.append(Received(headers, body))
            if self.path.rsplit("/", 1)[-1] != "api_jsonrpc.php":
                self.send_response(404)
                self.end_headers()
                return
            if body is None:
                reply: dict[str, Any] = {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error.",
                                                                      "data": "Invalid JSON."}, "id": None}
            else:
                reply = stub.answer(headers, body)
            delay = stub.delay_for(body)
            if delay:
                time.sleep(delay)
            data = json.dumps(reply).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout)
                pass

    return Handler


@contextmanager
def running_stub(stub: ZabbixStub) -> Iterator[ZabbixStub]:
    """Serve *stub* on 127.0.0.1 (a free port) for the duration; `stub.url` is its API URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="zabbix-stub",
                              daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/zabbix/api_jsonrpc.php"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
