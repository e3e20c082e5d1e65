"""ERP passwords at rest: round trip, wrong key, missing key — and the secret never leaks."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from softone_sync.crypto import SecretDecryptError, SecretKeyMissing, decrypt_secret, encrypt_secret

PASSWORD = "Κωδικός-με-ελληνικά!42"  # non-ASCII on purpose: Greek ERP users have Greek passwords


@pytest.mark.parametrize(
    "key",
    [Fernet.generate_key().decode(), "a long operator passphrase", SecretStr("a long operator passphrase")],
    ids=["fernet-key", "passphrase", "secretstr"],
)
def test_round_trip(key: str | SecretStr) -> None:
    token = encrypt_secret(PASSWORD, key)
    assert PASSWORD not in token
    assert token != encrypt_secret(PASSWORD, key)  # random IV: equal passwords don't look equal
    assert decrypt_secret(token, key) == PASSWORD


def test_a_passphrase_derives_the_same_key_in_every_process() -> None:
    # A token written by one replica must decrypt on another with the same SECRET_KEY.
    token = (
        "gAAAAABrC1YdqyvSyTMMONrjVqyoBjLZZioSKGsZK9MFSGN6j1E0B69xLSWrv6eDCRh7umx6DMunLuBNY6sp1vOQ-ueDl1OaYw=="
    )
    assert decrypt_secret(token, "a long operator passphrase") == "demo"


def test_a_fernet_key_is_used_as_is() -> None:
    key = Fernet.generate_key()
    token = encrypt_secret(PASSWORD, key.decode())
    assert Fernet(key).decrypt(token.encode()).decode() == PASSWORD


def test_wrong_key_gives_a_clear_error_without_the_secret() -> None:
    token = encrypt_secret(PASSWORD, "the-right-passphrase")
    with pytest.raises(SecretDecryptError) as caught:
        decrypt_secret(token, "the-wrong-passphrase")
    message = str(caught.value)
    assert "SECRET_KEY" in message
    assert "the-wrong-passphrase" not in message and "the-right-passphrase" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_corrupt_token_is_a_decrypt_error() -> None:
    with pytest.raises(SecretDecryptError):
        decrypt_secret("not a token at all", "passphrase")


@pytest.mark.parametrize("key", [None, "", "   ", SecretStr("")])
def test_missing_key_says_what_to_set(key: str | SecretStr | None) -> None:
    with pytest.raises(SecretKeyMissing, match="set SECRET_KEY to encrypt ERP passwords"):
        encrypt_secret(PASSWORD, key)
    with pytest.raises(SecretKeyMissing):
        decrypt_secret("gAAAA", key)
