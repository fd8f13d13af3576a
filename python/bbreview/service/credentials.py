"""Secrets at rest: the service account's API token, per-hook webhook secrets, the console password.

Encryption is AES-256-GCM in the native core (``bbreview._core.crypto``, OpenSSL).
The key is 32 bytes from, in order:

1. ``BBREVIEW_SECRET_KEY``: 64 hex characters, or the base64 of 32 bytes;
2. the key file ``<data_dir>/secret.key`` (64 hex characters), created with mode
   0600 on first use. A key file that group or others may read is refused.

Each sealed value is bound to its purpose with associated data, so a ciphertext
copied into another row (say, a hook secret into the token's place) does not
decrypt. The store only ever sees ciphertext; the token's summary
(:func:`token_info`) holds the last 4 characters and nothing else of it.

The console password is stored as a scrypt hash (memory-hard, N=2^15, r=8, p=1).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bbreview._native import core
from bbreview.errors import ConfigError, Error

__all__ = [
    "KEY_ENV",
    "KEY_FILE",
    "MIN_PASSWORD_LENGTH",
    "CredentialsError",
    "SecretBox",
    "save_token",
    "load_token",
    "delete_token",
    "has_token",
    "saved_token_marker",
    "token_info",
    "client_from_store",
    "hook_secrets",
    "seal_hook_secret",
    "open_hook_secret",
    "set_admin_password",
    "verify_admin_password",
    "has_admin_password",
]

log = logging.getLogger(__name__)
_crypto = core.crypto

KEY_ENV = "BBREVIEW_SECRET_KEY"
KEY_FILE = "secret.key"
#: The console password's minimum length (NIST SP 800-63B asks for at least 8; a
#: single administrator account protecting a repository-wide token deserves more).
MIN_PASSWORD_LENGTH = 12

# Settings keys in the store.
_TOKEN = "bitbucket.token"  # sealed JSON {"email", "token"}
_TOKEN_INFO = "bitbucket.token_info"  # plain JSON summary, no secret
_PASSWORD = "console.admin_password"  # scrypt PHC string

# Associated data: what a sealed value is for.
_AD_TOKEN = b"bbreview:bitbucket-token:v1"
_AD_HOOK = b"bbreview:hook-secret:v1:"


class CredentialsError(Error, ValueError):
    """A credential cannot be used: none saved, it does not decrypt, or a password is too weak."""


def _key_from_text(text: str) -> bytes | None:
    """32 bytes from 64 hex characters or from base64 (standard or URL-safe); None otherwise."""
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == _crypto.KEY_BYTES:
            return raw
    return None


class SecretBox:
    """Seals and opens secrets with one AES-256-GCM key. The key never leaves the object's
    private attribute and never appears in its repr.

    Build it with :meth:`load` (from the environment or the key file) or
    :meth:`from_key` (tests, or a key from another secret store).
    """

    __slots__ = ("_key", "source")

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) != _crypto.KEY_BYTES:
            raise ValueError(f"a SecretBox key is {_crypto.KEY_BYTES} bytes, not {len(key)}")
        self._key = bytes(key)
        #: Where the key came from: ``"env:BBREVIEW_SECRET_KEY"`` or the key file's path.
        self.source = source

    def __repr__(self) -> str:
        return f"SecretBox(source={self.source!r})"

    def __reduce__(self) -> Any:  # a key must not travel through pickle by accident
        raise TypeError("SecretBox cannot be pickled")

    @classmethod
    def from_key(cls, key: bytes, source: str = "given") -> SecretBox:
        return cls(key, source)

    @classmethod
    def load(cls, data_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None, *,
             create: bool = True) -> SecretBox:
        """The key from ``BBREVIEW_SECRET_KEY``, else from ``<data_dir>/secret.key``.

        The key file is created (mode 0600, 32 random bytes as hex) when it is
        missing and ``create`` is true. Raises :class:`ConfigError` for a bad
        variable, a key file that group or others may access, or a key file
        that holds no key; :class:`CredentialsError` when there is no key and
        ``create`` is false.
        """
        env = os.environ if env is None else env
        value = env.get(KEY_ENV)
        if value:
            key = _key_from_text(value)
            if key is None:
                raise ConfigError(
                    "is not a 32-byte key", KEY_ENV,
                    hint="use 64 hex characters or the base64 of 32 bytes, e.g. the output of "
                         "`python -c \"import secrets; print(secrets.token_hex(32))\"`",
                )
            return cls(key, f"env:{KEY_ENV}")
        path = Path(data_dir) / KEY_FILE
        key = _read_key_file(path)
        if key is None:
            if not create:
                raise CredentialsError(f"no secret key: set {KEY_ENV} or keep the key file {path}")
            key = _create_key_file(path)
        return cls(key, str(path))

    def seal(self, plaintext: bytes | str, associated: bytes = b"") -> bytes:
        """``b"\\x01" + nonce + ciphertext + tag``; a fresh nonce each call."""
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else bytes(plaintext)
        return _crypto.seal(self._key, data, associated)

    def open(self, sealed: bytes, associated: bytes = b"") -> bytes:
        """The plaintext; raises :class:`CredentialsError` when it does not authenticate
        (another key, other associated data, or modified bytes)."""
        try:
            return _crypto.open(self._key, bytes(sealed), associated)
        except _crypto.OpenError as exc:
            raise CredentialsError(
                f"a stored secret cannot be decrypted ({exc}); was the key ({self.source}) replaced? "
                "Save the token again (`bbreview token set`) and reinstall the webhooks"
            ) from None


def _check_mode(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError("the secret key file is not a regular file", source=str(path))
    if st.st_mode & 0o077:
        raise ConfigError(
            f"the secret key file is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o})",
            source=str(path), hint=f"run `chmod 600 {path}` (and check who could have read it)",
        )


def _read_key_file(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the secret key file: {exc.strerror}", source=str(path)) from None
    try:
        _check_mode(path, os.fstat(fd))
        text = b""
        # A concurrent creator may not have written the key yet: wait briefly for it.
        for _ in range(50):
            text = os.read(fd, 4096)
            if text.strip():
                break
            time.sleep(0.01)
            os.lseek(fd, 0, os.SEEK_SET)
    finally:
        os.close(fd)
    key = _key_from_text(text.decode("ascii", errors="replace"))
    if key is None:
        raise ConfigError("the secret key file does not hold a key (64 hex characters)", source=str(path),
                          hint="restore it from a backup, or remove it and save the token again")
    return key


def _create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = _crypto.random_bytes(_crypto.KEY_BYTES)
    try:
        # O_EXCL: never overwrite a key another process just created; 0600 from the start,
        # so there is no moment in which others could read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = _read_key_file(path)
        if existing is None:  # pragma: no cover - removed between the two calls
            raise ConfigError("the secret key file vanished while it was created", source=str(path)) from None
        return existing
    except OSError as exc:
        raise ConfigError(f"cannot create the secret key file: {exc.strerror}", source=str(path)) from None
    try:
        os.write(fd, (key.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("created the secret key file %s (mode 0600); back it up with the database", path)
    return key


# -- the API token ------------------------------------------------------------------------------


def save_token(store: Any, box: SecretBox, email: str, token: str, check: Any = None) -> dict[str, Any]:
    """Stores ``email`` + ``token`` encrypted, and a summary without the token.

    ``check`` is the validation result (a :class:`bbreview.service.admin.TokenCheck`
    or any object with ``user``, ``scopes`` and ``credential_type``); its fields go
    into the summary. Returns the summary (see :func:`token_info`).
    """
    if not email or not token:
        raise CredentialsError("both the account email and the API token are needed")
    sealed = box.seal(json.dumps({"email": email, "token": token}), _AD_TOKEN)
    info = {
        "email": email,
        "last4": token[-4:] if len(token) >= 8 else "",
        "user": dict(getattr(check, "user", None) or {}) or None,
        "scopes": sorted(getattr(check, "scopes", None) or ()),
        "credential_type": getattr(check, "credential_type", None),
        "saved_at": time.time(),
    }
    store.set_setting(_TOKEN, sealed)
    store.set_setting(_TOKEN_INFO, json.dumps(info))
    return info


def load_token(store: Any, box: SecretBox) -> tuple[str, str] | None:
    """``(email, token)`` of the saved token, or None when none is saved.
    Raises :class:`CredentialsError` when it does not decrypt with ``box``."""
    sealed = store.get_setting(_TOKEN)
    if sealed is None:
        return None
    data = json.loads(box.open(sealed, _AD_TOKEN))
    return str(data["email"]), str(data["token"])


def has_token(store: Any) -> bool:
    return store.get_setting(_TOKEN) is not None


def saved_token_marker(store: Any) -> bytes | None:
    """The sealed token as stored (ciphertext): changes whenever another token is saved,
    so a cached client can tell that it is stale. None when no token is saved."""
    return store.get_setting(_TOKEN)


def delete_token(store: Any) -> bool:
    """Forgets the saved token and its summary; False when none was saved."""
    had = store.delete_setting(_TOKEN)
    store.delete_setting(_TOKEN_INFO)
    return had


def token_info(store: Any) -> dict[str, Any] | None:
    """The saved token's summary: ``email``, ``last4``, ``user`` (display_name,
    nickname, uuid, account_id, avatar_url), ``scopes``, ``credential_type`` and
    ``saved_at`` (unix seconds). Never the token. None when no token is saved."""
    if store.get_setting(_TOKEN) is None:
        return None
    raw = store.get_setting(_TOKEN_INFO)
    try:
        info = json.loads(raw) if raw else {}
    except ValueError:
        info = {}
    return {
        "email": info.get("email"),
        "last4": info.get("last4", ""),
        "user": info.get("user"),
        "scopes": list(info.get("scopes") or []),
        "credential_type": info.get("credential_type"),
        "saved_at": info.get("saved_at"),
    }


def client_from_store(store: Any, config: Any, env: Mapping[str, str] | None = None) -> Any:
    """A Bitbucket :class:`~bbreview.bitbucket.Client` with the saved token, against
    ``config.api_url`` (trusting ``config.ca_file``); None when no token is saved.
    Raises :class:`CredentialsError` when the token does not decrypt."""
    if store.get_setting(_TOKEN) is None:
        return None
    box = SecretBox.load(config.data_dir, env, create=False)
    saved = load_token(store, box)
    if saved is None:  # pragma: no cover - deleted between the two reads
        return None
    from bbreview.bitbucket import Client

    email, token = saved
    return Client(email=email, token=token, base_url=config.api_url, ca_file=config.ca_file or None)


# -- per-hook secrets ---------------------------------------------------------------------------


def _hook_ad(full_name: str) -> bytes:
    return _AD_HOOK + full_name.encode("utf-8")


def seal_hook_secret(box: SecretBox, full_name: str, secret: str) -> bytes:
    """The webhook secret of ``full_name``'s hook, sealed for the installations table."""
    return box.seal(secret, _hook_ad(full_name))


