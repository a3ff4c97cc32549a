"""RFM: recency, frequency and monetary quintile scores per customer, and the named cells.

Scores run from 1 (worst) to 5 (best) and are rank-based, so they depend only on the order of the
values: a customer's score is ⌊5·w/n⌋ + 1, where w is the number of the n customers with a
strictly worse value. Equal values share one score whatever order the customers come in, and
the many customers who bought only once all get F = 1 (with average ranks they would land in the
middle and leave F = 1 empty). Recency is days since the last purchase (fewer is better);
frequency and monetary are better when larger.

The eight cells come from the recency score R and the combined score FM = ⌈(F + M) / 2⌉ through the
5 × 5 grid in ``rfm_cells.json``, which also holds each cell's Korean and English name and
description:

    R \\ FM   1            2            3            4          5
    5        new          potential    potential    champions  champions
    4        new          potential    potential    loyal      champions
    3        hibernating  hibernating  potential    loyal      loyal
    2        hibernating  hibernating  at risk      at risk    can't lose
    1        lost         lost         at risk      at risk    can't lose

RFM describes buyers: customers without a purchase have no recency and are left out by the caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import stats

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

SCORE_LEVELS = 5
CELLS_FILE = Path(__file__).parent / "rfm_cells.json"


@dataclass(frozen=True)
class RfmCell:
    key: str
    names: dict[str, str]  # language → name
    descriptions: dict[str, str]


def _load_cells() -> tuple[tuple[RfmCell, ...], IntArray]:
    data = json.loads(CELLS_FILE.read_text(encoding="utf-8"))
    cells = tuple(
        RfmCell(
            key=item["key"],
            names={"en": item["en"], "ko": item["ko"]},
            descriptions={"en": item["en_description"], "ko": item["ko_description"]},
        )
        for item in data["cells"]
    )
    index = {cell.key: i for i, cell in enumerate(cells)}
    grid = np.full((SCORE_LEVELS + 1, SCORE_LEVELS + 1), -1, dtype=np.int64)
    for r_score, row in data["grid"].items():
        grid[int(r_score), 1:] = [index[key] for key in row]
    if np.any(grid[1:, 1:] < 0):
        raise ValueError(f"{CELLS_FILE.name}: the grid must name a cell for every R and FM")
    return cells, grid


CELLS, _GRID = _load_cells()
CELL_KEYS = tuple(cell.key for cell in CELLS)


def cell_name(key: str, language: str) -> str:
    """The cell's name in ``language`` ("ko" or "en"; English for any other)."""
    cell = CELLS[CELL_KEYS.index(key)]
    return cell.names.get(language, cell.names["en"])


def quintile_scores(values: npt.ArrayLike, *, higher_is_better: bool = True) -> IntArray:
    """Scores 1–5 by the share of customers with a strictly worse value; ties score alike."""
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError("scores are computed over a 1-d array")
    if data.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.all(np.isfinite(data)):
        raise ValueError("RFM values must be finite")
    worse = stats.rankdata(data if higher_is_better else -data, method="min") - 1
    scores = (SCORE_LEVELS * worse) // data.size + 1
    return np.asarray(scores, dtype=np.int64)


@dataclass(frozen=True)
class RfmScores:
    recency: IntArray
    frequency: IntArray
    monetary: IntArray
    frequency_monetary: IntArray
    cell: IntArray  # index into CELLS

    @property
    def cell_keys(self) -> npt.NDArray[np.str_]:
        return np.asarray(CELL_KEYS)[self.cell]


def rfm_scores(
    recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> RfmScores:
    """R, F, M and FM scores and the cell of each customer (arrays in one customer order)."""
    recency = np.asarray(recency_days, dtype=np.float64)
    if not (recency.shape == np.shape(frequency) == np.shape(monetary)):
        raise ValueError("recency, frequency and monetary must have one shape")
    if np.any(recency < 0):
        raise ValueError("recency is days since the last purchase and cannot be negative")
    r = quintile_scores(recency, higher_is_better=False)
    f = quintile_scores(frequency)
    m = quintile_scores(monetary)
    fm = (f + m + 1) // 2
    return RfmScores(recency=r, frequency=f, monetary=m, frequency_monetary=fm, cell=_GRID[r, fm])


@dataclass(frozen=True)
class CellSummary:
    key: str
    customers: int
    revenue: float
    revenue_share: float  # of all customers' revenue; 0 when there is none


def cell_summary(cell: npt.ArrayLike, revenue: npt.ArrayLike) -> list[CellSummary]:
    """Customers and revenue (with its share of the total) in each cell, in ``CELLS`` order."""
    cells = np.asarray(cell, dtype=np.int64)
    money = np.asarray(revenue, dtype=np.float64)
    if cells.shape != money.shape:
        raise ValueError("cell and revenue must have one shape")
    counts = np.bincount(cells, minlength=len(CELLS))
    sums = np.bincount(cells, weights=money, minlength=len(CELLS))
    total = float(sums.sum())
    return [
        CellSummary(
            key=key,
            customers=int(counts[i]),
            revenue=float(sums[i]),
            revenue_share=float(sums[i] / total) if total > 0 else 0.0,
        )
        for i, key in enumerate(CELL_KEYS)
    ]


@dataclass(frozen=True)
class CellMovement:
    """How customers moved between two snapshots; rows are the earlier cell, columns the later."""

    matrix: IntArray  # (cells × cells) customers present in both snapshots
    entered: IntArray  # per later cell: customers absent from the earlier snapshot
    left: IntArray  # per earlier cell: customers absent from the later snapshot


def cell_movement(
    before_customer: npt.ArrayLike,
    before_cell: npt.ArrayLike,
    after_customer: npt.ArrayLike,
    after_cell: npt.ArrayLike,
) -> CellMovement:
    """Count customers by (earlier cell, later cell), matched by customer id."""
    b_ids, a_ids = np.asarray(before_customer), np.asarray(after_customer)
    b_cells = np.asarray(before_cell, dtype=np.int64)
    a_cells = np.asarray(after_cell, dtype=np.int64)
    if b_ids.shape != b_cells.shape or a_ids.shape != a_cells.shape:
        raise ValueError("each snapshot needs one cell per customer")
    if np.unique(b_ids).size != b_ids.size or np.unique(a_ids).size != a_ids.size:
        raise ValueError("a customer appears twice in one snapshot")
    _, b_at, a_at = np.intersect1d(b_ids, a_ids, assume_unique=True, return_indices=True)
    n = len(CELLS)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (b_cells[b_at], a_cells[a_at]), 1)
    stayed_before = np.zeros(b_ids.size, dtype=bool)
    stayed_before[b_at] = True
    stayed_after = np.zeros(a_ids.size, dtype=bool)
    stayed_after[a_at] = True
    return CellMovement(
        matrix=matrix,
        entered=np.bincount(a_cells[~stayed_after], minlength=n).astype(np.int64),
        left=np.bincount(b_cells[~stayed_before], minlength=n).astype(np.int64),
    )
