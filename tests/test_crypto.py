"""kcp_django.crypto (no database) and the kcp_generate_keys command."""

from __future__ import annotations

import base64
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import assume, given
from hypothesis import strategies as st

from kcp_django import conf
from kcp_django.crypto import KeyRing, blind_index, decode_key, is_token, last_four
from kcp_django.exceptions import DecryptionError

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
AD = b"tests.holder.account_no"


def ring(*ids: str) -> KeyRing:
    keys = {"a": KEY_A, "b": KEY_B}
    return KeyRing([(key_id, keys[key_id]) for key_id in ids])


def decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TestKeyRing:
    def test_round_trip(self) -> None:
        keyring = ring("a", "b")
        for text in ["123-456-789012", "", "홍길동 계좌", "a" * 1000]:
            assert keyring.decrypt(keyring.encrypt(text, associated_data=AD), associated_data=AD) == text

    def test_token_is_ascii_with_version_and_first_key_id(self) -> None:
        token = ring("b", "a").encrypt("123456789012", associated_data=AD)
        assert token.isascii()
        assert token.startswith("kcp1$b$")
        assert "123456789012" not in token
        # 12-byte nonce + 12 bytes of ciphertext + 16-byte tag.
        assert len(decode(token.split("$")[2])) == 12 + 12 + 16

    def test_same_text_encrypts_differently_each_time(self) -> None:
        keyring = ring("a")
        tokens = {keyring.encrypt("123456789012", associated_data=AD) for _ in range(20)}
        assert len(tokens) == 20

    def test_every_listed_key_decrypts_and_only_the_first_encrypts(self) -> None:
        old_token = ring("a").encrypt("1234", associated_data=AD)
        rotated = ring("b", "a")
        assert rotated.decrypt(old_token, associated_data=AD) == "1234"
        assert rotated.key_id_of(old_token) == "a"
        assert rotated.needs_rotation(old_token)
        new_token = rotated.encrypt("1234", associated_data=AD)
        assert rotated.key_id_of(new_token) == "b"
        assert not rotated.needs_rotation(new_token)

    def test_well_formed_but_forged_token_fails_authentication(self) -> None:
        with pytest.raises(DecryptionError, match="authentication failed"):
            ring("a").decrypt("kcp1$a$" + "A" * 38, associated_data=AD)

    def test_key_id_in_the_token_is_authenticated(self) -> None:
        keyring = KeyRing([("a", KEY_A), ("b", KEY_A)])
        token = keyring.encrypt("123456789012", associated_data=AD)
        with pytest.raises(DecryptionError, match="authentication failed with key 'b'"):
            keyring.decrypt(token.replace("kcp1$a$", "kcp1$b$", 1), associated_data=AD)

    def test_other_associated_data_fails(self) -> None:
        keyring = ring("a")
        token = keyring.encrypt("123456789012", associated_data=AD)
        with pytest.raises(DecryptionError, match=r"authentication failed.*another field"):
            keyring.decrypt(token, associated_data=b"tests.holder.memo")

    def test_same_key_id_with_another_key_fails(self) -> None:
        token = ring("a").encrypt("123456789012", associated_data=AD)
        with pytest.raises(DecryptionError, match="authentication failed"):
            KeyRing([("a", KEY_B)]).decrypt(token, associated_data=AD)

    def test_unknown_key_id_names_the_key_and_the_setting(self) -> None:
        token = ring("a").encrypt("123456789012", associated_data=AD)
        with pytest.raises(DecryptionError, match=r"key 'a'.*KCP_ENCRYPTION_KEYS \(configured: b\)"):
            ring("b").decrypt(token, associated_data=AD)

    @pytest.mark.parametrize(
        "token",
        [
            "",
            "123-456-789012",
            "kcp2$a$" + "A" * 38,
            "kcp1$a$",
            "kcp1$$" + "A" * 38,
            "kcp1$a$AAAA",  # shorter than nonce + tag
            "kcp1$a$" + "A" * 37,  # not a whole number of bytes
            "kcp1$a$" + "A" * 38 + "==",
            "kcp1$a$" + "A" * 37 + "+",
            "kcp1$a$" + "A" * 37 + "B",  # spells the same bytes as "A" * 38
            "kcp1$a$" + "A" * 38 + "\n",
        ],
    )
    def test_unknown_format_is_refused_without_echoing_the_value(self, token: str) -> None:
        with pytest.raises(DecryptionError, match="not a kcp_django ciphertext") as caught:
            ring("a").decrypt(token, associated_data=AD)
        assert "789012" not in str(caught.value)

    @pytest.mark.parametrize(
        "keys",
        [[], [("a", KEY_A), ("a", KEY_B)], [("a", KEY_A[:16])], [("a$", KEY_A)], [("a\n", KEY_A)]],
    )
    def test_bad_key_lists_are_refused(self, keys: list[tuple[str, bytes]]) -> None:
        with pytest.raises(ValueError, match=r"[Kk]ey"):
            KeyRing(keys)

    def test_from_settings_reads_the_settings_each_time(self, settings: Any) -> None:
        assert KeyRing.from_settings().key_ids == ["k2", "k1"]
        settings.KCP_ENCRYPTION_KEYS = ["k9:" + encode(KEY_A)]
        assert KeyRing.from_settings().key_ids == ["k9"]


