"""Orders: placement by a channel (idempotent by its own order number), the lifecycle, POS
sales, and the read side (a channel's order list and an order's timeline)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from api.auth import admits
from api.order_schemas import (
    CancelPost,
    OrderLine,
    OrderNumber,
    OrderPost,
    PaymentPost,
    PosSalePost,
    RefundPost,
    ReturnPost,
    ShipmentStep,
    plain,
)
from api.routes.commanding import execute
from api.schemas import Code
from api.services import Services
from application.commands import Outcome
from application.commands import Request as CommandRequest
from domain.errors import InvalidValue
from domain.identity import check_code
from domain.money import minor_units, quantum
from domain.order import Fulfilment, LineRequest, OrderStatus, ShipmentAction, UnknownOrder

MAX_PAGE = 500
WRITERS = admits("admin", "operator", "channel")
OPERATORS = admits("admin", "operator")


def _currency(lines: list[OrderLine]) -> str:
    currencies = {line.unit_price.currency for line in lines}
    if len(currencies) != 1:
        raise InvalidValue("every line of an order is in one currency", field="lines")
    return currencies.pop()


def _lines(lines: list[OrderLine]) -> list[LineRequest]:
    return [LineRequest(line.sku, line.quantity, line.unit_price.amount) for line in lines]


def _placed(outcome: Outcome) -> int:
    """201 for a new order; 200 when the number was placed before (nothing written)."""
    return 201 if outcome.position is not None and not outcome.replayed else 200


class OrderPlacementController(Controller):
    path = "/v1/channels/{channel:str}"
    tags = ["orders"]  # noqa: RUF012

    @post("/orders", operation_id="placeOrder", opt=WRITERS)
    async def place(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        data: JSONBody[OrderPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Place an order under the channel's own number. Placing the same number again
        answers with the order already there (200) and writes nothing; the same number with
        other lines is a 409. The shown unit prices are checked against the effective
        prices; stock is reserved and the order confirmed or rejected by the saga."""
        outcome: list[Outcome] = []

        def command(body: OrderPost, req: CommandRequest) -> Outcome:
            currency = _currency(body.lines)
            payment = plain(body.payment)
            if payment is not None and body.payment is not None:
                if body.payment.amount.currency != currency:
                    raise InvalidValue("the payment is in the order's currency", field="payment")
                payment["amount"] = body.payment.amount.amount
            result = services.orders.place(
                channel=channel,
                order_number=body.order_number,
                lines=_lines(body.lines),
                currency=currency,
                customer=plain(body.customer),
                ship_to=plain(body.ship_to),
                fulfilment=body.fulfilment,
                pickup_location=body.pickup_location,
                split_allowed=body.split_allowed,
                payment_due_by=body.payment_due_by,
                payment=payment,
                request=req,
            )
            outcome.append(result)
            return result

        response = await execute(request, "place_order", OrderPost, command)
        response.status_code = _placed(outcome[0])
        return response

    @get(
        "/orders",
        operation_id="listChannelOrders",
        opt=admits("admin", "operator", "auditor", "channel"),
    )
    async def channel_orders(
        self,
        channel: Code,
        services: NamedDependency[Services],
        status: Annotated[OrderStatus | None, QueryParameter()] = None,
        sku: Annotated[Code | None, QueryParameter()] = None,
        placed_from: Annotated[datetime | None, QueryParameter()] = None,
        placed_to: Annotated[datetime | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> dict[str, Any]:
        """The channel's orders, oldest placement first, filtered by status, SKU and
        placement window (from inclusive, to exclusive); page on with ``next_cursor``."""
        check_code(channel, "channel")
        return await _list(services, channel, status, sku, placed_from, placed_to, cursor, limit)

    @post("/pos-sales", operation_id="recordPosSale", opt=WRITERS)
    async def pos_sale(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        data: JSONBody[PosSalePost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """A store sale: an order placed, paid and handed over at once at the store."""
        outcome: list[Outcome] = []

        def command(body: PosSalePost, req: CommandRequest) -> Outcome:
            currency = _currency(body.lines)
            total = sum(line.unit_price.amount * line.quantity for line in body.lines)
            result = services.orders.place(
                channel=channel,
                order_number=body.sale_number,
                lines=_lines(body.lines),
                currency=currency,
                customer=plain(body.customer),
                fulfilment=Fulfilment.POS,
                pickup_location=body.location,
                payment={
                    "status": "captured",
                    "reference": body.payment_reference,
                    "amount": total,
                },
                request=req,
            )
            outcome.append(result)
            return result

        response = await execute(request, "pos_sale", PosSalePost, command)
        response.status_code = _placed(outcome[0])
        return response


class OrderController(Controller):
    path = "/v1/channels/{channel:str}/orders/{order_number:str}"
    tags = ["orders"]  # noqa: RUF012

    @get(
        "/",
        operation_id="getOrder",
        opt=admits("admin", "operator", "auditor", "channel"),
    )
    async def order(
        self,
        channel: Code,
        order_number: OrderNumber,
        services: NamedDependency[Services],
        min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
    ) -> dict[str, Any]:
        """The order with its lines, shipments and timeline: every event with its actor,
        time and what it said (prices at placement, the routing decision, the holds).

        ``min_position`` (a write's ``Ledgerline-Position``) waits up to 5 s until the read
        model has applied it, so a client reads its own write."""
        check_code(channel, "channel")
        if min_position is not None:
            await _wait_for(services, min_position)
        async with services.read_pool.connection() as conn:
            found = await services.order_queries.by_number(conn, channel, order_number)
            detail = None if found is None else await services.order_queries.detail(conn, found)
        if detail is None:
            raise UnknownOrder(
                f"channel {channel} has no order {order_number!r}",
                channel=channel,
                order_number=order_number,
            )
        return _public(detail)

    @post(
        "/payments/authorisations",
        operation_id="authoriseOrderPayment",
        opt=WRITERS,
        status_code=200,
    )
    async def authorise(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        order_number: OrderNumber,
        data: JSONBody[PaymentPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Record a payment authorisation (the payment itself is external). The order's
        holds stop lapsing; after the payment deadline it is refused."""

        def command(body: PaymentPost, req: CommandRequest) -> Outcome:
            return services.orders.authorise_payment(
                channel, order_number, body.amount.amount, body.reference, request=req
            )

        return await execute(request, "authorise_payment", PaymentPost, command)

    @post("/payments/captures", operation_id="captureOrderPayment", opt=WRITERS, status_code=200)
    async def capture(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        order_number: OrderNumber,
        data: JSONBody[PaymentPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Record a capture of (part of) what was authorised."""

        def command(body: PaymentPost, req: CommandRequest) -> Outcome:
            return services.orders.capture_payment(
                channel, order_number, body.amount.amount, body.reference, request=req
            )

        return await execute(request, "capture_payment", PaymentPost, command)

    @post("/refunds", operation_id="recordOrderRefund", opt=WRITERS, status_code=200)
    async def refund(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        order_number: OrderNumber,
        data: JSONBody[RefundPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Record a refund of captured money."""

        def command(body: RefundPost, req: CommandRequest) -> Outcome:
            return services.orders.refund(
                channel,
                order_number,
                body.refund_id,
                body.amount.amount,
                body.reference,
                request=req,
            )

        return await execute(request, "refund", RefundPost, command)

    @post(
        "/shipments/{shipment:str}/{step:str}",
        operation_id="advanceShipment",
        opt=OPERATORS,
        status_code=200,
    )
    async def shipment(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        order_number: OrderNumber,
        shipment: Code,
        step: Annotated[ShipmentAction, msgspec.Meta(description="pick, pack, ship or deliver")],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Move a shipment on: ``pick``, ``pack``, ``ship`` (body may name carrier and
        tracking; its reservations are committed) or ``deliver``."""

        def command(body: ShipmentStep | None, req: CommandRequest) -> Outcome:
            return services.orders.advance_shipment(
                channel,
                order_number,
                shipment,
                step,
                carrier=None if body is None else body.carrier,
                tracking=None if body is None else body.tracking,
                request=req,
            )

        raw = await request.body()
        model = ShipmentStep if raw.strip() else None
        return await execute(request, f"shipment_{step}", model, command)

    @post("/collection", operation_id="collectOrder", opt=WRITERS, status_code=200)
    async def collect(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        order_number: OrderNumber,
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Click & collect: the customer took the goods at the store."""
        return await execute(
            request,
            "collect",
            None,
            lambda _, req: services.orders.collect(channel, order_number, request=req),
        )

    @post("/cancellation", operation_id="cancelOrder", opt=WRITERS, status_code=200)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        order_number: OrderNumber,
        data: JSONBody[CancelPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Cancel what is not shipped; its stock is released by the saga."""

        def command(body: CancelPost, req: CommandRequest) -> Outcome:
            return services.orders.cancel(channel, order_number, body.reason, request=req)

        return await execute(request, "cancel_order", CancelPost, command)

    @post("/returns", operation_id="recordReturn", opt=OPERATORS, status_code=200)
    async def record_return(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        order_number: OrderNumber,
        data: JSONBody[ReturnPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Goods came back to a location: sellable ones are restocked, damaged ones not."""

        def command(body: ReturnPost, req: CommandRequest) -> Outcome:
            lines: dict[int, int] = {}
            for item in body.lines:
                lines[item.line] = lines.get(item.line, 0) + item.quantity
            return services.orders.record_return(
                channel,
                order_number,
                body.return_id,
                lines,
                body.location,
                body.disposition,
                request=req,
            )

        return await execute(request, "record_return", ReturnPost, command)


MONEY_FIELDS = ("total", "authorised", "captured", "refunded")
LINE_MONEY = ("unit_price", "effective_price", "list_price")
MAX_WAIT_SECONDS = 5.0


def _public(order: dict[str, Any]) -> dict[str, Any]:
    """A read-model row with money as {"amount", "currency"}, as every answer has it."""
    currency = order["currency"]

    def money(value: Any) -> dict[str, str] | None:
        if value is None:
            return None
        # Exact amounts are never rounded; a bare 0 is shown as 0.00 like any other EUR.
        shown = (
            value
            if value.as_tuple().exponent < -minor_units(currency)
            else value.quantize(quantum(currency))
        )
        return {"amount": str(shown), "currency": currency}

    shaped = {**order, **{name: money(order.get(name)) for name in MONEY_FIELDS if name in order}}
    if "lines" in order:
        shaped["lines"] = [
            {**line, **{name: money(line.get(name)) for name in LINE_MONEY}}
            for line in order["lines"]
        ]
    return shaped


async def _list(
    services: Services,
    channel: str | None,
    status: str | None,
    sku: str | None,
    placed_from: datetime | None,
    placed_to: datetime | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    async with services.read_pool.connection() as conn:
        rows, resume = await services.order_queries.list(
            conn,
            channel=channel,
            status=status,
            sku=sku,
            placed_from=placed_from,
            placed_to=placed_to,
            after=cursor,
            limit=limit,
        )
    return {"items": [_public(row) for row in rows], "next_cursor": resume}


class OrderReadController(Controller):
    tags = ["orders"]  # noqa: RUF012

    @get(
        "/v1/orders",
        operation_id="listOrders",
        opt=admits("admin", "operator", "auditor"),
    )
    async def all_orders(
        self,
        services: NamedDependency[Services],
        channel: Annotated[Code | None, QueryParameter()] = None,
        status: Annotated[OrderStatus | None, QueryParameter()] = None,
        sku: Annotated[Code | None, QueryParameter()] = None,
        placed_from: Annotated[datetime | None, QueryParameter()] = None,
        placed_to: Annotated[datetime | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> dict[str, Any]:
        """Orders of every channel, with the same filters and paging."""
        return await _list(services, channel, status, sku, placed_from, placed_to, cursor, limit)


async def _wait_for(services: Services, position: int) -> None:
    deadline = asyncio.get_running_loop().time() + MAX_WAIT_SECONDS
    while True:
        async with services.read_pool.connection() as conn:
            if await services.order_queries.position(conn) >= position:
                return
        if asyncio.get_running_loop().time() > deadline:
            return  # answer with what there is; the client sees the version it got
        await asyncio.sleep(0.02)
