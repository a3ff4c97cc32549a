"""RFM: rank-based quintile scores, the cell grid with its Korean and English names, counts and
revenue per cell, and movement between snapshots — small cases checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cxloop.insights import clv, rfm
from tests.insights.cdnow import CALIBRATION_END, cdnow_transactions


@pytest.mark.parametrize(
    ("values", "higher_is_better", "expected"),
    [
        pytest.param([10, 20, 30, 40, 50], True, [1, 2, 3, 4, 5], id="five-distinct"),
        pytest.param([10, 20, 30, 40, 50], False, [5, 4, 3, 2, 1], id="lower-is-better"),
        pytest.param(list(range(10)), True, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], id="ten-distinct"),
        # nobody is worse than the four 1s; four customers are worse than the 5
        pytest.param([1, 1, 1, 1, 5], True, [1, 1, 1, 1, 5], id="ties-share-a-score"),
        # 2 of 10 are worse than the 3s: ⌊5·2/10⌋ + 1 = 2; 5 are worse than the 7s: 3
        pytest.param(
            [1, 1, 3, 3, 3, 7, 7, 8, 9, 9],
            True,
            [1, 1, 2, 2, 2, 3, 3, 4, 5, 5],
            id="ties-in-the-middle",
        ),
        pytest.param([7, 7, 7], True, [1, 1, 1], id="all-equal"),
        pytest.param([42], True, [1], id="one-customer"),
        pytest.param([], True, [], id="nobody"),
    ],
)
def test_quintile_scores(values: list[float], higher_is_better: bool, expected: list[int]) -> None:
    scores = rfm.quintile_scores(values, higher_is_better=higher_is_better)

    assert scores.tolist() == expected


def test_scores_do_not_depend_on_the_order_of_customers() -> None:
    values = np.random.default_rng(3).integers(0, 6, size=200).astype(float)
    order = np.random.default_rng(4).permutation(200)

    assert (
        rfm.quintile_scores(values)[order].tolist() == rfm.quintile_scores(values[order]).tolist()
    )


def test_scores_split_distinct_values_into_fifths() -> None:
    scores = rfm.quintile_scores(np.arange(1000.0))

    assert np.bincount(scores).tolist() == [0, 200, 200, 200, 200, 200]


def test_rfm_scores_and_cells_of_five_customers() -> None:
    # given five customers: days since last purchase, purchases, revenue
    recency = [1, 5, 30, 60, 200]
    frequency = [10, 2, 8, 1, 9]
    monetary = [500, 30, 400, 10, 450]

    scores = rfm.rfm_scores(recency, frequency, monetary)

    assert scores.recency.tolist() == [5, 4, 3, 2, 1]
    assert scores.frequency.tolist() == [5, 2, 3, 1, 4]
    assert scores.monetary.tolist() == [5, 2, 3, 1, 4]
    assert scores.frequency_monetary.tolist() == [5, 2, 3, 1, 4]
    assert scores.cell_keys.tolist() == [
        "champions",
        "potential_loyalists",
        "potential_loyalists",
        "hibernating",
        "at_risk",
    ]


def test_fm_rounds_half_up() -> None:
    # F and M scores 5 and 2 → FM ⌈3.5⌉ = 4; 1 and 2 → ⌈1.5⌉ = 2
    scores = rfm.rfm_scores([0, 1, 2, 3, 4], [5, 4, 3, 2, 1], [2, 1, 3, 5, 4])

    assert scores.frequency.tolist() == [5, 4, 3, 2, 1]
    assert scores.monetary.tolist() == [2, 1, 3, 5, 4]
    assert scores.frequency_monetary.tolist() == [4, 3, 3, 4, 3]


@pytest.mark.parametrize(
    ("r", "fm", "key"),
    [
        pytest.param(5, 5, "champions", id="5-5"),
        pytest.param(4, 5, "champions", id="4-5"),
        pytest.param(4, 4, "loyal", id="4-4"),
        pytest.param(3, 5, "loyal", id="3-5"),
        pytest.param(5, 2, "potential_loyalists", id="5-2"),
        pytest.param(3, 3, "potential_loyalists", id="3-3"),
        pytest.param(5, 1, "new", id="5-1"),
        pytest.param(4, 1, "new", id="4-1"),
        pytest.param(2, 3, "at_risk", id="2-3"),
        pytest.param(1, 4, "at_risk", id="1-4"),
        pytest.param(2, 5, "cant_lose", id="2-5"),
        pytest.param(1, 5, "cant_lose", id="1-5"),
        pytest.param(3, 1, "hibernating", id="3-1"),
        pytest.param(2, 2, "hibernating", id="2-2"),
        pytest.param(1, 2, "lost", id="1-2"),
        pytest.param(1, 1, "lost", id="1-1"),
    ],
)
def test_the_grid_maps_scores_to_cells(r: int, fm: int, key: str) -> None:
    assert rfm.CELL_KEYS[rfm._GRID[r, fm]] == key


def test_every_cell_of_the_grid_is_named_and_every_name_is_used() -> None:
    used = {rfm.CELL_KEYS[i] for i in rfm._GRID[1:, 1:].ravel()}

    assert used == set(rfm.CELL_KEYS)
    assert len(rfm.CELLS) == 8


def test_cell_names_in_korean_and_english() -> None:
    names = {key: (rfm.cell_name(key, "en"), rfm.cell_name(key, "ko")) for key in rfm.CELL_KEYS}

    assert names == {
        "champions": ("Champions", "챔피언"),
        "loyal": ("Loyal", "충성 고객"),
        "potential_loyalists": ("Potential loyalists", "잠재 충성 고객"),
        "new": ("New", "신규 고객"),
        "at_risk": ("At risk", "이탈 위험"),
        "cant_lose": ("Can't lose them", "놓치면 안 될 고객"),
        "hibernating": ("Hibernating", "휴면"),
        "lost": ("Lost", "이탈"),
    }
    assert rfm.cell_name("lost", "ja") == "Lost"
    assert all(cell.descriptions["ko"] and cell.descriptions["en"] for cell in rfm.CELLS)


def test_cell_summary_counts_customers_and_revenue_share() -> None:
    champions, lost = rfm.CELL_KEYS.index("champions"), rfm.CELL_KEYS.index("lost")
    cells = [champions, champions, lost, champions]
    revenue = [300.0, 500.0, 200.0, 0.0]

    summary = {row.key: row for row in rfm.cell_summary(cells, revenue)}

    assert [row.key for row in rfm.cell_summary(cells, revenue)] == list(rfm.CELL_KEYS)
    assert summary["champions"] == rfm.CellSummary("champions", 3, 800.0, 0.8)
    assert summary["lost"] == rfm.CellSummary("lost", 1, 200.0, 0.2)
    assert summary["loyal"] == rfm.CellSummary("loyal", 0, 0.0, 0.0)


def test_cell_summary_without_revenue_has_zero_shares() -> None:
    rows = rfm.cell_summary([0, 1], [0.0, 0.0])

    assert [row.revenue_share for row in rows] == [0.0] * 8


def test_movement_between_two_snapshots() -> None:
    champions, at_risk, lost = (rfm.CELL_KEYS.index(k) for k in ("champions", "at_risk", "lost"))
    before_ids = ["a", "b", "c", "d"]
    before_cells = [champions, champions, at_risk, lost]
    # a stays, b slips, c is back, d has no purchase any more, e is new
    after_ids = ["e", "c", "b", "a"]
    after_cells = [champions, champions, at_risk, champions]

    movement = rfm.cell_movement(before_ids, before_cells, after_ids, after_cells)

    expected = np.zeros((8, 8), dtype=int)
    expected[champions, champions] = 1
    expected[champions, at_risk] = 1
    expected[at_risk, champions] = 1
    assert movement.matrix.tolist() == expected.tolist()
    assert movement.entered.tolist() == np.bincount([champions], minlength=8).tolist()
    assert movement.left.tolist() == np.bincount([lost], minlength=8).tolist()


def test_movement_refuses_a_customer_twice_in_one_snapshot() -> None:
    with pytest.raises(ValueError, match="twice"):
        rfm.cell_movement(["a", "a"], [0, 1], ["a"], [0])


def test_negative_recency_is_refused() -> None:
    with pytest.raises(ValueError, match="recency"):
        rfm.rfm_scores([-1, 3], [1, 2], [10, 20])


def test_cdnow_cells_put_the_revenue_with_the_champions() -> None:
    customer, day, value = cdnow_transactions()
    history = clv.history_from_transactions(customer, day, value, observation_end=CALIBRATION_END)

    scores = rfm.rfm_scores(
        history.days_since_last_purchase, history.purchase_days, history.revenue
    )
    rows = {row.key: row for row in rfm.cell_summary(scores.cell, history.revenue)}

    assert sum(row.customers for row in rows.values()) == 2357
    assert sum(row.revenue_share for row in rows.values()) == pytest.approx(1.0)
    # one purchase day each for 1,411 customers: all F = 1
    assert int((scores.frequency == 1).sum()) == 1411
    for key in ("champions", "cant_lose"):
        assert rows[key].revenue_share > 1.5 * rows[key].customers / 2357, key
    for key in ("lost", "hibernating", "new"):
        assert rows[key].revenue_share < rows[key].customers / 2357, key
