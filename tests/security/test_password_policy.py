"""Password policy per NIST SP 800-63B rev 4 and ASVS v5.0.0 6.2 (requirement S10, S11).

Length over composition: 15 characters at least (the console signs in with a password
alone), 64 and more accepted, any Unicode, no rule about digits or symbols, a blocklist
of common and breached passwords, never truncated, hashed with argon2id.
"""

from __future__ import annotations

import asyncio

import pytest

from raxx.console.auth.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    WeakPassword,
    check_policy,
    common_passwords,
    hash_password_sync,
    verify_password,
)


@pytest.mark.parametrize(
    "password",
    [
        "purple elephants dance at noon",  # spaces, lower case only: no composition rule (ASVS 6.2.5)
        "a" * 7 + "bcdefghijklmnop",  # letters only
        "x" * 40 + "quite a long passphrase indeed, 64 chars+",  # 64 and more (ASVS 6.2.9)
        "pässwörter sind länger",  # Unicode
        "日本語のパスフレーズです、長い",  # 15 code points of CJK
        "🦖🦕 dinosaurs roam freely",  # emoji
        "\tleading tab and trailing space ",  # whitespace is part of the password
    ],
)
def test_long_passwords_of_any_composition_are_accepted(password: str) -> None:
    check_policy(password, username="olga")


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("fourteen chars", "at least 15"),  # 14 characters
        ("Tr0ub4dor&3!xy", "at least 15"),  # complex but short: composition does not buy length
        ("x" * (MAX_LENGTH + 1), "at most"),
        ("1234567891234567", "common or breached"),
        ("qwertyuiopasdfghjkl", "common or breached"),
        ("PasswordPassword", "common or breached"),  # the list is checked case-insensitively
        ("olga-is-the-operator", "user name"),
        ("aaaaaaaaaaaaaaaaaaaa", "repeats"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, why: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_policy(password, username="olga")
    assert why in str(refused.value.detail)
    assert refused.value.status_code == 400
    assert refused.value.code == "weak_password"


def test_the_minimum_is_nists_single_factor_minimum() -> None:
    assert MIN_LENGTH == 15
    check_policy("a passphrase ok", username="olga")  # exactly 15
    with pytest.raises(WeakPassword):
        check_policy("a passphrase o", username="olga")  # 14


def test_the_bundled_blocklist_is_large_and_lower_cased() -> None:
    """ASVS 6.2.4 asks for at least the top 3000; the bundle holds Django's 20,000 too."""
    listed = common_passwords()
    assert len(listed) > 19_000
    assert all(entry == entry.lower() for entry in listed)
    for known in ("123456", "password", "iloveyou", "trustno1", "qwertyuiop", "1q2w3e4r5t"):
        assert known in listed


def test_a_long_password_is_never_truncated() -> None:
    password = "never truncate " * 8  # 120 characters, past bcrypt's 72-byte cut-off
    stored = hash_password_sync(password)
    assert asyncio.run(verify_password(stored, password))
    assert not asyncio.run(verify_password(stored, password[:72]))
    assert not asyncio.run(verify_password(stored, password[:-1]))
    assert not asyncio.run(verify_password(stored, password.upper()))  # nor case-folded (ASVS 6.2.8)


def test_unicode_is_normalized_so_one_passphrase_has_one_form() -> None:
    composed, decomposed = "caf\u00e9 au lait, s'il vous pla\u00eet", "cafe\u0301 au lait, s'il vous plai\u0302t"
    assert composed != decomposed
    stored = hash_password_sync(composed)
    assert asyncio.run(verify_password(stored, decomposed))


def test_hashes_are_argon2id_at_least_owasps_minimum(production_hasher: None) -> None:
    """Password Storage CS: argon2id, m >= 19 MiB, t >= 2, p >= 1 (S11)."""
    stored = hash_password_sync("some long passphrase here")
    assert stored.startswith("$argon2id$")
    params = dict(part.split("=") for part in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19456
    assert int(params["t"]) >= 2
    assert int(params["p"]) >= 1
