"""Sealing personal fields, pure: what is stored is ciphertext beside clear non-personal
fields; with the key it reads back exactly, without it as erased; master keys rotate."""

from __future__ import annotations

import json
from uuid import uuid4

import psycopg
import pytest

from infrastructure.privacy import ERASED, Privacy
from infrastructure.privacy.crypto import (
    MasterKeyInvalid,
    MasterKeyMissing,
    MasterKeys,
    generate_key,
    master_keys_from,
    new_data_key,
    parse_key,
)
from infrastructure.privacy.keystore import KeyStore, create_statements

ORDER = {
    "order_number": "W-1",
    "total": {"_type_": "decimal_str", "_data_": "39.80"},
    "customer": {"customer_id": "C-1", "name": "Erika Mustermann", "email": "erika@example.com"},
    "ship_to": {"line1": "Marienplatz 1", "latitude": {"_type_": "decimal_str", "_data_": "48.1"}},
}


def privacy() -> Privacy:
    return Privacy(MasterKeys(parse_key(generate_key())))


def test_personal_values_are_sealed_under_the_customers_key_and_the_rest_stays_clear() -> None:
    # Given an order's stored state and customer C-1's data key
    stream = uuid4()
    state = json.dumps(ORDER).encode()
    address = f"ship_to:{stream}"
    keys = {"C-1": new_data_key(), address: new_data_key()}
    # When it is sealed: the customer's values under their key, the address under its own
    # (so retention can erase it alone)
    sealer = privacy()
    assert sealer.subjects(state, stream) == {"C-1", address}
    sealed = sealer.seal(state, stream, keys)
    # Then no personal value is readable, the customer id and everything else is
    for text in ("Erika", "erika@example.com", "Marienplatz", "48.1"):
        assert text.encode() not in sealed
    stored = json.loads(sealed)
    assert stored["customer"]["customer_id"] == "C-1"
    assert stored["total"] == ORDER["total"]
    assert stored["order_number"] == "W-1"
    # and with the key it reads back exactly, without it as erased
    assert json.loads(sealer.reveal(sealed, keys)) == ORDER
    gone = json.loads(sealer.reveal(sealed, {"C-1": None, address: None}))
    assert gone["customer"] == {"customer_id": "C-1", "name": ERASED, "email": ERASED}
    assert gone["ship_to"] == {"line1": ERASED, "latitude": ERASED}
    assert gone["total"] == ORDER["total"]
    # and the address alone can go
    kept = json.loads(sealer.reveal(sealed, {"C-1": keys["C-1"], address: None}))
    assert kept["customer"] == ORDER["customer"]
    assert kept["ship_to"]["line1"] == ERASED
    # and a key made anew after erasure opens none of the old values
    anew = json.loads(sealer.reveal(sealed, {"C-1": new_data_key()}))
    assert anew["customer"]["name"] == ERASED


def test_a_document_without_a_customer_id_is_filed_under_its_own_stream() -> None:
    stream = uuid4()
    state = json.dumps({"guest": {"name": "Alan Turing"}}).encode()
    assert privacy().subjects(state, stream) == {f"stream:{stream}"}
    assert privacy().subjects(json.dumps({"sku": "TEE"}).encode(), stream) == set()


def test_master_keys_are_required_well_formed_and_rotate() -> None:
    with pytest.raises(MasterKeyMissing):
        master_keys_from({})
    with pytest.raises(MasterKeyInvalid):
        master_keys_from({"LEDGERLINE_MASTER_KEY": "c2hvcnQ="})
    old, new = parse_key(generate_key()), parse_key(generate_key())
    key_id, wrapped = MasterKeys(old).wrap("C-1", b"k" * 32)
    # After a rotation the old wrap still opens while the old key is configured as previous
    assert MasterKeys(new, (old,)).unwrap("C-1", key_id, wrapped) == b"k" * 32
    with pytest.raises(MasterKeyInvalid, match="not configured"):
        MasterKeys(new).unwrap("C-1", key_id, wrapped)


def test_rewrap_moves_every_live_key_to_the_new_master_key(database: str) -> None:
    # Given keys of two customers wrapped by the old master key, one of them erased
    old, new = parse_key(generate_key()), parse_key(generate_key())
    with psycopg.connect(database, autocommit=True) as conn:
        for statement in create_statements("public"):
            conn.execute(statement)
        made = KeyStore(MasterKeys(old)).ensure(conn, ["C-1", "C-2"], [])
        KeyStore.destroy(conn, "C-2")
        # When the service moves to the new master key and rewraps
        rotated = KeyStore(MasterKeys(new, (old,)))
        assert rotated.rewrap(conn) == 1
        # Then the live key opens with the new master key alone, the erased one stays gone
        assert KeyStore(MasterKeys(new)).keys(conn, ["C-1", "C-2"]) == {
            "C-1": made["C-1"],
            "C-2": None,
        }


def test_text_that_only_looks_sealed_is_stored_sealed_or_read_as_written() -> None:
    # Given a channel's free text that imitates a sealed value, in a personal field (a name)
    # and outside one (a payment reference)
    stream = uuid4()
    fake = "sealed:v1:Qy0x:bm90IGNpcGhlcnRleHQ"
    state = json.dumps(
        {"payment": {"reference": fake + ":x"}, "customer": {"customer_id": "C-1", "name": fake}}
    ).encode()
    keys = {"C-1": new_data_key()}
    sealer = privacy()
    # When it is stored and read back
    sealed = sealer.seal(state, stream, keys)
    read = json.loads(sealer.reveal(sealed, {"C-1": keys["C-1"]}))
    # Then the name was sealed like any other and reads back as written
    assert json.loads(sealed)["customer"]["name"] != fake
    assert read["customer"]["name"] == fake
    # and the free text outside personal fields reads as written, never breaking a read
    assert read["payment"]["reference"] == fake + ":x"
    assert json.loads(sealer.reveal(state, {}))["payment"]["reference"] == fake + ":x"
