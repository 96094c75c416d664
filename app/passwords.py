"""Password hashing: argon2id at OWASP's minimum, and werkzeug's scrypt hashes still verified.

argon2 is imported on first use, so requests that never touch a password (the seed's
curls, every open account) do not pay for loading it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

# OWASP Password Storage Cheat Sheet, argon2id minimum: m=19 MiB, t=2, p=1.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
ARGON2_PREFIX = "$argon2id$"
# What the first version of this service stored (werkzeug's generate_password_hash).
LEGACY_PREFIXES = ("scrypt:", "pbkdf2:")


@functools.cache
def hasher() -> PasswordHasher:
    import argon2

    return argon2.PasswordHasher(
        time_cost=ARGON2_TIME_COST,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_PARALLELISM,
        type=argon2.Type.ID,
    )


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """The libraries' own constant-time comparisons; False for any hash we cannot read."""
    if stored_hash.startswith(ARGON2_PREFIX):
        import argon2.exceptions

        try:
            return hasher().verify(stored_hash, password)
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            return False
    if stored_hash.startswith(LEGACY_PREFIXES):
        from werkzeug.security import check_password_hash

        return check_password_hash(stored_hash, password)
    return False


def needs_rehash(stored_hash: str) -> bool:
    """True for legacy scrypt hashes and for argon2 hashes whose parameters differ from
    the current ones (argon2-cffi compares for equality, so lowering the parameters here
    would re-hash stored hashes down to them on the next login)."""
    if not stored_hash.startswith(ARGON2_PREFIX):
        return True
    return hasher().check_needs_rehash(stored_hash)
