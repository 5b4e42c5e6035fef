"""NATS nkeys: Ed25519 keys in NATS's text encoding, for nkey authentication.

A key is base32 (no padding) of ``prefix ‖ key bytes ‖ CRC-16/XMODEM (little-endian)``. A user
seed (``SU...``) has the two prefix bytes ``(18 << 3) | (20 >> 5)``, ``(20 & 31) << 3`` and the
32-byte Ed25519 seed; a user public key (``U...``) has the prefix byte ``20 << 3`` and the
32-byte public key. Authentication signs the server's nonce (its UTF-8 bytes) with the seed.

Ed25519 comes from the `cryptography` package, imported only when a key is used: it is the
``cluster`` extra (``pip install 'noex-trio[cluster]'``), not a core dependency.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_SEED: Final = 18 << 3
_USER: Final = 20 << 3
_SEED_PREFIX: Final = bytes((_SEED | (_USER >> 5), (_USER & 31) << 3))
_MISSING: Final = (
    "nkey authentication needs the 'cryptography' package; "
    "install it with: pip install 'noex-trio[cluster]'"
)


def _crc16(data: bytes) -> int:
    """CRC-16/XMODEM (polynomial 0x1021, initial value 0), as nkeys uses."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        crc &= 0xFFFF
    return crc


def _encode(raw: bytes) -> str:
    raw += _crc16(raw).to_bytes(2, "little")
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    """The prefix and key bytes of an encoded key; ValueError if it is not one."""
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("not a base32 nkey") from None
    if len(raw) < 4 or _crc16(raw[:-2]) != int.from_bytes(raw[-2:], "little"):
        raise ValueError("nkey checksum mismatch")
    return raw[:-2]


def _ed25519() -> type[Ed25519PrivateKey]:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return Ed25519PrivateKey


def require_cryptography() -> None:
    """Raise a clear `ImportError` now if nkeys cannot be used (no `cryptography`)."""
    _ed25519()


def check_user_seed(seed: str) -> str:
    """`seed` if it is a user seed (``SU...``); ValueError otherwise. Needs no cryptography."""
    raw = _decode(seed)
    if len(raw) != 34 or raw[:2] != _SEED_PREFIX:
        raise ValueError("not a user nkey seed (SU...)")
    return seed


def _private_key(seed: str) -> Ed25519PrivateKey:
    return _ed25519().from_private_bytes(_decode(check_user_seed(seed))[2:])


def checked_seed(seed: object, what: str = "seed") -> str:
    """`seed` if it is a user seed; else the house-style TypeError/ValueError, which never
    shows the (secret) value."""
    if not isinstance(seed, str):
        raise TypeError(f"expected {what} to be a str, got a value of type {type(seed).__name__}")
    try:
        return check_user_seed(str.__str__(seed))
    except ValueError:
        raise ValueError(
            f"expected {what} to be a user nkey seed ('SU...'), got something else"
        ) from None


def public_key(seed: str) -> str:
    """The user public key (``U...``) of a user seed, for the server's configuration.

    Raises:
        TypeError / ValueError: `seed` is not a user seed.
        ImportError: the ``cryptography`` package is missing.
    """
    private = _private_key(checked_seed(seed))
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _encode(bytes((_USER,)) + key)


def sign(seed: str, nonce: str) -> str:
    """The signature of the server's `nonce`, as CONNECT's ``sig`` (raw URL-safe base64)."""
    signature = _private_key(seed).sign(nonce.encode())
    return base64.urlsafe_b64encode(signature).decode("ascii").rstrip("=")


def create_user_seed() -> str:
    """A new random user seed (``SU...``); `public_key` gives the key to put in the server's
    configuration. No cryptography is needed to make one."""
    return _encode(_SEED_PREFIX + os.urandom(32))