def open_hook_secret(box: SecretBox, full_name: str, sealed: bytes) -> str:
    """The secret sealed by :func:`seal_hook_secret` for ``full_name``."""
    return box.open(sealed, _hook_ad(full_name)).decode("utf-8")


def hook_secrets(store: Any, config: Any, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{hook uuid without braces: secret}`` for every active installation with a secret.

    An installation whose secret does not decrypt is left out with a warning
    (``bbreview doctor`` reports it), so one bad row never stops the service.
    """
    rows = [i for i in store.installations() if i.active and i.hook_uuid and i.secret]
    if not rows:
        return {}
    box = SecretBox.load(config.data_dir, env, create=False)
    out: dict[str, str] = {}
    for inst in rows:
        try:
            out[inst.hook_uuid.strip("{}").lower()] = open_hook_secret(box, inst.full_name, inst.secret)
        except CredentialsError:
            log.warning("the webhook secret of %s does not decrypt; reinstall its webhook", inst.full_name)
    return out


# -- the console's administrator password ----------------------------------------------------------


def set_admin_password(store: Any, password: str) -> None:
    """Stores a scrypt hash of ``password``. Raises :class:`CredentialsError` when it
    is shorter than :data:`MIN_PASSWORD_LENGTH` characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise CredentialsError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if not password.strip():
        raise CredentialsError("the password must not be only spaces")
    store.set_setting(_PASSWORD, _crypto.hash_password(password))


def verify_admin_password(store: Any, password: str) -> bool:
    """True when ``password`` is the administrator password (constant-time comparison).
    False when none is set."""
    encoded = store.get_setting(_PASSWORD)
    if encoded is None or not isinstance(password, str):
        return False
    return bool(_crypto.verify_password(password, encoded.decode("ascii", errors="replace")))


def has_admin_password(store: Any) -> bool:
    return store.get_setting(_PASSWORD) is not None
