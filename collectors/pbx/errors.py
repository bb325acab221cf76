"""Errors of PBX access (local folder or SSH)."""

from __future__ import annotations

from collectors.base import SourceFailed


class PbxAccessError(SourceFailed):
    """The PBX could not be read at all: the folder is missing or empty, the SSH connection, the
    host key check or the authentication failed, the configuration folder cannot be listed.
    The message is shown to the operator; it never holds a secret (no passphrase, no key)."""
