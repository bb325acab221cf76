"""Collecting what a check found about each instance, then turning it into one verdict.

A proven violation is a fail even when other parts could not be judged (a violation shown is a
violation); otherwise anything that could not be proven makes the result insufficient evidence;
only when every part was proven is it a pass. No verdict is written by hand in the checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from attest.attestation import LocalizedText, Verdict
from attest.controls.instances import dedupe
from attest.controls.tables import Column, Table, table
from attest.engine import CheckOutcome
from evidence.log import StoredRecord

MAX_IN_REASON = 3


def text(en: str, it: str) -> LocalizedText:
    return {"en": en, "it": it}


def day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class Findings:
    problems: list[LocalizedText] = field(default_factory=list)
    gaps: list[LocalizedText] = field(default_factory=list)
    facts: list[LocalizedText] = field(default_factory=list)
    used: list[StoredRecord] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    def table(self, en: str, it: str, *columns: Column) -> Table:
        """A new table of the tenant's facts, shown with the outcome when it has rows."""
        self.tables.append(table(en, it, *columns))
        return self.tables[-1]

    def problem(self, en: str, it: str) -> None:
        self.problems.append(text(en, it))

    def gap(self, en: str, it: str) -> None:
        self.gaps.append(text(en, it))

    def fact(self, en: str, it: str) -> None:
        self.facts.append(text(en, it))

    def cite(self, *records: StoredRecord | None) -> None:
        self.used += [r for r in records if r is not None]

    def outcome(self, passed: LocalizedText) -> CheckOutcome:
        if self.problems:
            verdict, reason = Verdict.FAIL, _summary(self.problems)
        elif self.gaps:
            verdict, reason = Verdict.INSUFFICIENT_EVIDENCE, _summary(self.gaps)
        else:
            verdict, reason = Verdict.PASS, passed
        return CheckOutcome(verdict, reason, self._facts(), dedupe(self.used),
                            [t.fact_table() for t in self.tables if t.rows])

    def _facts(self) -> list[LocalizedText]:
        # Every problem and gap is also a fact, so none is lost when the reason shows only a few.
        return self.facts + [p for p in self.problems + self.gaps if p not in self.facts]


def _summary(items: list[LocalizedText]) -> LocalizedText:
    shown = items[:MAX_IN_REASON]
    more = len(items) - len(shown)
    return {lang: " ".join(i[lang] for i in shown) + (
        (f" ({more} more finding(s) below.)" if lang == "en" else f" (altri {more} rilievi sotto.)") if more else "")
        for lang in ("en", "it")}
