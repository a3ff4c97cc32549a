"""Recommendations: the ALS ranking with its exclusions and reasons, the popularity fallbacks,
bought-together neighbours, the leave-last-out evaluation, and the loader's grouped SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

import cxloop.events.hooks  # noqa: F401  (merges move orders to the survivor)
from cxloop.insights import recommend as rec
from cxloop.insights import recommend_data
from cxloop.models import Customer, Event, Order, OrderItem, Product, Workspace
from cxloop.profiles.identity import merge_customers
from tests.factories import make_customer, make_workspace, unique

SMALL = rec.RecommenderSettings(factors=4, iterations=10, min_co_buyers=1, min_segment_buyers=1)

# Products 10–15. Customers 1–3 buy 10 and 11 together; 4–5 buy 12 and 13; customer 6 bought
# only 10; 7 only viewed 14. Buyers: 10 → 4, 11 → 3, 12 → 2, 13 → 2, 14 and 15 → none.
PURCHASES = [(1, 10), (1, 11), (2, 10), (2, 11), (3, 10), (3, 11), (4, 12), (4, 13), (5, 12)]
PURCHASES += [(5, 13), (6, 10)]
CATALOGUE = [10, 11, 12, 13, 14, 15]


def shop(
    purchases: list[tuple[int, int]] = PURCHASES,
    views: list[tuple[int, int]] | None = None,
) -> rec.Interactions:
    views = [(7, 14)] if views is None else views
    return rec.interactions_from_counts(
        purchase_customer=[c for c, _ in purchases],
        purchase_product=[p for _, p in purchases],
        view_customer=[c for c, _ in views],
        view_product=[p for _, p in views],
        products=CATALOGUE,
    )


def listed(recommendations: rec.Recommendations) -> dict[int, list[dict[str, Any]]]:
    return dict(recommendations.by_customer())


def products_of(items: list[dict[str, Any]]) -> list[int]:
    return [item["product_id"] for item in items]


def available(*out_of_stock: int) -> np.ndarray:
    return ~np.isin(np.array(CATALOGUE), out_of_stock)


# --- pure compute ------------------------------------------------------------------------------


def test_the_matrices_count_orders_and_views_per_customer_and_product() -> None:
    interactions = rec.interactions_from_counts(
        purchase_customer=[5, 5, 3],
        purchase_product=[20, 20, 21],
        purchase_count=[1, 2, 1],
        view_customer=[9],
        view_product=[22],
        products=[23, 20],
    )

    assert interactions.customer.tolist() == [3, 5, 9]
    assert interactions.product.tolist() == [20, 21, 22, 23]
    assert interactions.purchases.toarray().tolist() == [[0, 1, 0, 0], [3, 0, 0, 0], [0, 0, 0, 0]]
    assert interactions.views.toarray().tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]]


def test_bought_items_are_never_recommended() -> None:
    model = rec.fit_recommender(shop(), SMALL)

    found = listed(rec.recommend_customers(model, [1, 4, 6], n=10))

    # the catalogue less what each bought: everything else is ranked
    assert sorted(products_of(found[1])) == [12, 13, 14, 15]
    assert sorted(products_of(found[4])) == [10, 11, 14, 15]
    assert sorted(products_of(found[6])) == [11, 12, 13, 14, 15]


@pytest.mark.parametrize(
    ("out_of_stock", "expected"),
    [
        pytest.param((12,), [13, 14, 15], id="one-out-of-stock"),
        pytest.param((12, 13, 14, 15), [], id="nothing-left-to-recommend"),
    ],
)
def test_products_not_on_sale_are_never_recommended(
    out_of_stock: tuple[int, ...], expected: list[int]
) -> None:
    model = rec.fit_recommender(shop(), SMALL)

    found = listed(rec.recommend_customers(model, [1], n=5, available=available(*out_of_stock)))

    assert sorted(products_of(found[1])) == expected


def test_a_customer_without_history_gets_the_most_bought_products_as_popular() -> None:
    model = rec.fit_recommender(shop(), SMALL)

    found = listed(rec.recommend_customers(model, [99], n=3, available=available(11)))

    assert found[99] == [
        {"product_id": 10, "score": 4.0, "reason": {"kind": "popular"}},
        {"product_id": 12, "score": 2.0, "reason": {"kind": "popular"}},
        {"product_id": 13, "score": 2.0, "reason": {"kind": "popular"}},
    ]


def test_a_new_customer_in_a_segment_gets_what_that_segment_buys() -> None:
    model = rec.fit_recommender(shop(), SMALL)
    # segment 0: customers 4 and 5 (and the newcomer 98); 99 has no segment
    segments = rec.SegmentLabels(customer=np.array([4, 5, 98]), segment=np.array([0, 0, 0]))

    found = listed(rec.recommend_customers(model, [98, 99], n=2, segments=segments))

    assert found[98] == [
        {"product_id": 12, "score": 2.0, "reason": {"kind": "popular_in_segment"}},
        {"product_id": 13, "score": 2.0, "reason": {"kind": "popular_in_segment"}},
    ]
    assert products_of(found[99]) == [10, 11]
    assert found[99][0]["reason"] == {"kind": "popular"}


def test_a_segment_with_too_few_buyers_falls_back_to_overall_popularity() -> None:
    settings = rec.RecommenderSettings(factors=4, iterations=10, min_segment_buyers=3)
    model = rec.fit_recommender(shop(), settings)
    segments = rec.SegmentLabels(customer=np.array([4, 5, 98]), segment=np.array([0, 0, 0]))

    found = listed(rec.recommend_customers(model, [98], n=2, segments=segments))

    assert [item["reason"] for item in found[98]] == [{"kind": "popular"}] * 2
    assert products_of(found[98]) == [10, 11]


def test_the_bought_with_reason_names_a_product_the_customer_bought_with_it() -> None:
    model = rec.fit_recommender(shop(), SMALL)

    found = listed(rec.recommend_customers(model, [6], n=5))

    # customer 6 bought only 10; 10 and 11 were bought together by customers 1–3
    by_product = {item["product_id"]: item["reason"] for item in found[6]}
    assert by_product[11] == {"kind": "bought_with", "product_id": 10}
    # nobody bought 12 with 10: the reason is the closest thing they bought, not "bought with"
    assert by_product[12] == {"kind": "similar_to", "product_id": 10}


def test_every_named_reason_is_something_the_customer_bought_or_viewed() -> None:
    rng = np.random.default_rng(3)
    customers = rng.integers(0, 60, 400)
    products = (customers % 3) * 10 + rng.integers(0, 10, 400)
    viewers = rng.integers(50, 80, 100)
    interactions = rec.interactions_from_counts(
        purchase_customer=customers,
        purchase_product=products,
        view_customer=viewers,
        view_product=rng.integers(0, 30, 100),
    )
    model = rec.fit_recommender(interactions, SMALL)

    found = rec.recommend_customers(model, interactions.customer, n=10)

    history = interactions.purchases.toarray() > 0
    viewed = interactions.views.toarray() > 0
    for row, (customer, items) in enumerate(found.by_customer()):
        assert customer == interactions.customer[row]
        own = history[row] if history[row].any() else viewed[row]
        named = {int(p) for p in interactions.product[own]}
        assert len(items) == 10
        for item in items:
            assert item["reason"]["kind"] in ("bought_with", "similar_to")
            assert item["reason"]["product_id"] in named
            if item["reason"]["kind"] == "bought_with":
                assert history[row].any()


def test_a_viewer_who_never_bought_is_recommended_from_the_model() -> None:
    model = rec.fit_recommender(shop(), SMALL)

    found = listed(rec.recommend_customers(model, [7], n=6))

    assert sorted(products_of(found[7])) == CATALOGUE  # nothing bought, nothing excluded
    assert {item["reason"]["kind"] for item in found[7]} == {"similar_to"}
    assert {item["reason"]["product_id"] for item in found[7]} == {14}


def test_excluded_customers_get_no_recommendations() -> None:
    model = rec.fit_recommender(shop(), SMALL)

    found = rec.recommend_customers(model, [1, 2, 99], n=3, exclude=[2, 99])

    assert found.customer.tolist() == [1]


def test_one_input_gives_one_model_and_one_list() -> None:
    first = rec.fit_recommender(shop(), SMALL)
    second = rec.fit_recommender(shop(), SMALL)

    assert np.array_equal(first.user_factors, second.user_factors)
    assert np.array_equal(first.item_factors, second.item_factors)
    one = rec.recommend_customers(first, [1, 4, 6, 7, 99], n=4)
    two = rec.recommend_customers(second, [1, 4, 6, 7, 99], n=4)
    assert listed(one) == listed(two)


def test_customers_who_bought_this_also_bought() -> None:
    purchases = [*PURCHASES, (3, 12), (9, 10), (9, 12)]
    model = rec.fit_recommender(shop(purchases), SMALL)

    ids, scores = rec.also_bought(model, [10, 12, 15, 77], n=2, available=available(11))

    # 10: with 11 (3 co-buyers, out of stock) and with 12 (2 co-buyers of 5 and 4 buyers)
    assert ids.tolist() == [[12, -1], [13, 10], [-1, -1], [-1, -1]]
    assert scores[0, 0] == pytest.approx(2 / np.sqrt(5 * 4))
    assert scores[1].tolist() == pytest.approx([2 / np.sqrt(4 * 2), 2 / np.sqrt(4 * 5)])


def test_bought_together_needs_the_fewest_co_buyers_and_keeps_the_strongest() -> None:
    purchases = shop([(1, 10), (1, 11), (2, 10), (2, 11), (3, 10), (3, 12)]).purchases

    neighbours = rec.bought_together(purchases, neighbours=1, min_co_buyers=2).toarray()

    assert np.count_nonzero(neighbours) == 2
    assert neighbours[0, 1] == pytest.approx(2 / np.sqrt(3 * 2))
    assert neighbours[1, 0] == pytest.approx(2 / np.sqrt(3 * 2))


def test_nothing_bought_or_viewed_gives_no_recommendations() -> None:
    model = rec.fit_recommender(shop([], []), SMALL)

    found = listed(rec.recommend_customers(model, [1], n=3))

    assert found == {1: []}


# --- evaluation --------------------------------------------------------------------------------


def test_the_last_purchase_times_are_held_out_of_customers_who_have_more() -> None:
    customer = [1, 1, 1, 1, 2, 3, 3]
    time = [5, 9, 9, 7, 4, 1, 2]

    held = rec.split_leave_last_out(customer, time, holdout_last=1)
    held_two = rec.split_leave_last_out(customer, time, holdout_last=2)

    assert held.tolist() == [False, True, True, False, False, False, True]
    assert held_two.tolist() == [False, True, True, True, False, False, False]


def test_leave_last_out_scores_als_and_popularity_on_the_same_held_out_products() -> None:
    # Two tastes: 40 customers buy among products 0–9, 20 among 10–19; the last purchase of
    # each is held out. Popularity recommends the big group's products to everyone.
    rng = np.random.default_rng(7)
    rows: list[tuple[int, int, int]] = []
    for customer in range(60):
        base = 0 if customer < 40 else 10
        chosen = rng.choice(10, size=5, replace=False) + base
        rows += [(customer, int(product), day) for day, product in enumerate(chosen)]
    customer, product, day = (np.array(c) for c in zip(*rows, strict=True))

    result = rec.evaluate_leave_last_out(
        customer, product, day, settings=rec.RecommenderSettings(factors=4, iterations=10)
    )

    assert result.customers == 60
    assert result.held_out == 60
    assert result.k == 10
    # each customer has one held-out product among ten: precision@10 is recall / 10
    assert result.als.precision == pytest.approx(result.als.recall / 10)
    assert result.popularity.precision == pytest.approx(result.popularity.recall / 10)
    assert result.als.recall > 0.9
    # the big group always finds theirs among the popular ten; the small group rarely does
    assert 40 / 60 <= result.popularity.recall < 0.75
    assert result.precision_lift > 1.25
    assert result.als.coverage == 1.0
    assert result.popularity.coverage < 1.0


def test_held_out_products_already_bought_or_not_on_sale_do_not_count() -> None:
    customer = [1, 1, 1, 2, 2, 3, 3]
    product = [10, 11, 10, 10, 12, 11, 13]
    day = [1, 2, 3, 1, 2, 1, 2]

    result = rec.evaluate_leave_last_out(
        customer, product, day, available_products=[10, 11], settings=SMALL
    )

    # 1's held-out 10 was bought before; 2's 12 and 3's 13 are not on sale
    assert result.customers == 0
    assert result.held_out == 0


# --- the loader --------------------------------------------------------------------------------


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=UTC)


def products(session: Session, workspace: Workspace, *names: str) -> dict[str, Product]:
    made = {
        name: Product(workspace_id=workspace.id, external_id=name, name=name, properties={})
        for name in names
    }
    session.add_all(made.values())
    session.flush()
    return made


def order(
    session: Session,
    customer: Customer,
    placed_at: datetime,
    *items: Product,
    status: str = "completed",
) -> None:
    session.add(
        Order(
            workspace_id=customer.workspace_id,
            customer_id=customer.id,
            external_id=unique("O-"),
            status=status,
            total=Decimal(1000),
            placed_at=placed_at,
            properties={},
            items=[
                OrderItem(
                    workspace_id=customer.workspace_id,
                    product_id=item.id,
                    external_product_id=item.external_id,
                    name=item.name,
                )
                for item in items
            ],
        )
    )
    session.flush()


def view(session: Session, customer: Customer, when: datetime, **properties: Any) -> None:
    session.add(
        Event(
            workspace_id=customer.workspace_id,
            customer_id=customer.id,
            message_id=unique("m-"),
            type="track",
            name="Product Viewed",
            timestamp=when,
            received_at=when,
            properties=properties,
            context={},
        )
    )
    session.flush()


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return make_workspace(session)


def test_the_loader_counts_orders_and_views_of_customers_that_count(
    session: Session, workspace: Workspace
) -> None:
    # given
    p = products(session, workspace, "tea", "cup", "pot", "spoon")
    kim = make_customer(session, workspace=workspace)
    order(session, kim, at(1), p["tea"], p["cup"])
    order(session, kim, at(2), p["tea"])
    order(session, kim, at(3), p["pot"], status="refunded")
    order(session, kim, datetime(2025, 4, 1, tzinfo=UTC), p["spoon"])  # at as_of
    view(session, kim, at(4), product_id="pot")
    view(session, kim, at(5), productId="pot")
    view(session, kim, at(5), sku="spoon")
    view(session, kim, at(6), product_id="unknown")
    lee = make_customer(session, workspace=workspace)
    order(session, lee, at(3), p["cup"])
    twin = make_customer(session, workspace=workspace)
    order(session, twin, at(4), p["pot"])
    view(session, twin, at(4), product_id="tea")
    merge_customers(session, survivor=lee, merged=twin, reason="test")
    session.flush()
    gone = make_customer(session, workspace=workspace)
    order(session, gone, at(5), p["tea"])
    gone.erased_at = at(20)
    other = make_workspace(session)
    elsewhere = make_customer(session, workspace=other)
    order(session, elsewhere, at(5), products(session, other, "tea")["tea"])
    session.flush()

    # when
    found = recommend_data.load_interactions(
        session, workspace_id=workspace.id, as_of=datetime(2025, 4, 1, tzinfo=UTC)
    )

    # then
    ids = [p[name].id for name in ("tea", "cup", "pot", "spoon")]
    assert found.customer.tolist() == sorted([kim.id, lee.id])
    assert found.product.tolist() == ids
    kim_row, lee_row = (found.customer.tolist().index(c) for c in (kim.id, lee.id))
    assert found.purchases.toarray()[kim_row].tolist() == [2, 1, 0, 0]
    assert found.purchases.toarray()[lee_row].tolist() == [0, 1, 1, 0]
    assert found.views.toarray()[kim_row].tolist() == [0, 0, 2, 1]
    assert found.views.toarray()[lee_row].tolist() == [1, 0, 0, 0]


def test_the_loader_leaves_out_excluded_customers_and_old_rows(
    session: Session, workspace: Workspace
) -> None:
    p = products(session, workspace, "tea", "cup")
    kim = make_customer(session, workspace=workspace)
    lee = make_customer(session, workspace=workspace)
    order(session, kim, at(1), p["tea"])
    order(session, kim, at(10), p["cup"])
    view(session, kim, at(2), product_id="cup")
    order(session, lee, at(10), p["tea"])

    found = recommend_data.load_interactions(
        session,
        workspace_id=workspace.id,
        as_of=at(20),
        since=at(5),
        exclude_customer_ids=[lee.id],
    )

    assert found.customer.tolist() == [kim.id]
    assert found.purchases.toarray().tolist() == [[0, 1]]
    assert found.views.nnz == 0


def test_the_loader_reads_in_grouped_queries(session: Session, workspace: Workspace) -> None:
    p = products(session, workspace, "tea", "cup")
    for _ in range(5):
        customer = make_customer(session, workspace=workspace)
        order(session, customer, at(1), p["tea"], p["cup"])
        view(session, customer, at(2), product_id="cup")
    statements: list[str] = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        found = recommend_data.load_interactions(session, workspace_id=workspace.id, as_of=at(20))
    finally:
        event.remove(engine, "before_cursor_execute", listener)

    assert len(statements) == 3  # the catalogue, the purchases, the views
    assert found.purchases.nnz == 10


def test_the_log_has_one_entry_per_customer_product_and_local_day(
    session: Session, workspace: Workspace
) -> None:
    p = products(session, workspace, "tea", "cup")
    kim = make_customer(session, workspace=workspace)
    # 14:00 and 16:00 UTC on 1 March are 23:00 on 1 March and 01:00 on 2 March in Seoul
    order(session, kim, at(1, 14), p["tea"])
    order(session, kim, at(1, 16), p["tea"], p["cup"])
    view(session, kim, at(1, 13), product_id="cup")

    log = recommend_data.load_interaction_log(session, workspace_id=workspace.id, as_of=at(20))

    first = (datetime(2025, 3, 1) - datetime(1970, 1, 1)).days
    assert log.purchase_customer.tolist() == [kim.id] * 3
    assert log.purchase_product.tolist() == [p["tea"].id, p["tea"].id, p["cup"].id]
    assert log.purchase_day.tolist() == [first, first + 1, first + 1]
    assert log.view_product.tolist() == [p["cup"].id]
    assert log.view_day.tolist() == [first]


def test_every_product_of_the_workspace_is_on_sale(session: Session, workspace: Workspace) -> None:
    p = products(session, workspace, "tea", "cup")

    on_sale = recommend_data.load_available_products(
        session, workspace_id=workspace.id, products=[p["cup"].id, 999_999, p["tea"].id]
    )

    assert on_sale.tolist() == [True, False, True]


def test_loaded_interactions_recommend_end_to_end(session: Session, workspace: Workspace) -> None:
    p = products(session, workspace, "tea", "cup", "pot")
    for _ in range(3):
        order(session, make_customer(session, workspace=workspace), at(1), p["tea"], p["cup"])
    newcomer_of_tea = make_customer(session, workspace=workspace)
    order(session, newcomer_of_tea, at(2), p["tea"])
    found = recommend_data.load_interactions(session, workspace_id=workspace.id, as_of=at(20))
    on_sale = recommend_data.load_available_products(
        session, workspace_id=workspace.id, products=found.product
    )
    model = rec.fit_recommender(found, SMALL)

    lists = listed(rec.recommend_customers(model, [newcomer_of_tea.id], n=1, available=on_sale))

    assert lists[newcomer_of_tea.id] == [
        {
            "product_id": p["cup"].id,
            "score": pytest.approx(lists[newcomer_of_tea.id][0]["score"]),
            "reason": {"kind": "bought_with", "product_id": p["tea"].id},
        }
    ]
