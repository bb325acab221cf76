"""The tenant's own facts as tables (`FactTable`), shown in the attestation beside the findings.

Titles and column headings are bilingual; cells are language-neutral plain strings: times as
"2026-11-25 01:30 UTC", yes/no as ✓/✗, nothing as "—", states as the platform reports them
("ok", "started", "DROP"). Checks fill a table's rows while they judge (`Findings.table`), so
the table shows exactly what the verdict rests on; only the tenant's own instances and records
go in, never another customer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from attest.attestation import FactTable, LocalizedText
from attest.engine import fmt_time

YES, NO, NONE = "✓", "✗", "—"
LAST_BACKUPS = 14  # backups listed per instance
LAST_RESTORE_TESTS = 10
MAX_SPANS = 20  # covered windows or gaps listed per instance

Column = tuple[str, str]  # (en, it)


def mark(value: Any) -> str:
    """✓ / ✗, or — when the value is unknown (None)."""
    return NONE if value is None else (YES if value else NO)


def cell(value: Any) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, bool):
        return mark(value)
    return str(value)


def at_epoch(epoch: Any) -> datetime | None:
    """The UTC instant of an epoch-seconds value, or None when it is not one."""
    try:
        return datetime.fromtimestamp(int(epoch), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def size(n: Any) -> str:
    """A byte count in binary units (1.5 GiB); — when unknown."""
    try:
        value = float(n)
    except (TypeError, ValueError):
        return NONE
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def keeps(keep: dict[str, Any] | None) -> str:
    """A retention policy as "keep-daily=7, keep-weekly=4"; — when none."""
    return ", ".join(f"{k}={v}" for k, v in sorted((keep or {}).items())) or NONE


def flags(items: dict[str, Any]) -> str:
    """"net0 ✓, net1 ✗" from {name: bool}."""
    return ", ".join(f"{name} {mark(value)}" for name, value in sorted(items.items())) or NONE


@dataclass
class Table:
    title: LocalizedText
    columns: list[LocalizedText]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        assert len(cells) == len(self.columns), (self.title["en"], cells)
        self.rows.append([cell(c) for c in cells])

    def fact_table(self) -> FactTable:
        return FactTable(title=self.title, columns=self.columns, rows=self.rows)


def table(en: str, it: str, *columns: Column) -> Table:
    return Table({"en": en, "it": it}, [{"en": c_en, "it": c_it} for c_en, c_it in columns])


INSTANCE: Column = ("Instance", "Istanza")
NODE: Column = ("Node", "Nodo")
FROM: Column = ("From (UTC)", "Da (UTC)")
TO: Column = ("To (UTC)", "A (UTC)")
