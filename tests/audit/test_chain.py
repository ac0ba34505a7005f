"""The chain's definition: one hash per event, and an encoding no two events share."""

from __future__ import annotations

import hashlib
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from infrastructure.audit.chain import ZERO, LogHasher, canonical, event_hash, fold

texts = st.text(max_size=40)
streams = st.uuids()
versions = st.integers(min_value=1, max_value=2**40)
states = st.binary(max_size=300)


@given(st.binary(min_size=32, max_size=32), texts, streams, versions, texts, states)
def test_the_fast_hasher_and_the_definition_agree(
    prev: bytes, log: str, stream: UUID, version: int, topic: str, state: bytes
) -> None:
    expected = hashlib.sha256(prev + canonical(log, stream, version, topic, state)).digest()
    assert event_hash(prev, log, stream, version, topic, state) == expected
    assert LogHasher(log).hash(prev, stream.bytes, version, topic, state) == expected


@given(texts, texts, states, texts, texts, states)
def test_different_events_never_share_their_canonical_bytes(
    log_a: str, topic_a: str, state_a: bytes, log_b: str, topic_b: str, state_b: bytes
) -> None:
    stream = UUID(int=7)
    same = (log_a, topic_a, state_a) == (log_b, topic_b, state_b)
    a = canonical(log_a, stream, 1, topic_a, state_a)
    b = canonical(log_b, stream, 1, topic_b, state_b)
    assert (a == b) == same


def test_the_log_chain_starts_from_zeros_and_depends_on_order() -> None:
    one, two = hashlib.sha256(b"1").digest(), hashlib.sha256(b"2").digest()
    assert fold(ZERO, one) == hashlib.sha256(ZERO + one).digest()
    assert fold(fold(ZERO, one), two) != fold(fold(ZERO, two), one)
