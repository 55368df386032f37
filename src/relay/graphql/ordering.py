"""Sort order input shared by every track connection."""

from __future__ import annotations

from enum import Enum

import strawberry

from relay.db.tracks import TrackOrder as OrderValue
from relay.db.tracks import TrackOrderField as OrderFieldValue


@strawberry.enum
class TrackOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    TITLE = "TITLE"
    DURATION = "DURATION"


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input(name="TrackOrder")
class TrackOrderInput:
    field: TrackOrderField = TrackOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC


def order_value(order: TrackOrderInput | None) -> OrderValue:
    order = order or TrackOrderInput()
    return OrderValue(
        field=OrderFieldValue(order.field.value), descending=order.direction is OrderDirection.DESC
    )
