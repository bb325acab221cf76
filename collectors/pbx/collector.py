"""The PBX collector: read one Asterisk/FreePBX instance (folder or SSH) and store what was read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collectors.base import Emitter
from collectors.pbx.dump import PbxDump
from collectors.pbx.evidence import SECTION, TREE_KIND, dump_payload


@dataclass
class AsteriskCollector:
    source_id: str
    read: Callable[[], PbxDump]  # raises PbxAccessError (a SourceFailed) when the PBX cannot be read
    source_type: str = "asterisk"

    def collect(self, out: Emitter) -> None:
        dump = self.read()
        dump.instance = self.source_id
        payload, artifacts = dump_payload(dump, out.artifact)
        # Files that could not be read are listed in the record (with why); the analysis turns them
        # into not-evaluated checks. The section is still read through: nothing else was left out.
        out.record(TREE_KIND, f"{self.source_id}/tree", payload, artifacts=artifacts)
        out.completed(SECTION)
