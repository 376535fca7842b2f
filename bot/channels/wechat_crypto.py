"""Signatures and message encryption of the WeChat Official Account callback (公众号消息加解密).

Plaintext mode signs the URL: signature = sha1 of the sorted, concatenated [token, timestamp,
nonce]. Safe mode (encrypt_type=aes) adds msg_signature = sha1 of the sorted [token, timestamp,
nonce, Encrypt] and encrypts the XML: AES-256-CBC, key = base64decode(EncodingAESKey + "="),
IV = the first 16 bytes of the key, PKCS#7 padding to a multiple of 32 bytes, and the plaintext
is 16 random bytes + the XML's length (4 bytes, big-endian) + the XML + the appid.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_BLOCK = 32
RANDOM_PREFIX = 16


class WeChatCryptoError(Exception):
    """A callback that cannot be authentic: bad key, ciphertext, padding, length or appid."""


def sign(*parts: str) -> str:
    """The WeChat signature of `parts`: sha1 hex of their lexicographically sorted concatenation."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(expected: str | None, *parts: str) -> bool:
    """True when `expected` is the signature of `parts` (compared in constant time)."""
    if not expected:
        return False
    presented = expected.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(sign(*parts).encode(), presented)


def aes_key_from_encoding_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey."""
    if len(encoding_aes_key) != 43:
        raise WeChatCryptoError("EncodingAESKey must be 43 characters long")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise WeChatCryptoError("EncodingAESKey is not valid base64") from exc
    if len(key) != 32:
        raise WeChatCryptoError("EncodingAESKey does not decode to 32 bytes")
    return key


def pkcs7_pad(data: bytes, block: int = PAD_BLOCK) -> bytes:
    """PKCS#7 padding to a multiple of `block` bytes (always adds 1..block bytes)."""
    amount = block - len(data) % block
    return data + bytes([amount]) * amount


def pkcs7_unpad(data: bytes, block: int = PAD_BLOCK) -> bytes:
    """Remove PKCS#7 padding, refusing anything that is not valid padding."""
    if not data:
        raise WeChatCryptoError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= block or amount > len(data) or data[-amount:] != bytes([amount]) * amount:
        raise WeChatCryptoError("bad padding")
    return data[:-amount]


class WeChatCrypto:
    """Encrypts and decrypts the `Encrypt` field of one Official Account's callbacks."""

    def __init__(self, encoding_aes_key: str, appid: str) -> None:
        self.key = aes_key_from_encoding_key(encoding_aes_key)
        self.appid = appid

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, xml: str, random_prefix: bytes | None = None) -> str:
        """Base64 ciphertext of `xml` for this appid (the platform's side; used for replies)."""
        prefix = os.urandom(RANDOM_PREFIX) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_PREFIX:
            raise ValueError("the random prefix must be 16 bytes")
        body = xml.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.appid.encode("utf-8")
        encryptor = self._cipher().encryptor()
        cipher_text = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
        return base64.b64encode(cipher_text).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The XML inside a base64 `Encrypt` value, after checking its length and appid."""
        try:
            cipher_text = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WeChatCryptoError("ciphertext is not valid base64") from exc
        if not cipher_text or len(cipher_text) % 16:
            raise WeChatCryptoError("ciphertext length is not a multiple of the AES block")
        decryptor = self._cipher().decryptor()
        plain = pkcs7_unpad(decryptor.update(cipher_text) + decryptor.finalize())
        if len(plain) < RANDOM_PREFIX + 4:
            raise WeChatCryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[RANDOM_PREFIX:RANDOM_PREFIX + 4])
        body = plain[RANDOM_PREFIX + 4:RANDOM_PREFIX + 4 + length]
        if len(body) != length:
            raise WeChatCryptoError("declared message length exceeds the plaintext")
        appid = plain[RANDOM_PREFIX + 4 + length:]
        if not hmac.compare_digest(appid, self.appid.encode("utf-8")):
            raise WeChatCryptoError("message is for another appid")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WeChatCryptoError("message is not UTF-8") from exc
