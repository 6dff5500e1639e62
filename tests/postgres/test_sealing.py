from pathlib import Path

import pytest

from memory_server.errors import StoreError, WrongKeyError
from memory_server.memory.text import same_statement_form, words
from memory_server.store.keys import raw_key
from memory_server.store.postgres.sealing import DirectoryKeyStore, Sealer, UserKeyErasedError, wrapping_key

MASTER = raw_key("ab" * 32, "test")
OTHER_MASTER = raw_key("cd" * 32, "test")


def sealer_in(folder: Path) -> Sealer:
    return Sealer(wrapping_key(MASTER), DirectoryKeyStore(folder / "data-keys"))


def test_a_sealed_text_opens_again_for_the_same_row_and_user(tmp_path: Path) -> None:
    keys = sealer_in(tmp_path).keys_for("alice")
    sealed = keys.seal("facts", 7, "Alice's flight leaves on May 3")
    assert b"flight" not in sealed
    assert keys.open("facts", 7, sealed) == "Alice's flight leaves on May 3"


def test_a_second_instance_with_the_same_master_key_opens_the_first_ones_rows(tmp_path: Path) -> None:
    sealed = sealer_in(tmp_path).keys_for("alice").seal("messages", 1, "hello")
    assert sealer_in(tmp_path).keys_for("alice").open("messages", 1, sealed) == "hello"


@pytest.mark.parametrize(
    ("table", "row_id", "user"), [("facts", 8, "alice"), ("messages", 7, "alice"), ("facts", 7, "bob")]
)
def test_a_ciphertext_moved_to_another_row_table_or_user_fails_to_open(
    tmp_path: Path, table: str, row_id: int, user: str
) -> None:
    sealer = sealer_in(tmp_path)
    sealed = sealer.keys_for("alice").seal("facts", 7, "secret plans")
    with pytest.raises(StoreError, match="copied from another row or user"):
        sealer.keys_for(user).open(table, row_id, sealed)


def test_after_an_erase_the_users_old_ciphertexts_can_never_be_opened(tmp_path: Path) -> None:
    sealer = sealer_in(tmp_path)
    sealed = sealer.keys_for("alice").seal("facts", 1, "to be forgotten")
    sealer.erase("alice")
    assert list((tmp_path / "data-keys").iterdir()) == []
    fresh = sealer_in(tmp_path)
    with pytest.raises(UserKeyErasedError):
        fresh.keys_for("alice", create=False)
    with pytest.raises(StoreError):
        fresh.keys_for("alice").open("facts", 1, sealed)  # a new key for a returning user opens nothing old


def test_a_wrong_master_key_cannot_unwrap_the_data_keys(tmp_path: Path) -> None:
    sealer_in(tmp_path).keys_for("alice")
    with pytest.raises(WrongKeyError, match="master key"):
        Sealer(wrapping_key(OTHER_MASTER), DirectoryKeyStore(tmp_path / "data-keys")).keys_for("alice")


def test_rekey_rewraps_the_data_keys_and_old_rows_still_open(tmp_path: Path) -> None:
    sealer = sealer_in(tmp_path)
    sealed = sealer.keys_for("alice").seal("facts", 1, "kept")
    assert sealer.rewrap_all(wrapping_key(OTHER_MASTER)) == 1
    reopened = Sealer(wrapping_key(OTHER_MASTER), DirectoryKeyStore(tmp_path / "data-keys"))
    assert reopened.keys_for("alice").open("facts", 1, sealed) == "kept"
    with pytest.raises(WrongKeyError):
        sealer_in(tmp_path).keys_for("alice")


def test_blind_index_terms_match_within_a_user_and_differ_across_users(tmp_path: Path) -> None:
    sealer = sealer_in(tmp_path)
    alice, bob = sealer.keys_for("alice"), sealer.keys_for("bob")
    assert alice.blind_index(words("Flight to Paris"))[-1] == alice.blind_index(words("paris, please"))[0]
    assert alice.blind_term("paris") != bob.blind_term("paris")
    assert alice.blind_term("paris") != alice.blind_term("london")


def test_duplicate_keys_are_keyed_hashes_equal_for_one_user_only(tmp_path: Path) -> None:
    sealer = sealer_in(tmp_path)
    alice, bob = sealer.keys_for("alice"), sealer.keys_for("bob")
    tea, tea_again, coffee = (same_statement_form(text) for text in ("I like tea.", "i like tea", "I like coffee"))
    assert alice.content_key(tea) == alice.content_key(tea_again)
    assert alice.content_key(tea) != bob.content_key(tea)
    assert alice.content_key(tea) != alice.content_key(coffee)
