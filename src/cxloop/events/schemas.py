"""API models of events and orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    message_id: str
    type: str
    name: str | None
    channel: str
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    received_at: datetime
    properties: dict[str, Any]
    context: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class OrderItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    external_product_id: str | None
    sku: str | None
    name: str
    category: str | None
    price: Decimal
    quantity: int


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    external_id: str
    status: str
    total: Decimal
    currency: str
    coupon: str | None
    channel: str | None
    placed_at: datetime
    items: list[OrderItemOut]


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None
