"""The bundle verifier alone, no servers: a bundle assembled from in-memory events with the
chain's own functions and a real Ed25519 key, then changed the ways a forger would."""

from __future__ import annotations

import base64
import copy
import os
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from domain.inventory import Inventory
from infrastructure.audit.bundle_check import BUNDLE_FORMAT, bundle_digest, check_bundle
from infrastructure.audit.chain import ZERO, event_hash, fold
from infrastructure.audit.signing import Signer
from infrastructure.eventstore import make_mapper
from infrastructure.public_events import to_envelope

LOG = "inventory"


def stored_stream() -> list[Any]:
    """A SKU registered and received three times, as the mapper stores it."""
    inventory = Inventory.register("TEE", "Tee")
    for quantity in (1, 2, 3):
        inventory.receive("WH1", quantity)
    mapper = make_mapper()
    return [mapper.to_stored_event(event) for event in inventory.collect_events()]


def assemble(signer: Signer, *, first_bundled: int = 1) -> dict[str, Any]:
    """A bundle of the stream's events from version ``first_bundled`` on, at positions 1..4
    of the log, with the chain to a checkpoint at position 4."""
    mapper = make_mapper()
    records, chain, prev, log_hash = [], [], ZERO, ZERO
    before = ZERO
    for position, stored in enumerate(stored_stream(), start=1):
        hash_ = event_hash(
            prev, LOG, stored.originator_id, stored.originator_version, stored.topic, stored.state
        )
        if stored.originator_version < first_bundled:
            before = log_hash = fold(log_hash, hash_)
            prev = hash_
            continue
        event, meta = mapper.decode(stored)
        envelope = msgspec.structs.replace(
            to_envelope(event, meta, LOG, position, "TEE"), hash=hash_.hex(), prev_hash=prev.hex()
        )
        records.append(
            {
                "log": LOG,
                "position": position,
                "stream_id": str(stored.originator_id),
                "version": stored.originator_version,
                "topic": stored.topic,
                "state": base64.b64encode(stored.state).decode(),
                "key": "TEE",
                "prev_hash": prev.hex(),
                "hash": hash_.hex(),
                "envelope": msgspec.to_builtins(envelope),
            }
        )
        chain.append([position, hash_.hex()])
        log_hash = fold(log_hash, hash_)
        prev = hash_
    checkpoint = signer.sign(LOG, 4, log_hash, datetime.now(UTC))
    bundle: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "subject": {"kind": "order", "id": "x", "channel": "web", "number": "W-1"},
        "created_at": "2026-11-23T00:00:00Z",
        "public_key": signer.public_key.hex(),
        "events": records,
        "evidence": {},
        "proofs": {
            LOG: {
                "log_hash_before": before.hex(),
                "chain": chain,
                "checkpoint": msgspec.to_builtins(checkpoint),
            }
        },
    }
    bundle["digest"] = bundle_digest(bundle)
    return bundle


def resealed(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle["digest"] = bundle_digest(bundle)
    return bundle


def test_an_intact_bundle_verifies_against_its_signer_and_no_other_key() -> None:
    # Given a bundle signed with a key
    signer = Signer(os.urandom(32))
    bundle = assemble(signer)
    # Then it verifies with that key, and not with another
    assert check_bundle(bundle, signer.public_key) == []
    other = Signer(os.urandom(32)).public_key
    assert any("bad signature" in p for p in check_bundle(bundle, other))


def test_a_bundle_of_a_streams_later_events_verifies_from_the_log_hash_before_them() -> None:
    # Given a bundle holding versions 3 and 4 only (the chain starts after version 2)
    signer = Signer(os.urandom(32))
    bundle = assemble(signer, first_bundled=3)
    # Then it verifies, and a wrong starting value does not fold to the checkpoint
    assert [r["version"] for r in bundle["events"]] == [3, 4]
    assert check_bundle(bundle, signer.public_key) == []
    wrong = copy.deepcopy(bundle)
    wrong["proofs"][LOG]["log_hash_before"] = ZERO.hex()
    assert any("the chain folds to" in p for p in check_bundle(resealed(wrong), None))


def test_a_chain_with_an_event_left_out_or_reordered_fails() -> None:
    signer = Signer(os.urandom(32))
    bundle = assemble(signer)
    # When a forger leaves an event out of the chain (and the bundle)
    dropped = copy.deepcopy(bundle)
    del dropped["proofs"][LOG]["chain"][1]
    del dropped["events"][1]
    problems = check_bundle(resealed(dropped), signer.public_key)
    # Then the chain no longer folds to the signed value
    assert any("the chain folds to" in p for p in problems), problems
    # When two chain entries swap places
    swapped = copy.deepcopy(bundle)
    chain = swapped["proofs"][LOG]["chain"]
    chain[1], chain[2] = chain[2], chain[1]
    problems = check_bundle(resealed(swapped), signer.public_key)
    assert any("not in position order" in p for p in problems), problems


def test_a_forger_holding_the_key_still_cannot_unlink_a_stream() -> None:
    # Given a forger who changes version 3, rehashes it from zeros (so its own hash holds),
    # rebuilds the log chain and even re-signs the checkpoint with the real key
    signer = Signer(os.urandom(32))
    bundle = assemble(signer)
    record = bundle["events"][2]
    state = base64.b64decode(record["state"])
    forged = event_hash(ZERO, LOG, UUID(record["stream_id"]), 3, record["topic"], state)
    record["prev_hash"] = ZERO.hex()
    record["hash"] = forged.hex()
    record["envelope"]["prev_hash"] = ZERO.hex()
    record["envelope"]["hash"] = forged.hex()
    bundle["events"][3]["prev_hash"] = forged.hex()  # (version 4 now links to nothing real)
    proof = bundle["proofs"][LOG]
    proof["chain"][2][1] = forged.hex()
    value = bytes.fromhex(proof["log_hash_before"])
    for _, hash_ in proof["chain"]:
        value = fold(value, bytes.fromhex(hash_))
    proof["checkpoint"] = msgspec.to_builtins(signer.sign(LOG, 4, value, datetime.now(UTC)))
    # Then the stream links name the event
    problems = check_bundle(resealed(bundle), signer.public_key)
    assert any("version 3 does not link" in p for p in problems), problems