class TestBlindIndex:
    def test_formatting_is_ignored(self) -> None:
        expected = blind_index("04", "123456789", key=KEY_A)
        assert blind_index("04", "123-456 789", key=KEY_A) == expected
        assert blind_index("4", " 123 - 456 - 789 ", key=KEY_A) == expected
        assert blind_index("004", "１２３４５６７８９", key=KEY_A) == expected  # full-width digits
        assert len(expected) == 64
        assert int(expected, 16) >= 0

    def test_differs_across_banks_numbers_and_keys(self) -> None:
        indexes = {
            blind_index("04", "123456789", key=KEY_A),
            blind_index("88", "123456789", key=KEY_A),
            blind_index("04", "123456780", key=KEY_A),
            blind_index("04", "123456789", key=KEY_B),
        }
        assert len(indexes) == 4

    def test_bank_code_is_not_glued_to_the_number(self) -> None:
        assert blind_index("1", "23456", key=KEY_A) != blind_index("12", "3456", key=KEY_A)

    def test_key_defaults_to_kcp_index_key(self) -> None:
        assert blind_index("04", "123456789") == blind_index("04", "123456789", key=conf.get_index_key())
        assert blind_index("04", "123456789") != blind_index("04", "123456789", key=KEY_A)

    @pytest.mark.parametrize(("bank", "account"), [("", "123"), ("BK04", "123"), ("04", ""), ("04", "--")])
    def test_missing_digits_are_refused(self, bank: str, account: str) -> None:
        with pytest.raises(ValueError, match="digits"):
            blind_index(bank, account, key=KEY_A)


@pytest.mark.parametrize(
    ("account", "shown"),
    [("123-456-789012", "9012"), ("12345", "2345"), ("1234", ""), ("12", ""), ("", ""), ("--", "")],
)
def test_last_four(account: str, shown: str) -> None:
    assert last_four(account) == shown


key_rings = st.lists(
    st.tuples(st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True), st.binary(min_size=32, max_size=32)),
    min_size=1,
    max_size=4,
    unique_by=lambda item: item[0],
)


@given(text=st.text(), keys=key_rings, associated_data=st.binary(max_size=64), data=st.data())
def test_any_text_round_trips_under_any_key_order(
    text: str, keys: list[tuple[str, bytes]], associated_data: bytes, data: st.DataObject
) -> None:
    token = KeyRing(keys).encrypt(text, associated_data=associated_data)
    reader = KeyRing(data.draw(st.permutations(keys)))
    assert reader.decrypt(token, associated_data=associated_data) == text
    assert reader.key_id_of(token) == keys[0][0]


