"""The tenant inventory: which extensions and endpoints of a PBX belong to which tenant.

    tenants:
      x: {extensions: "10-19"}
      y: {extensions: ["20-29", "300"], endpoints: ["y-lobby"]}

Ranges are inclusive and keep their width ("0100-0199" gives 0100…0199). The same shape is read
from a file by `attest pbx-check --inventory` and written inline under a PBX source in
attest.yaml. An extension or endpoint claimed by two tenants is refused: the whole point is to
know whose it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attest.config import PbxTenantEntry
from attest.errors import BadInput
from collectors.pbx.endpoints import Endpoint

MAX_RANGE = 100_000  # numbers one range may expand to: a typo like "10-1000000000" is refused


class InventoryError(BadInput):
    pass


# The same shape as a PBX source's `tenants` in attest.yaml: one model for both.
TenantEntry = PbxTenantEntry


class InventoryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenants: dict[str, TenantEntry] = Field(min_length=1)


def expand(item: str) -> list[str]:
    """"10-19" -> ["10", …, "19"]; "300" -> ["300"]; "*80" -> ["*80"]."""
    text = item.strip()
    lo, sep, hi = text.partition("-")
    if sep and lo.strip().isdigit() and hi.strip().isdigit():
        lo, hi = lo.strip(), hi.strip()
        a, b = int(lo), int(hi)
        if b < a:
            raise ValueError(f"range {text!r} ends before it starts")
        if b - a + 1 > MAX_RANGE:
            raise ValueError(f"range {text!r} holds more than {MAX_RANGE} numbers")
        width = len(lo) if lo.startswith("0") else 0
        return [str(n).zfill(width) for n in range(a, b + 1)]
    if not text or any(c.isspace() for c in text) or "," in text:
        raise ValueError(f"{item!r} is neither an extension nor a range like 10-19")
    return [text]


@dataclass
class Inventory:
    tenants: dict[str, TenantEntry]
    origin: str = "inventory"
    extension_owner: dict[str, str] = field(default_factory=dict)
    endpoint_owner: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Any, origin: str) -> Inventory:
        try:
            model = InventoryModel.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InventoryError(f"{origin}: {where}: {first['msg']}") from exc
        inv = cls(tenants=dict(model.tenants), origin=origin)
        for tenant, entry in model.tenants.items():
            for item in entry.extensions:
                try:
                    numbers = expand(item)
                except ValueError as exc:
                    raise InventoryError(f"{origin}: tenants.{tenant}.extensions: {exc}") from exc
                for number in numbers:
                    other = inv.extension_owner.setdefault(number, tenant)
                    if other != tenant:
                        raise InventoryError(f"{origin}: extension {number} is claimed by both {other} and {tenant}")
            for name in entry.endpoints:
                other = inv.endpoint_owner.setdefault(name, tenant)
                if other != tenant:
                    raise InventoryError(f"{origin}: endpoint {name} is claimed by both {other} and {tenant}")
        return inv

    def extensions_of(self, tenant: str) -> list[str]:
        by_tenant: dict[str, list[str]] = self.__dict__.setdefault("_by_tenant", {})
        if not by_tenant and self.extension_owner:
            for number, owner in self.extension_owner.items():
                by_tenant.setdefault(owner, []).append(number)
        return by_tenant.get(tenant, [])

    def tenant_of_extension(self, number: str) -> str | None:
        return self.extension_owner.get(number)

    def tenant_of_endpoint(self, ep: Endpoint) -> tuple[str, str] | None:
        """(tenant, why) for an endpoint: named in `endpoints`, or its name, caller-id number or
        AOR is one of the tenant's extensions (FreePBX names endpoints after the extension)."""
        if ep.name in self.endpoint_owner:
            return self.endpoint_owner[ep.name], f"endpoint {ep.name} is listed for the tenant"
        for label, value in (("name", ep.name), ("caller-id number", ep.callerid_number)):
            if value and value in self.extension_owner:
                return self.extension_owner[value], f"its {label} {value} is one of the tenant's extensions"
        for aor in ep.aors:
            if aor in self.extension_owner:
                return self.extension_owner[aor], f"its AOR {aor} is one of the tenant's extensions"
        return None


def load_inventory(path: Path) -> Inventory:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InventoryError(f"{path}: no such inventory file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{path}: cannot read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InventoryError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: expected a mapping with a 'tenants' key")
    return Inventory.from_mapping(data, str(path))
