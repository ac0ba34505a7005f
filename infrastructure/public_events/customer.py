"""Public events of the `customer` stream type: one stream per customer, in the `privacy` log.

A customer's key is their stable customer id. These events carry no personal data, only the
pseudonymous ids under which it is filed, so a connector can purge its own copies: on
`CustomerErased`, every order and booking naming one of `customer_ids` has had its personal
fields erased (each also says so with its own `...PersonalDataErased` event).
"""

from __future__ import annotations

from typing import Any

from infrastructure.envelope import Time
from infrastructure.public_events.base import PublicEvent, StreamType, utc

CUSTOMER = StreamType("customer", aggregate="Customer", key="customer_id", log="privacy")


class CustomerRegistered(PublicEvent, frozen=True, kw_only=True):
    """A customer got a stable id of their own (to link channels' references to)."""

    customer_id: str
    recorded_at: Time


class ChannelReferenceLinked(PublicEvent, frozen=True, kw_only=True):
    """A channel's own reference for the customer (a marketplace buyer id, a loyalty
    number) now names the same customer."""

    customer_id: str
    channel: str
    reference: str
    recorded_at: Time


class CustomerErased(PublicEvent, frozen=True, kw_only=True):
    """The customer's personal data was erased (`legal_basis`, e.g. a GDPR Art. 17
    request): their encryption keys are destroyed, so it reads `"[erased]"` everywhere from
    now on. Delete every copy you hold of data filed under any of `customer_ids`."""

    customer_id: str
    customer_ids: list[str]
    legal_basis: str
    recorded_at: Time


@CUSTOMER.event(CustomerRegistered)
def _registered(event: Any, key: str) -> CustomerRegistered:
    return CustomerRegistered(customer_id=key, recorded_at=utc(event.at))


@CUSTOMER.event(ChannelReferenceLinked)
def _linked(event: Any, key: str) -> ChannelReferenceLinked:
    return ChannelReferenceLinked(
        customer_id=key, channel=event.channel, reference=event.reference, recorded_at=utc(event.at)
    )


@CUSTOMER.event(CustomerErased)
def _erased(event: Any, key: str) -> CustomerErased:
    return CustomerErased(
        customer_id=key,
        customer_ids=list(event.subjects),
        legal_basis=event.legal_basis,
        recorded_at=utc(event.at),
    )
