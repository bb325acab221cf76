"""Password hashing (argon2id, argon2-cffi's current defaults) and the minimum password policy.

A hash made with older parameters is replaced at the next successful sign-in (`needs_rehash`),
so raising the cost later upgrades accounts as their users come back. Passwords are never
logged, audited or stored in clear.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a cap keeps a megabyte "password" from costing much


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the account does not exist, so an unknown username costs as much
    # time as a wrong password: timing does not tell which usernames exist.
    return hasher().hash("attest-dummy-password-never-matches")


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether *password* matches *stored* (an argon2 hash). With no stored hash (an unknown
    account, or one whose password was never set), a dummy hash is verified anyway, for timing."""
    try:
        if stored is None:
            hasher().verify(_dummy_hash(), password[:MAX_LENGTH])
            return False
        return hasher().verify(stored, password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether *stored* was made with other parameters than the current ones."""
    try:
        return hasher().check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


def policy_problem(username: str, password: str) -> str | None:
    """Why *password* is not acceptable for *username*, or None when it is."""
    if len(password) < MIN_LENGTH:
        return f"the password must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"the password must be at most {MAX_LENGTH} characters long"
    if not password.strip():
        return "the password cannot be only spaces"
    folded = password.casefold()
    name = username.casefold()
    if folded == name or (len(name) >= 3 and name in folded):
        return "the password must not contain the username"
    return None
