"""Products, orders and order items, kept from e-commerce events and catalog imports."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cxloop.models.base import Base, BigId, Timestamped

Money = Numeric(18, 2)


class Product(Timestamped, Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    sku: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(300), default="")
    category: Mapped[str | None] = mapped_column(String(200))
    brand: Mapped[str | None] = mapped_column(String(200))
    price: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="KRW")
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Order(Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("external_id", "workspace_id"),
        Index("ix_orders_customer_placed", "customer_id", "workspace_id", "placed_at"),
        # Orders by period, with every column the business KPIs read after it (status,
        # currency, customer, total), so their scans never visit the table.
        Index(
            "ix_orders_workspace_placed_kpis",
            "workspace_id",
            "placed_at",
            "status",
            "currency",
            "customer_id",
            "total",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32), default="completed")
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    revenue: Mapped[Decimal | None] = mapped_column(Money)
    shipping: Mapped[Decimal | None] = mapped_column(Money)
    tax: Mapped[Decimal | None] = mapped_column(Money)
    discount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="KRW")
    coupon: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(32))
    placed_at: Mapped[datetime]
    event_id: Mapped[int | None] = mapped_column(BigId)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", lazy="raise", cascade="all, delete-orphan"
    )


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (
        Index("ix_order_items_product", "product_id"),
        Index("ix_order_items_workspace", "workspace_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    external_product_id: Mapped[str | None] = mapped_column(String(128))
    sku: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(300), default="")
    category: Mapped[str | None] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    quantity: Mapped[int] = mapped_column(default=1)

    order: Mapped[Order] = relationship(back_populates="items", lazy="raise")
