"""Proxmox VE inventory through proxmoxer and an API token.

Reads `/version`, `/cluster/status`, `/access/permissions` (what the token could see, since PVE
silently filters lists by permission), `/cluster/resources?type=vm`, `/pools` (and each pool's
members) and every guest's config. Emits one record per guest and per pool, plus provider-wide
records (version, cluster, permissions, inventory) that hold no tenant data. Every raw response
is kept as an artifact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import requests
from proxmoxer import ProxmoxAPI, ResourceException

from collectors.base import Emitter, SourceFailed
from evidence.scrub import scrub_text

SOURCE_TYPE = "proxmox_ve"


def parse_property_string(value: str) -> dict[str, str]:
    """`virtio=BC:24:11:..,bridge=vmbr0,firewall=1` -> {"virtio": "BC:..", "bridge": "vmbr0", "firewall": "1"}.
    A bare first item (`local-lvm:vm-101-disk-0`) is kept under the key "" ."""
    out: dict[str, str] = {}
    for part in value.split(","):
        if not part:
            continue
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip()] = val.strip()
        else:
            out[""] = key.strip()
    return out


def split_tags(value: Any) -> list[str]:
    """PVE returns tags as one string separated by `;` (older releases: `,` or spaces)."""
    if not value:
        return []
    text = str(value)
    for sep in (",", " "):
        text = text.replace(sep, ";")
    return sorted({t.strip() for t in text.split(";") if t.strip()})


@dataclass
class _Call:
    path: str
    status: int
    content: bytes
    content_type: str


@dataclass
class ProxmoxInventoryCollector:
    source_id: str
    host: str  # host[:port]
    user: str  # user@realm
    token_name: str
    token_value: str
    verify_tls: bool | str
    timeout_s: float
    node_sites: dict[str, str] = field(default_factory=dict)
    source_type: str = SOURCE_TYPE
    _last: _Call | None = None
    _api: ProxmoxAPI | None = None

    def _client(self) -> ProxmoxAPI:
        if self._api is None:
            api = ProxmoxAPI(self.host, user=self.user, token_name=self.token_name, token_value=self.token_value,
                             verify_ssl=self.verify_tls, timeout=self.timeout_s)
            # proxmoxer hands back parsed data only; a requests response hook (a public requests
            # mechanism, nothing patched) keeps the raw bytes for the artifact and the JSON check.
            api._store["session"].hooks["response"].append(self._keep_raw)
            self._api = api
        return self._api

    def _keep_raw(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last = _Call(response.request.path_url if response.request else "", response.status_code,
                           response.content, response.headers.get("Content-Type", ""))

    def _get(self, out: Emitter, path: str, **params: Any) -> tuple[Any, str]:
        """GET one path; return (data, artifact digest). Any failure becomes SourceFailed naming the path."""
        shown = path + ("?" + "&".join(f"{k}={v}" for k, v in sorted(params.items())) if params else "")
        self._last = None
        try:
            data = self._client().get(path, **params)
        except ResourceException as exc:
            raise SourceFailed(f"GET {shown}: HTTP {exc.status_code} {scrub_text(str(exc.content)).strip()}") from exc
        except requests.exceptions.Timeout as exc:
            raise SourceFailed(f"GET {shown}: timed out after {self.timeout_s:g} s") from exc
        except requests.exceptions.SSLError as exc:
            raise SourceFailed(f"GET {shown}: TLS verification failed ({type(exc).__name__})") from exc
        except requests.exceptions.RequestException as exc:
            raise SourceFailed(f"GET {shown}: connection failed ({type(exc).__name__})") from exc
        except (KeyError, ValueError) as exc:  # proxmoxer indexes ["data"] of a JSON body without it
            raise SourceFailed(f"GET {shown}: the response is JSON but not a Proxmox API answer") from exc
        raw = self._last
        if raw is None:
            raise SourceFailed(f"GET {shown}: no response was seen")
        # A 200 whose body is not JSON (a proxy's HTML page, a truncated body) is a failure, not
        # data: proxmoxer returns {"errors": b"..."} for it (reference NOTES §8).
        try:
            envelope = json.loads(raw.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceFailed(f"GET {shown}: HTTP {raw.status} but the body is not JSON "
                               f"({len(raw.content)} bytes, Content-Type {raw.content_type or 'none'})") from exc
        if not isinstance(envelope, dict) or "data" not in envelope:
            raise SourceFailed(f"GET {shown}: the response has no 'data' member")
        sha = out.artifact(raw.content, "application/json")
        return data, sha

    def collect(self, out: Emitter) -> None:
        src = self.source_id
        version, a_version = self._get(out, "version")
        out.record("proxmox.version", src, {"version": version.get("version"), "release": version.get("release"),
                                            "repoid": version.get("repoid")}, artifacts=(a_version,))

        status, a_status = self._get(out, "cluster/status")
        if not isinstance(status, list):
            raise SourceFailed("GET cluster/status: expected a list")
        cluster = next((e for e in status if e.get("type") == "cluster"), None)
        nodes = sorted((e for e in status if e.get("type") == "node"), key=lambda e: str(e.get("name")))
        out.record("proxmox.cluster", src, {
            "cluster": cluster,
            "nodes": [{**n, "site": self.node_sites.get(str(n.get("name")))} for n in nodes],
        }, artifacts=(a_status,))

        perms, a_perms = self._get(out, "access/permissions")
        out.record("proxmox.permissions", f"{src}/token", {"token": f"{self.user}!{self.token_name}",
                                                           "permissions": perms}, artifacts=(a_perms,))

        resources, a_res = self._get(out, "cluster/resources", type="vm")
        if not isinstance(resources, list):
            raise SourceFailed("GET cluster/resources: expected a list")
        pools, a_pools = self._get(out, "pools")
        if not isinstance(pools, list):
            raise SourceFailed("GET pools: expected a list")

        pool_ids = sorted(str(p["poolid"]) for p in pools if "poolid" in p)
        for pool_id in pool_ids:
            detail, a_detail = self._get(out, "pools", poolid=pool_id)
            entry = detail[0] if isinstance(detail, list) and detail else {}
            members = sorted(f"{m.get('type')}/{m.get('vmid')}" for m in entry.get("members", [])
                             if m.get("type") in ("qemu", "lxc"))
            out.record("proxmox.pool", f"{src}/pool/{pool_id}", {
                "poolid": pool_id, "comment": entry.get("comment"), "members": members,
            }, artifacts=(a_pools, a_detail))

        guests = sorted((r for r in resources if r.get("type") in ("qemu", "lxc")),
                        key=lambda r: (str(r.get("type")), int(r.get("vmid", 0))))
        errors: list[str] = []
        seen: list[str] = []
        for guest in guests:
            gid = f"{guest['type']}/{guest['vmid']}"
            try:
                config, a_conf = self._get(out, f"nodes/{guest['node']}/{guest['type']}/{guest['vmid']}/config")
            except SourceFailed as exc:
                errors.append(str(exc))  # one unreadable guest must not hide the others' evidence
                continue
            seen.append(gid)
            nics = {k: parse_property_string(str(v)) for k, v in sorted(config.items())
                    if k.startswith("net") and k[3:].isdigit()}
            out.record("proxmox.guest", f"{src}/{gid}", {
                "vmid": int(guest["vmid"]),
                "type": guest["type"],
                "name": guest.get("name") or config.get("name") or config.get("hostname"),
                "node": guest.get("node"),
                "site": self.node_sites.get(str(guest.get("node"))),
                "status": guest.get("status"),
                "template": bool(int(guest.get("template") or 0)),
                "tags": split_tags(config.get("tags", guest.get("tags"))),
                "pool": guest.get("pool"),
                "nics": nics,
                "resource": guest,
                "config": config,
            }, artifacts=(a_res, a_conf))

        # The complete list of guests the token saw in this run: lets a check tell "no other
        # instance" from "not collected". Guest ids and a pool count only: pool names are often
        # customers' names, and this record is cited in every customer's documents.
        out.record("proxmox.inventory", src, {
            "guests": sorted(f"{g['type']}/{g['vmid']}" for g in guests),
            "configs_read": sorted(seen),
            "pool_count": len(pool_ids),
        }, artifacts=(a_res, a_pools))
        if errors:
            raise SourceFailed(f"{len(errors)} guest config(s) unreadable: " + "; ".join(errors[:5]))
