"""Customers' privacy, for admins: link channel references, erase, export (decision 0018)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency

from api.auth import admits
from api.routes.commanding import command_request
from api.schemas import Code, Strict, decode_strict
from api.services import Services
from application.privacy import PrivacyApp
from domain.errors import DomainError

ADMINS = admits("admin")
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class CustomerLink(Strict):
    channel: Code
    reference: Code


class CustomerErasure(Strict):
    legal_basis: Text  # e.g. "GDPR Art. 17(1)(a): consent withdrawn"


class PrivacyUnavailable(DomainError):
    code = "privacy-unavailable"
    title = "Customer privacy is not configured in this process"


def _privacy(services: Services) -> PrivacyApp:
    if services.privacy is None:
        raise PrivacyUnavailable("this process runs without the privacy application")
    return services.privacy


class CustomerController(Controller):
    path = "/v1/customers"
    tags = ["privacy"]  # noqa: RUF012

    @post("/{customer_id:str}/links", operation_id="linkCustomer", opt=ADMINS, status_code=200)
    async def link(
        self,
        request: Request[Any, Any, Any],
        customer_id: Code,
        services: NamedDependency[Services],
    ) -> dict[str, Any]:
        """Link a channel's own reference for the customer (a marketplace buyer id, a loyalty
        number) to their stable id, so one erasure covers every channel."""
        raw = await request.body()
        body = decode_strict(raw, CustomerLink)
        found = await asyncio.to_thread(
            _privacy(services).link,
            customer_id,
            body.channel,
            body.reference,
            command_request(request, raw),
        )
        return {"customer_id": customer_id, "customer_ids": found.subjects}

    @post("/{customer_id:str}/erasure", operation_id="eraseCustomer", opt=ADMINS, status_code=200)
    async def erase(
        self,
        request: Request[Any, Any, Any],
        customer_id: Code,
        services: NamedDependency[Services],
    ) -> dict[str, Any]:
        """Erase the customer's personal data everywhere (their keys are destroyed); every
        audit proof stays valid. Repeating it finishes an interrupted erasure."""
        raw = await request.body()
        body = decode_strict(raw, CustomerErasure)
        req = command_request(request, raw)
        erasure = await asyncio.to_thread(
            _privacy(services).erase,
            customer_id,
            by=req.context.actor,
            legal_basis=body.legal_basis,
            request=req,
        )
        result: dict[str, Any] = msgspec.to_builtins(erasure)
        return result

    @get("/{customer_id:str}/export", operation_id="exportCustomer", opt=ADMINS)
    async def export(
        self, customer_id: Code, services: NamedDependency[Services]
    ) -> dict[str, Any]:
        """Everything held about the customer, decrypted, with the events it came from."""
        return await asyncio.to_thread(_privacy(services).export, customer_id)
