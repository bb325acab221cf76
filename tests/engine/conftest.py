"""Fixtures shared by the control tests: an empty evidence log and the test configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from attest.config import LoadedConfig
from evidence.log import EvidenceLog
from tests.engine.builder import config_doc, load


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EvidenceLog]:
    opened = EvidenceLog.open(f"sqlite:///{tmp_path / 'attest.db'}", tmp_path / "evidence")
    yield opened
    opened.close()


@pytest.fixture
def config(tmp_path: Path) -> LoadedConfig:
    return load(config_doc(), tmp_path)
