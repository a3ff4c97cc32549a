"""Catalogue and customer imports through the import service (the CLI's engine)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from cxloop.core.db import Database
from cxloop.events import imports
from cxloop.models import ConsentRecord, Customer, Product
from tests.factories import make_workspace, unique


def _workspace_id(database: Database) -> int:
    with database.session() as session:
        return make_workspace(session, slug=unique("imp-")).id


def test_product_catalogue_import_upserts_by_product_id(database: Database, tmp_path: Path) -> None:
    # given a catalogue with a KRW price that has a fraction and a USD price
    workspace_id = _workspace_id(database)
    path = tmp_path / "products.csv"
    path.write_text(
        "product_id,sku,name,category,brand,price,currency\n"
        "P-1,SKU-1,한우 선물세트,food,농협,129000.4,KRW\n"
        "P-2,,Linen shirt,fashion,,19.99,usd\n",
        encoding="utf-8",
    )
    # when it is imported twice, the second time with a new price
    first = imports.import_products(database, workspace_id=workspace_id, path=path)
    path.write_text(path.read_text().replace("129000.4", "99000"), encoding="utf-8")
    imports.import_products(database, workspace_id=workspace_id, path=path)
    # then each product exists once, KRW whole won, USD with cents, last price wins
    assert first.rows == 2 and first.errors == []
    with database.session() as session:
        rows = session.execute(
            select(Product.external_id, Product.name, Product.price, Product.currency)
            .where(Product.workspace_id == workspace_id)
            .order_by(Product.external_id)
        ).all()
    assert rows == [
        ("P-1", "한우 선물세트", Decimal("99000.00"), "KRW"),
        ("P-2", "Linen shirt", Decimal("19.99"), "USD"),
    ]


def test_product_import_reports_bad_rows_and_a_dry_run_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    workspace_id = _workspace_id(database)
    path = tmp_path / "bad.csv"
    path.write_text(
        "product_id,name,price,currency\n,No id,100,KRW\nP-9,Bad,abc,KRW\n"
        "P-10,Bad currency,100,WON1\nP-11,Good,100,KRW\n",
        encoding="utf-8",
    )
    report = imports.import_products(None, workspace_id=workspace_id, path=path)
    assert report.rows == 4
    assert report.errors == [
        "line 2: product_id (or sku) is required",
        "line 3: price 'abc' is not a number",
        "line 4: currency must be a 3-letter code",
    ]
    with database.session() as session:
        count = session.scalar(
            select(func.count()).select_from(Product).where(Product.workspace_id == workspace_id)
        )
    assert count == 0


def test_customer_import_records_consent_and_is_idempotent(
    database: Database, tmp_path: Path
) -> None:
    workspace_id = _workspace_id(database)
    path = tmp_path / "customers.csv"
    path.write_text(
        "user_id,email,phone,name,region,consent_marketing_sms\n"
        "c-1,Kim@Example.com,010-2345-6789,김하늘,서울,true\n"
        ",only@example.com,,Only Email,Busan,false\n",
        encoding="utf-8",
    )
    first = imports.import_customers(database, workspace_id=workspace_id, path=path)
    second = imports.import_customers(database, workspace_id=workspace_id, path=path)
    assert (first.stored, second.stored, second.duplicates) == (2, 0, 2)
    with database.session() as session:
        customers = session.scalars(
            select(Customer).where(Customer.workspace_id == workspace_id).order_by(Customer.id)
        ).all()
        consents = session.execute(
            select(ConsentRecord.purpose, ConsentRecord.channel, ConsentRecord.granted)
            .where(ConsentRecord.workspace_id == workspace_id)
            .order_by(ConsentRecord.id)
        ).all()
    assert [(c.display_name, c.email, c.phone, c.traits.get("region")) for c in customers] == [
        ("김하늘", "kim@example.com", "+821023456789", "서울"),
        ("Only Email", "only@example.com", None, "Busan"),
    ]
    # the second run changes no consent, so the ledger holds one record per customer
    assert consents == [("marketing", "sms", True), ("marketing", "sms", False)]


def test_consent_columns_whose_purpose_or_channel_holds_an_underscore(
    database: Database, tmp_path: Path
) -> None:
    workspace_id = _workspace_id(database)
    path = tmp_path / "customers.csv"
    path.write_text(
        "user_id,consent_service_in_app,consent_third_party_email,consent_night_marketing_sms\n"
        "u-1,false,true,true\n",
        encoding="utf-8",
    )
    report = imports.import_customers(database, workspace_id=workspace_id, path=path)
    assert (report.stored, report.errors) == (1, [])
    with database.session() as session:
        consents = session.execute(
            select(ConsentRecord.purpose, ConsentRecord.channel, ConsentRecord.granted)
            .where(ConsentRecord.workspace_id == workspace_id)
            .order_by(ConsentRecord.purpose)
        ).all()
    assert consents == [
        ("night_marketing", "sms", True),
        ("service", "in_app", False),
        ("third_party", "email", True),
    ]
