"""Secrets at rest: the AES-256-GCM box and its key, the saved token, hook secrets, the console password."""

from __future__ import annotations

import base64
import logging
import os
import stat
import threading
import time

import pytest

from bbreview._native import core
from bbreview.bitbucket import Client
from bbreview.errors import ConfigError
from bbreview.service import credentials
from bbreview.service.config import ServiceConfig
from bbreview.service.credentials import CredentialsError, SecretBox
from bbreview.store import SQLiteStore
from bbreview.testing import FakeBitbucket, seed_demo

KEY_HEX = "00112233445566778899aabbccddeeff" * 2


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(str(tmp_path / "bbreview.db"))
    yield s
    s.close()


@pytest.fixture
def box():
    return SecretBox.from_key(bytes.fromhex(KEY_HEX))


def _file_bytes(tmp_path) -> bytes:
    """Every byte SQLite wrote: the database, its WAL and any journal."""
    return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("bbreview.db"))


# -- the native primitives --------------------------------------------------------------------------


def test_native_seal_round_trips_and_rejects_tampering():
    c = core.crypto
    key = c.random_bytes(c.KEY_BYTES)
    sealed = c.seal(key, b"secret", b"purpose")
    assert sealed[0] == c.SEAL_VERSION and len(sealed) == len(b"secret") + c.SEAL_OVERHEAD
    assert c.open(key, sealed, b"purpose") == b"secret"
    flipped = bytes([sealed[0]]) + bytes([sealed[1] ^ 1]) + sealed[2:]
    for bad_key, data, ad in ((key, flipped, b"purpose"), (c.random_bytes(32), sealed, b"purpose"),
                              (key, sealed, b"other"), (key, sealed[:10], b"purpose")):
        with pytest.raises(c.OpenError):
            c.open(bad_key, data, ad)
    with pytest.raises(ValueError, match="32 bytes"):
        c.seal(b"short", b"x")


def test_scrypt_hash_is_a_phc_string_that_verifies():
    c = core.crypto
    h = c.hash_password("correct horse battery", 10)
    assert h.startswith("$scrypt$ln=10,r=8,p=1$")
    assert c.verify_password("correct horse battery", h)
    assert not c.verify_password("correct horse batterz", h)
    assert not c.verify_password("x", "not a hash")
    assert c.password_params(h) == (10, 8, 1)


def test_scrypt_releases_the_gil_while_it_hashes():
    start = time.perf_counter()
    core.crypto.hash_password("a long enough password")
    one_hash = time.perf_counter() - start
    done = threading.Event()

    def work() -> None:
        for _ in range(3):
            core.crypto.hash_password("a long enough password")
        done.set()

    t = threading.Thread(target=work)
    longest_stall = 0.0
    last = time.perf_counter()
    t.start()
    while not done.is_set():
        now = time.perf_counter()
        longest_stall = max(longest_stall, now - last)
        last = now
    t.join()
    # Were the GIL held during a hash, this loop would stall for a whole hash at a time.
    assert longest_stall < one_hash / 2, (longest_stall, one_hash)


# -- the key ----------------------------------------------------------------------------------------


def test_key_from_env_accepts_hex_and_base64(tmp_path):
    b64 = base64.b64encode(bytes.fromhex(KEY_HEX)).decode()
    for value in (KEY_HEX, KEY_HEX.upper(), b64, b64.rstrip("=")):
        box = SecretBox.load(tmp_path, {"BBREVIEW_SECRET_KEY": value})
        assert box.open(SecretBox.from_key(bytes.fromhex(KEY_HEX)).seal(b"x")) == b"x"
        assert box.source == "env:BBREVIEW_SECRET_KEY"
    assert not (tmp_path / "secret.key").exists()


@pytest.mark.parametrize("value", ["abc", "zz" * 32, base64.b64encode(b"16 bytes only!!!").decode()])
def test_a_bad_env_key_names_the_variable_and_the_format(tmp_path, value):
    with pytest.raises(ConfigError) as info:
        SecretBox.load(tmp_path, {"BBREVIEW_SECRET_KEY": value})
    text = str(info.value)
    assert "BBREVIEW_SECRET_KEY" in text and "64 hex characters" in text and "base64 of 32 bytes" in text
    assert value not in text


def test_key_file_is_created_with_mode_0600_and_reused(tmp_path):
    box = SecretBox.load(tmp_path, {})
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    sealed = box.seal("token")
    again = SecretBox.load(tmp_path, {})
    assert again.open(sealed) == b"token"
    assert again.source == str(path)


def test_a_key_file_readable_by_others_is_refused(tmp_path):
    SecretBox.load(tmp_path, {})
    path = tmp_path / "secret.key"
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError) as info:
        SecretBox.load(tmp_path, {})
    assert "group or others" in str(info.value) and "0644" in str(info.value)
    assert f"chmod 600 {path}" in str(info.value)
    assert path.read_text().strip() not in str(info.value)


def test_a_key_file_without_a_key_is_refused(tmp_path):
    path = tmp_path / "secret.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key\n")
    os.close(fd)
    with pytest.raises(ConfigError, match="does not hold a key"):
        SecretBox.load(tmp_path, {})


