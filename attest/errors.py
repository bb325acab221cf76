"""Errors the command line turns into exit codes (DESIGN.md §7)."""

from __future__ import annotations


class AttestError(Exception):
    """Base class: a message meant for the operator, never carrying a secret."""

    exit_code = 2


class BadInput(AttestError):
    """Bad configuration, arguments or files: exit 2."""

    exit_code = 2


class CheckFailed(AttestError):
    """The thing checked failed (verification, evidence verification): exit 1."""

    exit_code = 1