@given(text=st.text(max_size=40), position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_any_tampered_byte_is_detected(text: str, position: int, flip: int) -> None:
    keyring = ring("a", "b")
    header, data = keyring.encrypt(text, associated_data=AD).rsplit("$", 1)
    blob = bytearray(decode(data))
    blob[position % len(blob)] ^= flip
    with pytest.raises(DecryptionError):
        keyring.decrypt(f"{header}${encode(bytes(blob))}", associated_data=AD)


@given(text=st.text(max_size=40), position=st.integers(min_value=0), replacement=st.characters(codec="ascii"))
def test_any_changed_character_of_the_token_is_detected(text: str, position: int, replacement: str) -> None:
    keyring = ring("a", "b")
    token = keyring.encrypt(text, associated_data=AD)
    position %= len(token)
    assume(token[position] != replacement)
    with pytest.raises(DecryptionError):
        keyring.decrypt(token[:position] + replacement + token[position + 1 :], associated_data=AD)


@st.composite
def formatted_numbers(draw: st.DrawFn) -> tuple[str, str]:
    digits = draw(st.text(alphabet="0123456789", min_size=1, max_size=20))
    separators = st.sampled_from(["", " ", "-", "  ", " - ", "--"])
    gaps = draw(st.lists(separators, min_size=len(digits) + 1, max_size=len(digits) + 1))
    return digits, "".join(gap + digit for gap, digit in zip(gaps, digits, strict=False)) + gaps[-1]


@given(bank=st.integers(0, 99), number=formatted_numbers())
def test_blind_index_ignores_any_spaces_and_hyphens(bank: int, number: tuple[str, str]) -> None:
    digits, formatted = number
    assert blind_index(str(bank), formatted, key=KEY_A) == blind_index(f"{bank:02d}", digits, key=KEY_A)


@given(st.one_of(st.text(), st.text(alphabet="0123456789 -")))
def test_last_four_never_shows_more_than_four_digits(account: str) -> None:
    shown = last_four(account)
    digits = [char for char in account if char.isdecimal()]
    assert len(shown) <= 4
    assert shown == "" or (shown.isascii() and shown.isdigit())
    assert len(shown) == (4 if len(digits) > 4 else 0)


class TestTokenShapeAndKeyText:
    def test_a_token_is_told_from_plaintext_without_decrypting(self) -> None:
        token = ring("a").encrypt("123-456-789012", associated_data=AD)
        assert is_token(token)
        assert is_token("kcp1$gone$" + encode(b"x" * 40)), "shape only: the key need not be known"
        for plain in ("123-456-789012", "", "kcp1$", "kcp1$a$", "kcp2$a$AAAA", " " + token, "kcp1$a b$AAAA"):
            assert not is_token(plain)

    def test_key_text_decodes_to_32_bytes_and_errors_name_the_source_not_the_key(self) -> None:
        assert decode_key(encode(KEY_A), name="KCP_OLD_INDEX_KEY") == KEY_A
        assert decode_key(conf.DEVELOPMENT_INDEX_KEY + "\n", name="X") == decode(conf.DEVELOPMENT_INDEX_KEY)
        with pytest.raises(ValueError, match=r"^KCP_OLD_INDEX_KEY must decode to 32 bytes, not 16\.$"):
            decode_key(encode(bytes(16)), name="KCP_OLD_INDEX_KEY")
        with pytest.raises(ValueError, match=r"^KCP_OLD_INDEX_KEY is not valid base64") as caught:
            decode_key("not base64!", name="KCP_OLD_INDEX_KEY")
        assert "not base64!" not in str(caught.value)


class TestGenerateKeysCommand:
    def run(self, *args: str) -> dict[str, str]:
        out = StringIO()
        call_command("kcp_generate_keys", *args, stdout=out)
        lines = out.getvalue().splitlines()
        assert lines[-1].startswith("#")
        assert "rotate" in lines[-1]
        return dict(line.split("=", 1) for line in lines[:-1])

    def test_prints_keys_the_settings_accept(self, settings: Any) -> None:
        printed = self.run("--key-id", "k7")
        assert set(printed) == {"KCP_ENCRYPTION_KEYS", "KCP_INDEX_KEY"}
        settings.KCP_ENCRYPTION_KEYS = [printed["KCP_ENCRYPTION_KEYS"]]
        settings.KCP_INDEX_KEY = printed["KCP_INDEX_KEY"]
        [(key_id, key)] = conf.get_encryption_keys()
        assert key_id == "k7"
        assert len(key) == 32
        assert len(conf.get_index_key()) == 32
        assert key != conf.get_index_key()

    def test_prepending_a_new_key_through_the_environment_rotates(
        self, settings: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        old = self.run()
        new = self.run("--key-id", "k2")
        assert old["KCP_INDEX_KEY"] != new["KCP_INDEX_KEY"]
        monkeypatch.setenv("KCP_ENCRYPTION_KEYS", old["KCP_ENCRYPTION_KEYS"])
        monkeypatch.setenv("KCP_INDEX_KEY", old["KCP_INDEX_KEY"])
        for name, value in conf.settings_from_env().items():
            setattr(settings, name, value)
        token = KeyRing.from_settings().encrypt("123456789012", associated_data=AD)

        monkeypatch.setenv("KCP_ENCRYPTION_KEYS", f"{new['KCP_ENCRYPTION_KEYS']},{old['KCP_ENCRYPTION_KEYS']}")
        for name, value in conf.settings_from_env().items():
            setattr(settings, name, value)
        keyring = KeyRing.from_settings()
        assert keyring.key_ids == ["k2", "k1"]
        assert keyring.decrypt(token, associated_data=AD) == "123456789012"
        assert keyring.needs_rotation(token)

    def test_refuses_a_bad_key_id(self) -> None:
        with pytest.raises(CommandError, match="--key-id"):
            call_command("kcp_generate_keys", "--key-id", "k$1", stdout=StringIO())