def test_no_key_and_no_creation_is_a_clear_error(tmp_path):
    with pytest.raises(CredentialsError, match="BBREVIEW_SECRET_KEY"):
        SecretBox.load(tmp_path, {}, create=False)
    assert not (tmp_path / "secret.key").exists()


def test_box_binds_values_to_their_purpose_and_hides_its_key(box):
    sealed = box.seal("hook secret", b"one")
    assert box.open(sealed, b"one") == b"hook secret"
    with pytest.raises(CredentialsError, match="cannot be decrypted"):
        box.open(sealed, b"two")
    with pytest.raises(CredentialsError):
        SecretBox.from_key(b"\x01" * 32).open(sealed, b"one")
    assert KEY_HEX not in repr(box) and "\\x00\\x11" not in repr(box)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(box)


# -- the token --------------------------------------------------------------------------------------


class _Check:
    user = {"display_name": "Review Bot", "uuid": "{u}", "account_id": "557058:x", "nickname": "rb",
            "avatar_url": None}
    scopes = ("read:user:bitbucket",)
    credential_type = "api_token"


def test_the_token_is_encrypted_at_rest(tmp_path, store, box):
    token = "ATATT3xFAKE-token-value-0123456789Wxyz"
    credentials.save_token(store, box, "bot@example.com", token, _Check())
    assert credentials.load_token(store, box) == ("bot@example.com", token)
    raw = _file_bytes(tmp_path)
    assert token.encode() not in raw
    assert b"token-value" not in raw
    info = credentials.token_info(store)
    assert info is not None
    assert info["last4"] == "Wxyz" and info["email"] == "bot@example.com"
    assert info["user"]["account_id"] == "557058:x" and info["scopes"] == ["read:user:bitbucket"]
    assert isinstance(info["saved_at"], float)
    assert token not in repr(info)


def test_the_token_does_not_open_with_another_key(store, box):
    credentials.save_token(store, box, "bot@example.com", "ATATT3x-secret-9999", _Check())
    with pytest.raises(CredentialsError, match="bbreview token set"):
        credentials.load_token(store, SecretBox.from_key(b"\x02" * 32))


def test_nothing_saved_means_none(store, box, tmp_path):
    assert credentials.load_token(store, box) is None
    assert credentials.token_info(store) is None
    config = ServiceConfig(data_dir=str(tmp_path))
    assert credentials.client_from_store(store, config, {}) is None
    assert credentials.hook_secrets(store, config, {}) == {}
    assert not (tmp_path / "secret.key").exists()


def test_client_from_store_talks_to_bitbucket_with_the_saved_token(tmp_path, store):
    with FakeBitbucket(seed=5) as fb:
        demo = seed_demo(fb)
        env = {"BBREVIEW_SECRET_KEY": KEY_HEX}
        config = ServiceConfig(data_dir=str(tmp_path), api_url=fb.base_url)
        box = SecretBox.load(tmp_path, env)
        credentials.save_token(store, box, demo.admin.email, demo.token.token)
        client = credentials.client_from_store(store, config, env)
        assert isinstance(client, Client)
        assert client.current_user()["uuid"] == demo.admin.uuid
        assert demo.token.token not in repr(client)


# -- hook secrets -----------------------------------------------------------------------------------


def test_hook_secrets_are_decrypted_by_hook_uuid_without_braces(tmp_path, store, caplog):
    env = {"BBREVIEW_SECRET_KEY": KEY_HEX}
    box = SecretBox.load(tmp_path, env)
    config = ServiceConfig(data_dir=str(tmp_path))
    store.save_installation("acme/app", hook_uuid="{AAAA-1}", secret=credentials.seal_hook_secret(box, "acme/app", "s1"))
    store.save_installation("acme/off", hook_uuid="{bbbb-2}", active=False,
                            secret=credentials.seal_hook_secret(box, "acme/off", "s2"))
    # A secret sealed for another repository must not be accepted for this one.
    store.save_installation("acme/moved", hook_uuid="{cccc-3}",
                            secret=credentials.seal_hook_secret(box, "acme/app", "s3"))
    caplog.set_level(logging.DEBUG)
    assert credentials.hook_secrets(store, config, env) == {"aaaa-1": "s1"}
    assert "acme/moved" in caplog.text and "s3" not in caplog.text
    assert b"s1" not in store.hook_secrets()["{AAAA-1}"]


# -- the console password ---------------------------------------------------------------------------


def test_admin_password_is_a_scrypt_hash_and_verifies(tmp_path, store):
    assert not credentials.has_admin_password(store)
    assert not credentials.verify_admin_password(store, "anything at all")
    credentials.set_admin_password(store, "correct horse battery")
    assert credentials.has_admin_password(store)
    assert credentials.verify_admin_password(store, "correct horse battery")
    assert not credentials.verify_admin_password(store, "correct horse batterY")
    raw = _file_bytes(tmp_path)
    assert b"correct horse" not in raw and b"$scrypt$ln=15,r=8,p=1$" in raw


@pytest.mark.parametrize("password", ["short", "eleven char", " " * 12])
def test_a_weak_admin_password_is_refused_with_the_rule(store, password):
    with pytest.raises(CredentialsError) as info:
        credentials.set_admin_password(store, password)
    assert "12" in str(info.value) or "spaces" in str(info.value)
    assert not credentials.has_admin_password(store)
