"""Verify a dispute bundle offline: no database, only the file and a public key.

Checks, each failure named (docs/audit.md, "Verifying a bundle"):

1. the bundle's ``digest`` is SHA-256 of the canonical JSON of the rest;
2. every event's hash, recomputed from its stored bytes with the chain's own function
   (:func:`infrastructure.audit.chain.event_hash`), equals the hash it carries, and its
   readable envelope is what those bytes decode to;
3. events of one stream with consecutive versions link (``prev_hash`` = the previous hash;
   zeros before version 1);
4. per log, the proof's chain holds every bundled event's hash at its position, and folding
   it from ``log_hash_before`` gives the checkpoint's signed ``log_hash`` at its position;
5. each checkpoint's Ed25519 signature by the trusted key (given, else the bundle's own).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent

from infrastructure.audit.chain import ZERO, event_hash, fold
from infrastructure.audit.signing import Checkpoint, signature_problem
from infrastructure.eventstore import make_mapper
from infrastructure.privacy.sealing import is_sealed
from infrastructure.public_events import to_envelope

BUNDLE_FORMAT = "ledgerline-dispute-bundle/v1"


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: one byte string per document."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def bundle_digest(bundle: dict[str, Any]) -> str:
    return hashlib.sha256(
        canonical_json({k: v for k, v in bundle.items() if k != "digest"})
    ).hexdigest()


def _same_but_personal(stored: Any, shown: Any) -> bool:
    """Whether the readable envelope is the stored data, except that a sealed personal value
    may be shown opened or as erased: that needs the customer's key, which a bundle never
    holds (docs/privacy.md). Everything else must match exactly."""
    if is_sealed(stored):
        return True
    if isinstance(stored, dict) and isinstance(shown, dict):
        return stored.keys() == shown.keys() and all(
            _same_but_personal(value, shown[key]) for key, value in stored.items()
        )
    if isinstance(stored, list) and isinstance(shown, list):
        return len(stored) == len(shown) and all(
            _same_but_personal(a, b) for a, b in zip(stored, shown, strict=True)
        )
    return bool(stored == shown)


def _event_problems(record: dict[str, Any], mapper: Any) -> list[str]:
    name = f"event {record['log']}/{record['position']}"
    state = base64.b64decode(record["state"], validate=True)
    stream = UUID(record["stream_id"])
    prev = bytes.fromhex(record["prev_hash"] or "")
    recomputed = event_hash(prev, record["log"], stream, record["version"], record["topic"], state)
    problems = []
    if recomputed.hex() != record["hash"]:
        problems.append(f"{name}: its stored data does not match its hash")
    try:
        event, meta = mapper.decode(StoredEvent(stream, record["version"], record["topic"], state))
        envelope = msgspec.structs.replace(
            to_envelope(event, meta, record["log"], record["position"], record["key"]),
            hash=record["hash"],
            prev_hash=record["prev_hash"],
        )
        readable = msgspec.to_builtins(envelope)
    except Exception as error:  # any decoding failure is a finding, not a crash
        return [*problems, f"{name}: its stored data does not decode ({error})"]
    if not _same_but_personal(readable, record["envelope"]):
        problems.append(f"{name}: its readable envelope differs from its stored data")
    return problems


def _stream_problems(events: list[dict[str, Any]]) -> list[str]:
    problems = []
    by_stream: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for record in events:
        by_stream.setdefault((record["log"], record["stream_id"]), {})[record["version"]] = record
    for (log, stream), versions in by_stream.items():
        for version, record in versions.items():
            before = versions.get(version - 1)
            expected = ZERO.hex() if version == 1 else None if before is None else before["hash"]
            if expected is not None and record["prev_hash"] != expected:
                problems.append(
                    f"event {log}/{record['position']}: stream {stream} version {version} "
                    "does not link to the version before it"
                )
    return problems


def _proof_problems(
    log: str, proof: dict[str, Any] | None, events: list[dict[str, Any]], trusted: bytes | None
) -> list[str]:
    if proof is None:
        return [f"log {log}: no proof"]
    if proof["checkpoint"] is None:
        return [
            f"log {log}: no signed checkpoint covers position "
            f"{max(r['position'] for r in events)} (make one: ledgerline audit checkpoint)"
        ]
    checkpoint = msgspec.convert(proof["checkpoint"], Checkpoint)
    problems = []
    chain = {int(position): hash_ for position, hash_ in proof["chain"]}
    positions = [int(position) for position, _ in proof["chain"]]
    if positions != sorted(set(positions)):
        problems.append(f"log {log}: the proof's chain is not in position order")
    for record in events:
        if chain.get(record["position"]) != record["hash"]:
            problems.append(
                f"event {log}/{record['position']}: "
                "its hash is not in the log chain at its position"
            )
    value = bytes.fromhex(proof["log_hash_before"])
    for _, hash_ in proof["chain"]:
        value = fold(value, bytes.fromhex(hash_))
    if not positions or positions[-1] != checkpoint.position:
        problems.append(
            f"log {log}: the chain does not end at the checkpoint's position {checkpoint.position}"
        )
    elif value.hex() != checkpoint.log_hash:
        problems.append(
            f"log {log}: the chain folds to {value.hex()[:16]}..., not to the checkpoint's "
            f"log hash {checkpoint.log_hash[:16]}... at position {checkpoint.position}"
        )
    why = signature_problem(checkpoint, trusted)
    if why is not None:
        problems.append(f"log {log}: checkpoint at {checkpoint.position}: bad signature ({why})")
    return problems


def check_bundle(bundle: Any, trusted: bytes | None = None) -> list[str]:
    """Every problem found in ``bundle`` (empty: it verifies). ``trusted`` is the public key
    checkpoints must be signed with; None trusts the key the bundle names (which proves the
    bundle is consistent, not who signed it)."""
    try:
        if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
            return [f"not a {BUNDLE_FORMAT} document"]
        problems = []
        if bundle.get("digest") != bundle_digest(bundle):
            problems.append("bundle digest: the document was changed after it was made")
        if trusted is None and bundle.get("public_key"):
            trusted = bytes.fromhex(bundle["public_key"])
        mapper = make_mapper()
        events = bundle["events"]
        if not events:
            problems.append("the bundle holds no events")
        for record in events:
            problems.extend(_event_problems(record, mapper))
        problems.extend(_stream_problems(events))
        for log in sorted({record["log"] for record in events}):
            of_log = [record for record in events if record["log"] == log]
            problems.extend(_proof_problems(log, bundle["proofs"].get(log), of_log, trusted))
        return problems
    except (KeyError, TypeError, ValueError, binascii.Error, msgspec.ValidationError) as error:
        return [f"malformed bundle: {type(error).__name__}: {error}"]
