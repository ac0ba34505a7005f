"""Orders: placement by a channel (idempotent by its own order number), the lifecycle, POS
sales, and the read side (a channel's order list and an order's timeline)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

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
from domain.order import Fulfilment, LineRequest, ShipmentAction

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
