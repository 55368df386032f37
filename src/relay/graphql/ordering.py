"""Sort order input shared by every track connection."""

from __future__ import annotations

import strawberry

from relay.domain import TrackOrder
from relay.graphql.enums import OrderDirection, TrackOrderField


@strawberry.input(name="TrackOrder")
class TrackOrderInput:
    field: TrackOrderField = TrackOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC


def order_value(order: TrackOrderInput | None) -> TrackOrder:
    if order is None:
        return TrackOrder()
    return TrackOrder(field=order.field, direction=order.direction)
