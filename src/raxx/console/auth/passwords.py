"""Password hashing (argon2id) and policy (NIST SP 800-63B: length over composition).

The console signs in with a password alone (single-factor), so NIST SP 800-63B rev 4
asks for at least 15 characters; no composition rules, any Unicode, up to 128
characters, never truncated; a blocklist of common and breached passwords. A password
is NFKC-normalized before it is measured, hashed or verified (800-63B 5.1.1.2), so the
same passphrase typed on two keyboards is the same password.

Hashing runs in a worker thread: argon2id is deliberately slow and must not stall the
event loop that serves everyone else.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib.resources import files

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from raxx.common.errors import BadRequest

MIN_LENGTH = 15  # NIST SP 800-63B rev 4: single-factor passwords SHALL be at least 15
MAX_LENGTH = 128
# argon2id, RFC 9106 low-memory profile: what every deployment hashes with. (The test suite
# swaps ``_hasher`` for a cheap one where the cost is not what a test judges; see
# tests/fixtures/passwords.py. Verification reads the parameters from the stored hash.)
PRODUCTION_HASHER = PasswordHasher()
_hasher = PRODUCTION_HASHER
# Verified against when the user does not exist, so timing does not reveal valid names.
_DUMMY_HASH = _hasher.hash("raxx-dummy-password-for-timing")


class WeakPassword(BadRequest):
    code = "weak_password"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """A bundled list of common and breached passwords (lower-cased)."""
    text = (files("raxx.console.auth") / "common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def normalized(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, *, username: str = "") -> None:
    """Refuse short, over-long, common or name-derived passwords; never demand symbols."""
    password = normalized(password)
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"use at least {MIN_LENGTH} characters (a passphrase works well)")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"use at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in common_passwords():
        raise WeakPassword("this password appears in lists of common or breached passwords")
    if username and username.lower() in lowered:
        raise WeakPassword("the password must not contain the user name")
    if len(set(password)) < 4:
        raise WeakPassword("the password repeats too few characters")


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, normalized(password))


def hash_password_sync(password: str) -> str:
    return _hasher.hash(normalized(password))


async def verify_password(password_hash: str | None, password: str) -> bool:
    def _verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, normalized(password)) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(_verify)
