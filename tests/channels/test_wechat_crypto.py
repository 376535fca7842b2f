"""WeChat signatures and safe-mode encryption against vectors computed independently (coreutils
sha1sum and `openssl enc -aes-256-cbc -nopad` over a hand-built, hand-padded plaintext)."""
from __future__ import annotations

import base64

import pytest

from bot.channels.wechat_crypto import (
    WeChatCrypto,
    WeChatCryptoError,
    aes_key_from_encoding_key,
    pkcs7_pad,
    pkcs7_unpad,
    sign,
    signature_ok,
)

ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wxshop0123456789"
XML = "<xml><ToUserName><![CDATA[gh_shop]]></ToUserName><Content><![CDATA[你好]]></Content></xml>"
# printf 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=' | base64 -d | xxd -p -c 64
KEY_HEX = "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
# Plaintext "0123456789abcdef" + 00 00 00 5c + XML + appid is 128 bytes, so PKCS#7 adds a full
# block of 32 x 0x20; encrypted with openssl, key KEY_HEX, IV its first 16 bytes.
ENCRYPTED = (
    "Q3stYC6hdFzMh9T8HCvyDH9UTgHrzXvXNY6dSnJMj7GP6PBSWAA5ouBgYZXATrrq36J9fnObsAz9gEDUCIKHkahG0Cg"
    "VOvCnAM1ZzBgagXBrnRsx6ufi+pguJMEll4x2xZ+x55bfdc6r4OhP3k8RPsTMCMvfyGWt48nOCYxcvxzcDckW2hy7/Wd"
    "3W5BuavyPEc28ZyXnIyr+hryLbiSI4w=="
)


def test_url_signature_matches_sha1_of_sorted_parts() -> None:
    # printf '%s' 1700000000nonce42token123 | sha1sum
    assert sign("token123", "1700000000", "nonce42") == "73a2815bf3ced534feb1e80bb9776ac7e9933a3e"
    assert signature_ok("73a2815bf3ced534feb1e80bb9776ac7e9933a3e", "token123", "1700000000",
                        "nonce42")


def test_message_signature_covers_the_ciphertext() -> None:
    # printf '%s' "1700000000${ENCRYPTED}nonce42token123" | sha1sum
    expected = "71ba6d7f2146663e0563bd7b77eb65f5b9ce2343"
    assert sign("token123", "1700000000", "nonce42", ENCRYPTED) == expected
    assert not signature_ok(expected, "token123", "1700000000", "nonce42", ENCRYPTED[:-4] + "AAA=")


@pytest.mark.parametrize("candidate", [None, "", "0" * 40, "not-a-signature"])
def test_wrong_or_missing_signatures_are_refused(candidate: str | None) -> None:
    assert not signature_ok(candidate, "token123", "1700000000", "nonce42")


def test_key_is_the_base64_decoded_encoding_key() -> None:
    assert aes_key_from_encoding_key(ENCODING_AES_KEY).hex() == KEY_HEX


@pytest.mark.parametrize("bad_key", ["", "short", ENCODING_AES_KEY + "H", "!" * 43])
def test_malformed_encoding_keys_are_refused(bad_key: str) -> None:
    with pytest.raises(WeChatCryptoError):
        aes_key_from_encoding_key(bad_key)


def test_encrypt_matches_the_openssl_vector() -> None:
    crypto = WeChatCrypto(ENCODING_AES_KEY, APPID)
    assert crypto.encrypt(XML, random_prefix=b"0123456789abcdef") == ENCRYPTED


def test_decrypt_of_the_openssl_vector() -> None:
    assert WeChatCrypto(ENCODING_AES_KEY, APPID).decrypt(ENCRYPTED) == XML


@pytest.mark.parametrize("text", ["", "a", "你好" * 3000, "😀 <b>&amp;</b>", "x" * 31])
def test_round_trip(text: str) -> None:
    crypto = WeChatCrypto(ENCODING_AES_KEY, APPID)
    once, twice = crypto.encrypt(text), crypto.encrypt(text)
    assert once != twice  # a fresh random prefix every time
    assert crypto.decrypt(once) == crypto.decrypt(twice) == text


def test_a_message_for_another_appid_is_refused() -> None:
    with pytest.raises(WeChatCryptoError, match="appid"):
        WeChatCrypto(ENCODING_AES_KEY, "wxsomeoneelse").decrypt(ENCRYPTED)


def test_a_message_encrypted_with_another_key_is_refused() -> None:
    other = WeChatCrypto("A" * 43, APPID).encrypt(XML)
    with pytest.raises(WeChatCryptoError):
        WeChatCrypto(ENCODING_AES_KEY, APPID).decrypt(other)


@pytest.mark.parametrize(
    "garbage", ["", "not base64!", base64.b64encode(b"x" * 15).decode(), ENCRYPTED[:-24] + "=="]
)
def test_garbage_ciphertext_is_refused_not_a_crash(garbage: str) -> None:
    with pytest.raises(WeChatCryptoError):
        WeChatCrypto(ENCODING_AES_KEY, APPID).decrypt(garbage)


def test_padding_is_to_32_byte_blocks_and_strictly_checked() -> None:
    assert pkcs7_pad(b"a" * 32) == b"a" * 32 + bytes([32]) * 32
    assert pkcs7_pad(b"a" * 31) == b"a" * 31 + b"\x01"
    assert pkcs7_unpad(pkcs7_pad(b"abc")) == b"abc"
    for bad in (b"", b"abc\x00", b"abc\x21", b"ab\x01\x02"):
        with pytest.raises(WeChatCryptoError):
            pkcs7_unpad(bad)
