"""Bookable resources and bookings: capacity and allotments, holds, confirmations with their
immutable documents (JSON and a printable page), changes, cancellation, disruptions."""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from api.auth import admits
from api.booking_schemas import (
    AllotmentPut,
    BookingPost,
    BookingReference,
    CancelBookingPost,
    ChannelRulesPut,
    ClosurePost,
    ConfirmPost,
    ModifyPost,
    ResourcePut,
)
from api.order_schemas import plain
from api.routes.commanding import execute
from api.schemas import Code
from api.services import Services
from application.bookings import booking_view, resource_view
from application.commands import Outcome
from application.commands import Request as CommandRequest
from domain.booking import BookingStatus, UnknownBooking
from domain.identity import check_code
from domain.resource import UnknownResource

OPERATORS = admits("admin", "operator")
WRITERS = admits("admin", "operator", "channel")
READERS = admits("admin", "operator", "auditor", "channel")
# A Literal, not a msgspec pattern: Litestar enforces neither Meta nor pattern on a path value.
Step = Literal["check-in", "completion", "no-show"]
STEPS = {"check-in": "check_in", "completion": "complete", "no-show": "no_show"}


class ResourceController(Controller):
    path = "/v1/resources/{code:str}"
    tags = ["bookings"]  # noqa: RUF012

    @put("/", operation_id="putResource", opt=OPERATORS)
    async def put_resource(
        self,
        request: Request[Any, Any, Any],
        code: Code,
        data: JSONBody[ResourcePut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Register a bookable resource (a room type, a departure, a calendar) or change its
        capacity per slot."""

        def command(body: ResourcePut, req: CommandRequest) -> Outcome:
            return services.bookings.put_resource(
                code, body.name, body.resource_class, body.slot_kind, body.capacity, request=req
            )

        return await execute(request, "put_resource", ResourcePut, command)

    @get("/", operation_id="getResource", opt=admits("admin", "operator", "auditor"))
    async def get_resource(self, code: Code, services: NamedDependency[Services]) -> dict[str, Any]:
        """The resource's capacity, allotments, channel rules and closed slots."""
        return resource_view(services.bookings.resource(code))

    @put("/allotments/{channel:str}", operation_id="putAllotment", opt=OPERATORS)
    async def allotment(
        self,
        request: Request[Any, Any, Any],
        code: Code,
        channel: Code,
        data: JSONBody[AllotmentPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Units of every slot only ``channel`` may sell (the rest is the shared pool)."""

        def command(body: AllotmentPut, req: CommandRequest) -> Outcome:
            return services.bookings.set_allotment(code, channel, body.quantity, request=req)

        return await execute(request, "put_allotment", AllotmentPut, command)

    @put("/channel-rules/{channel:str}", operation_id="putChannelRules", opt=OPERATORS)
    async def channel_rules(
        self,
        request: Request[Any, Any, Any],
        code: Code,
        channel: Code,
        data: JSONBody[ChannelRulesPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Stop-sell slots and the minimum stay (nights) for one channel."""

        def command(body: ChannelRulesPut, req: CommandRequest) -> Outcome:
            return services.bookings.set_channel_rules(
                code, channel, body.stop_sell, body.min_stay, request=req
            )

        return await execute(request, "put_channel_rules", ChannelRulesPut, command)

    @post("/closures", operation_id="closeSlots", opt=OPERATORS, status_code=200)
    async def close(
        self,
        request: Request[Any, Any, Any],
        code: Code,
        data: JSONBody[ClosurePost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """A disruption: the slots go out of service. The bookings that held them are
        rebooked onto an equivalent resource with room, or flagged for manual handling."""

        def command(body: ClosurePost, req: CommandRequest) -> Outcome:
            return services.bookings.close_slots(code, body.slots, body.reason, request=req)

        return await execute(request, "close_slots", ClosurePost, command)


class BookingPlacementController(Controller):
    path = "/v1/channels/{channel:str}/bookings"
    tags = ["bookings"]  # noqa: RUF012

    @post("/", operation_id="holdBooking", opt=WRITERS)
    async def hold(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        data: JSONBody[BookingPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Hold capacity under the channel's own booking reference (201; the same reference
        again answers with the booking, 200). The hold lapses at ``expires_at`` (default 15
        minutes) unless confirmed, and counts as free from then on."""
        outcome: list[Outcome] = []

        def command(body: BookingPost, req: CommandRequest) -> Outcome:
            result = services.bookings.hold(
                channel=channel,
                reference=body.reference,
                resource=body.resource,
                slots=list(body.slots),
                quantity=body.quantity,
                guest=plain(body.guest) or {},
                currency=body.currency,
                expires_at=body.expires_at,
                request=req,
            )
            outcome.append(result)
            return result

        response = await execute(request, "hold_booking", BookingPost, command)
        if outcome and (outcome[0].position is None or outcome[0].replayed):
            response.status_code = 200
        else:
            response.status_code = 201
        return response


class BookingController(Controller):
    path = "/v1/channels/{channel:str}/bookings/{reference:str}"
    tags = ["bookings"]  # noqa: RUF012

    @get("/", operation_id="getBooking", opt=READERS)
    async def booking(
        self, channel: Code, reference: BookingReference, services: NamedDependency[Services]
    ) -> dict[str, Any]:
        """The booking and the number of every confirmation document it was issued."""
        check_code(channel, "channel")
        return booking_view(services.bookings.booking(channel, reference))

    @post("/confirmation", operation_id="confirmBooking", opt=WRITERS, status_code=200)
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        reference: BookingReference,
        data: JSONBody[ConfirmPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Confirm a hold (refused once it has lapsed) and issue its confirmation."""

        def command(body: ConfirmPost, req: CommandRequest) -> Outcome:
            return services.bookings.confirm(
                channel, reference, body.payment_reference, request=req
            )

        return await execute(request, "confirm_booking", ConfirmPost, command)

    @post("/modification", operation_id="modifyBooking", opt=WRITERS, status_code=200)
    async def modify(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        reference: BookingReference,
        data: JSONBody[ModifyPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Change dates or quantity: the new capacity is held and the old given back in one
        step, or nothing changes. A confirmed booking gets a new document naming the old."""

        def command(body: ModifyPost, req: CommandRequest) -> Outcome:
            return services.bookings.modify(
                channel, reference, list(body.slots), body.quantity, request=req
            )

        return await execute(request, "modify_booking", ModifyPost, command)

    @post("/cancellation", operation_id="cancelBooking", opt=WRITERS, status_code=200)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        reference: BookingReference,
        data: JSONBody[CancelBookingPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Cancel: the capacity is free for every channel at once."""

        def command(body: CancelBookingPost, req: CommandRequest) -> Outcome:
            return services.bookings.cancel(channel, reference, body.reason, request=req)

        return await execute(request, "cancel_booking", CancelBookingPost, command)

    @post("/stay/{step:str}", operation_id="progressBooking", opt=OPERATORS, status_code=200)
    async def progress(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        reference: BookingReference,
        step: Step,
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """``check-in``, ``completion`` or ``no-show``."""
        return await execute(
            request,
            f"booking_{STEPS[step]}",
            None,
            lambda _, req: services.bookings.progress(channel, reference, STEPS[step], request=req),
        )

    @get("/confirmations/{number:str}", operation_id="getConfirmation", opt=READERS)
    async def confirmation(
        self,
        channel: Code,
        reference: BookingReference,
        number: Annotated[str, msgspec.Meta(max_length=20)],
        services: NamedDependency[Services],
    ) -> dict[str, Any]:
        """A confirmation document exactly as issued (replaced ones stay retrievable)."""
        return _document(services, channel, reference, number)

    @get(
        "/confirmations/{number:str}/printable",
        operation_id="printConfirmation",
        opt=READERS,
        media_type="text/html",
    )
    async def printable(
        self,
        channel: Code,
        reference: BookingReference,
        number: Annotated[str, msgspec.Meta(max_length=20)],
        services: NamedDependency[Services],
    ) -> str:
        """The document as a printable HTML page, its digest at the foot."""
        return _page(_document(services, channel, reference, number))


def _document(services: Services, channel: str, reference: str, number: str) -> dict[str, Any]:
    check_code(channel, "channel")
    booking = services.bookings.booking(channel, reference)
    for document in booking.documents:
        if document["confirmation_number"] == number:
            return document
    raise UnknownBooking(f"booking {reference} has no confirmation {number!r}", number=number)


def _page(document: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(_shown(value))}</td></tr>"
        for key, value in document.items()
        if key != "digest"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Confirmation {html.escape(document['confirmation_number'])}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
        "th{text-align:left;padding-right:1em;vertical-align:top}"
        "footer{margin-top:2em;font-family:monospace;font-size:small}</style></head><body>"
        f"<h1>Confirmation {html.escape(document['confirmation_number'])}</h1>"
        f"<table>{rows}</table>"
        f"<footer>SHA-256 {html.escape(document['digest'])}</footer></body></html>"
    )


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        if set(value) == {"amount", "currency"}:
            return f"{value['amount']} {value['currency']}"
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return "" if value is None else str(value)


class BookingReadController(Controller):
    tags = ["bookings"]  # noqa: RUF012

    @get(
        "/v1/channels/{channel:str}/resources/{code:str}/availability",
        operation_id="getResourceAvailability",
        opt=admits("admin", "operator", "auditor", "channel", "connector"),
    )
    async def availability(
        self,
        channel: Code,
        code: Code,
        services: NamedDependency[Services],
        slot: Annotated[
            list[str], QueryParameter(name="slot", max_items=366, description="slots, repeated")
        ],
    ) -> dict[str, Any]:
        """Units the channel may still book in each slot: its allotment left plus the shared
        pool, a lapsed hold counted free at once; 0 where closed or stop-sold."""
        check_code(channel, "channel")
        check_code(code, "resource")
        async with services.read_pool.connection() as conn:
            items = await services.booking_queries.availability(conn, channel, code, slot)
        if items is None:
            raise UnknownResource(f"no resource {code!r}", resource=code)
        return {"channel": channel, "resource": code, "items": items}

    @get(
        "/v1/confirmations/{number:str}",
        operation_id="getConfirmationByNumber",
        opt=admits("admin", "operator", "auditor"),
    )
    async def by_number(
        self,
        number: Annotated[str, msgspec.Meta(max_length=20)],
        services: NamedDependency[Services],
    ) -> dict[str, Any]:
        """Any confirmation document by its number, current or replaced, with the number
        that replaced it (if any)."""
        async with services.read_pool.connection() as conn:
            found = await services.booking_queries.document(conn, number)
        if found is None:
            raise UnknownBooking(f"no confirmation {number!r}", number=number)
        return found

    @get("/v1/bookings", operation_id="listBookings", opt=admits("admin", "operator", "auditor"))
    async def bookings(
        self,
        services: NamedDependency[Services],
        channel: Annotated[Code | None, QueryParameter()] = None,
        resource: Annotated[Code | None, QueryParameter()] = None,
        status: Annotated[BookingStatus | None, QueryParameter()] = None,
        flagged: Annotated[bool | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Bookings of every channel, oldest first; ``flagged=true`` lists those waiting for
        manual handling after a disruption."""
        async with services.read_pool.connection() as conn:
            rows, resume = await services.booking_queries.list(
                conn,
                channel=channel,
                resource=resource,
                status=status,
                flagged=flagged,
                after=cursor,
                limit=limit,
            )
        return {"items": rows, "next_cursor": resume}
