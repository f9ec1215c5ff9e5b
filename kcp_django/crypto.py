"""Encryption of values at rest (AES-256-GCM with a key ring) and the blind index over account numbers.

A token looks like ``kcp1$<key id>$<urlsafe base64 of nonce | ciphertext | tag>`` (no padding): the
format version and the key id travel with the value, so keys can rotate while old values still read.
Nothing here touches the database.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes

from kcp_django import conf
from kcp_django.exceptions import DecryptionError

__all__ = [
    "FORMAT_VERSION",
    "KEY_SIZE",
    "NONCE_SIZE",
    "TAG_SIZE",
    "KeyRing",
    "blind_index",
    "decode_key",
    "is_token",
    "last_four",
]

FORMAT_VERSION = "kcp1"
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32
_TOKEN = re.compile(rf"{FORMAT_VERSION}\$([A-Za-z0-9_-]{{1,16}})\$([A-Za-z0-9_-]+)")


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class KeyRing:
    """AES-256-GCM keys by id: the first encrypts, every one decrypts."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        self._keys: dict[str, bytes] = {}
        for key_id, key in keys:
            if not conf.KEY_ID_PATTERN.fullmatch(key_id):
                raise ValueError(f"Key id {key_id!r} must be 1-16 letters, digits, '-' or '_'.")
            if len(key) != KEY_SIZE:
                raise ValueError(f"Key {key_id!r} must be {KEY_SIZE} bytes, not {len(key)}.")
            if key_id in self._keys:
                raise ValueError(f"Key id {key_id!r} appears twice.")
            self._keys[key_id] = bytes(key)
        if not self._keys:
            raise ValueError("A key ring needs at least one key.")

    @classmethod
    def from_settings(cls) -> KeyRing:
        """The ring of ``KCP_ENCRYPTION_KEYS`` as configured now: one ring per value of the setting,
        built once (``override_settings`` gives its own value, hence its own ring)."""
        return _ring_of(tuple(conf.kcp_settings.ENCRYPTION_KEYS))

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    @property
    def primary_key_id(self) -> str:
        return next(iter(self._keys))

    def encrypt(self, plaintext: str, *, associated_data: bytes) -> str:
        """Encrypt with the first key. ``associated_data`` must be given again to decrypt."""
        key_id = self.primary_key_id
        nonce = get_random_bytes(NONCE_SIZE)
        cipher = AES.new(self._keys[key_id], AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE)
        cipher.update(_authenticated_header(key_id) + associated_data)
        ciphertext, tag = cipher.encrypt_and_digest(plaintext.encode("utf-8"))
        return f"{FORMAT_VERSION}${key_id}${_b64encode(nonce + ciphertext + tag)}"

    def decrypt(self, token: str, *, associated_data: bytes) -> str:
        """The plaintext of ``token``, or :class:`DecryptionError`; never a guess."""
        key_id, blob = _parse(token)
        key = self._keys.get(key_id)
        if key is None:
            configured = ", ".join(self._keys)
            raise DecryptionError(
                f"the value was encrypted with key {key_id!r}, which is not in KCP_ENCRYPTION_KEYS "
                f"(configured: {configured}); add that key back to read it.",
                key_id=key_id,
                missing_key=True,
            )
        nonce, ciphertext, tag = blob[:NONCE_SIZE], blob[NONCE_SIZE:-TAG_SIZE], blob[-TAG_SIZE:]
        cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE)
        cipher.update(_authenticated_header(key_id) + associated_data)
        try:
            plaintext = cipher.decrypt_and_verify(ciphertext, tag)
        except ValueError:
            raise DecryptionError(
                f"authentication failed with key {key_id!r}: the value was altered, or it belongs to "
                "another field (its associated data differs).",
                key_id=key_id,
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError("the decrypted value is not UTF-8 text.", key_id=key_id) from None

    def key_id_of(self, token: str) -> str:
        """The id of the key that encrypted ``token`` (:class:`DecryptionError` if it is malformed)."""
        return _parse(token)[0]

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` was not encrypted with the first (newest) key."""
        return self.key_id_of(token) != self.primary_key_id


@functools.lru_cache(maxsize=8)
def _ring_of(keys: tuple[tuple[str, bytes], ...]) -> KeyRing:
    # Keyed on the keys themselves: a changed setting is a new entry, never a stale ring.
    return KeyRing(keys)


def is_token(value: str) -> bool:
    """True when ``value`` has the shape of a token (``kcp1$<key id>$<data>``); nothing is decrypted.

    Account numbers and other plaintext never contain ``$``, so a value of this shape is taken for a
    token that was already encrypted (e.g. one read back from ``dumpdata``), never encrypted again.
    """
    return _TOKEN.fullmatch(value) is not None


def decode_key(encoded: str, *, name: str) -> bytes:
    """The 32 bytes of a key written as urlsafe base64 (as ``kcp_generate_keys`` prints them).

    ``name`` (where the key came from, e.g. an environment variable) goes into the error message;
    the key itself never does.
    """
    encoded = encoded.strip()
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} is not valid base64 (make keys with `manage.py kcp_generate_keys`).") from None
    if len(raw) != KEY_SIZE:
        raise ValueError(f"{name} must decode to {KEY_SIZE} bytes, not {len(raw)}.")
    return raw


def _authenticated_header(key_id: str) -> bytes:
    # The version and key id are authenticated too. Key ids cannot contain "$", so the header's end
    # is unambiguous and the caller's associated data cannot be confused with it.
    return f"{FORMAT_VERSION}${key_id}$".encode("ascii")


def _parse(token: str) -> tuple[str, bytes]:
    # Never put the value itself in a message: a row holding plaintext must not leak it into logs.
    bad_format = DecryptionError(f"not a kcp_django ciphertext (expected '{FORMAT_VERSION}$<key id>$<base64 data>').")
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise bad_format
    key_id, data = match.groups()
    try:
        blob = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        raise bad_format from None
    # Base64 can spell the same bytes in more than one way; accept only our own spelling so that
    # any change to the token is an error.
    if _b64encode(blob) != data or len(blob) < NONCE_SIZE + TAG_SIZE:
        raise bad_format
    return key_id, blob


def _digits(value: str) -> str:
    if value.isascii() and value.isdigit():
        return value  # already what the rest makes of it: a checked account number is
    # Any Unicode decimal digit counts (a full-width "１" from a Korean IME is a 1), written as ASCII.
    return "".join(str(int(char)) for char in value if char.isdecimal())


def blind_index(bank_code: str, account_no: str, *, key: bytes | None = None) -> str:
    """HMAC-SHA256 (hex) of ``"<two-digit bank code>:<account digits>"``, to find a row by its account.

    Formatting is ignored: ``("4", "123-456 789")`` and ``("04", "123456789")`` give the same index.
    ``key`` defaults to ``KCP_INDEX_KEY``.
    """
    code = bank_code.strip()
    if not code.isdecimal():
        raise ValueError("The bank code must be digits, e.g. '04'.")
    digits = _digits(account_no)
    if not digits:
        raise ValueError("The account number has no digits.")
    canonical = f"{int(code):02d}:{digits}"
    index_key = conf.kcp_settings.INDEX_KEY if key is None else key
    return hmac.new(index_key, canonical.encode("ascii"), hashlib.sha256).hexdigest()


def last_four(account_no: str) -> str:
    """The last four digits, or ``""`` when the number has four digits or fewer (never show it whole)."""
    digits = _digits(account_no)
    return digits[-4:] if len(digits) > 4 else ""
