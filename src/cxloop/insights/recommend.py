"""Product recommendations: implicit-feedback matrix factorisation with a reason for every item.

Customers' purchases and product views make one customers × products confidence matrix
(Hu, Koren & Volinsky 2008, "Collaborative filtering for implicit feedback datasets"): a
purchase counts fully, a view ``view_weight`` as much, and repeats are damped by log1p. The
``implicit`` library factorises it by alternating least squares (conjugate-gradient steps, fixed
seed, so one matrix gives one model). From the same purchases come the "bought together"
neighbours of each product (cosine of co-buyer counts, the strongest ``neighbours`` kept) and
product popularity (distinct buyers).

Each customer gets the best-scoring products they have not bought that are on sale (``available``);
each with a reason: ``bought_with`` X when X, one of the customer's purchases, is among the item's
bought-together neighbours (the strongest such X); otherwise ``similar_to`` X, the customer's
purchase (or, with no purchase, viewed product) whose factors are closest to the item's. A
customer without history gets the products bought by most distinct customers of their segment
(``popular_in_segment``) or of the whole workspace (``popular``).

``evaluate_leave_last_out`` measures it offline: each customer's last purchases are held out, the
model is fitted on what came before, and precision@k, recall@k and catalogue coverage are
compared with recommending the most popular products.

Everything is sparse or batched numpy (no per-customer Python loop) so a nightly run over
1,000,000 customers fits in memory and minutes. BLAS is held to one thread while ``implicit``
runs its own ``num_threads`` (its documented advice: a threaded BLAS inside its threads is slow).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.topk import topk
from threadpoolctl import threadpool_limits

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

REASON_KINDS = ("bought_with", "similar_to", "popular_in_segment", "popular")
BOUGHT_WITH, SIMILAR_TO, POPULAR_IN_SEGMENT, POPULAR = range(len(REASON_KINDS))
NO_PRODUCT = -1
# Pairs of (customer's history item, recommended item) examined at once when finding reasons:
# bounds the memory of the factor gathers to ~2 × 64 MB whatever the customers' history sizes.
_REASON_PAIRS_PER_STEP = 250_000


@dataclass(frozen=True)
class RecommenderSettings:
    factors: int = 64
    regularization: float = 0.05
    # Confidence of a positive over an unobserved pair, per unit of the log-damped counts.
    alpha: float = 10.0
    iterations: int = 15
    # A view counts this much of a purchase in the confidence matrix.
    view_weight: float = 0.25
    random_state: int = 0
    num_threads: int = 2
    # Bought-together neighbours kept per product, and the fewest co-buyers that make one.
    neighbours: int = 50
    min_co_buyers: int = 2
    # A segment's own popularity is used once this many of its customers have bought.
    min_segment_buyers: int = 20
    batch_size: int = 20_000


@dataclass(frozen=True)
class Interactions:
    """Who bought and viewed what: rows in ``customer`` order, columns in ``product`` order.

    ``purchases`` counts the orders a customer bought a product in, ``views`` their views of it
    (both float32 CSR, customers × products).
    """

    customer: IntArray
    product: IntArray
    purchases: sp.csr_matrix
    views: sp.csr_matrix

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.customer.shape[0]), int(self.product.shape[0]))


def _csr(
    rows: IntArray, cols: IntArray, values: FloatArray, shape: tuple[int, int]
) -> sp.csr_matrix:
    matrix = sp.csr_matrix((values.astype(np.float32), (rows, cols)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def interactions_from_counts(
    *,
    purchase_customer: npt.ArrayLike,
    purchase_product: npt.ArrayLike,
    purchase_count: npt.ArrayLike | None = None,
    view_customer: npt.ArrayLike = (),
    view_product: npt.ArrayLike = (),
    view_count: npt.ArrayLike | None = None,
    products: npt.ArrayLike = (),
) -> Interactions:
    """The matrices of (customer, product, count) triples; counts default to 1 per triple.

    Customers are those in any triple; products those in any triple or in ``products`` (the
    catalogue, so products nobody has touched yet are columns too).
    """
    p_cust = np.asarray(purchase_customer, dtype=np.int64).reshape(-1)
    p_prod = np.asarray(purchase_product, dtype=np.int64).reshape(-1)
    v_cust = np.asarray(view_customer, dtype=np.int64).reshape(-1)
    v_prod = np.asarray(view_product, dtype=np.int64).reshape(-1)
    p_val = np.ones(p_cust.shape) if purchase_count is None else np.asarray(purchase_count, float)
    v_val = np.ones(v_cust.shape) if view_count is None else np.asarray(view_count, float)
    if p_cust.shape != p_prod.shape or p_cust.shape != p_val.shape:
        raise ValueError("purchase customers, products and counts must have one length")
    if v_cust.shape != v_prod.shape or v_cust.shape != v_val.shape:
        raise ValueError("view customers, products and counts must have one length")
    customers = np.unique(np.concatenate([p_cust, v_cust]))
    catalogue = np.unique(
        np.concatenate([np.asarray(products, dtype=np.int64).reshape(-1), p_prod, v_prod])
    )
    shape = (int(customers.shape[0]), int(catalogue.shape[0]))
    return Interactions(
        customer=customers,
        product=catalogue,
        purchases=_csr(
            np.searchsorted(customers, p_cust), np.searchsorted(catalogue, p_prod), p_val, shape
        ),
        views=_csr(
            np.searchsorted(customers, v_cust), np.searchsorted(catalogue, v_prod), v_val, shape
        ),
    )


def confidence_matrix(interactions: Interactions, *, view_weight: float) -> sp.csr_matrix:
    """log1p(purchases) + view_weight · log1p(views): what ALS reads as each pair's confidence."""
    purchases = interactions.purchases.copy()
    purchases.data = np.log1p(purchases.data)
    views = interactions.views.copy()
    views.data = np.log1p(views.data) * np.float32(view_weight)
    confidence = (purchases + views).tocsr().astype(np.float32)
    confidence.sort_indices()
    return confidence


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    result = matrix.copy()
    result.data = np.ones_like(result.data, dtype=np.float32)
    return result


def bought_together(
    purchases: sp.csr_matrix,
    *,
    neighbours: int = 50,
    min_co_buyers: int = 2,
    block: int = 2048,
) -> sp.csr_matrix:
    """Products × products: for each product, the products most often bought by the same
    customers (cosine of distinct co-buyers, c_ij / √(n_i n_j)), the ``neighbours`` strongest
    with at least ``min_co_buyers`` co-buyers; ties go to the lower column.

    Computed ``block`` products at a time, so the full co-occurrence matrix never exists.
    """
    bought = _binary(purchases)
    n_products = bought.shape[1]
    buyers = np.asarray(bought.sum(axis=0)).reshape(-1).astype(np.float64)
    by_product = bought.T.tocsr()
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    scores: list[FloatArray] = []
    for start in range(0, n_products, block):
        co = (by_product[start : start + block] @ bought).tocoo()
        row = co.row.astype(np.int64) + start
        col = co.col.astype(np.int64)
        count = co.data.astype(np.float64)
        keep = (row != col) & (count >= min_co_buyers)
        row, col, count = row[keep], col[keep], count[keep]
        score = count / np.sqrt(buyers[row] * buyers[col])
        order = np.lexsort((col, -score, row))
        row, col, score = row[order], col[order], score[order]
        first = np.searchsorted(row, row, side="left")
        rank = np.arange(row.shape[0]) - first
        kept = rank < neighbours
        rows.append(row[kept])
        cols.append(col[kept])
        scores.append(score[kept])
    result = sp.csr_matrix(
        (
            np.concatenate(scores) if scores else np.zeros(0),
            (
                np.concatenate(rows) if rows else np.zeros(0, np.int64),
                np.concatenate(cols) if cols else np.zeros(0, np.int64),
            ),
        ),
        shape=(n_products, n_products),
        dtype=np.float64,
    )
    result.sort_indices()
    return result


@dataclass(frozen=True)
class Recommender:
    """A fitted model: factors in the order of ``customer`` and ``product``, the customers'
    purchases and views (binary), bought-together neighbours and distinct buyers per product."""

    customer: IntArray
    product: IntArray
    user_factors: Float32Array
    item_factors: Float32Array
    bought: sp.csr_matrix
    viewed: sp.csr_matrix
    neighbours: sp.csr_matrix
    buyers: FloatArray
    settings: RecommenderSettings = field(default_factory=RecommenderSettings)

    @property
    def has_factors(self) -> bool:
        return self.item_factors.shape[0] > 0 and self.user_factors.shape[0] > 0


def fit_recommender(
    interactions: Interactions, settings: RecommenderSettings | None = None
) -> Recommender:
    """Factorise the confidence matrix and gather the fallbacks; one input gives one model."""
    settings = settings or RecommenderSettings()
    confidence = confidence_matrix(interactions, view_weight=settings.view_weight)
    user_factors = np.zeros((0, settings.factors), dtype=np.float32)
    item_factors = np.zeros((0, settings.factors), dtype=np.float32)
    if confidence.nnz:
        with threadpool_limits(limits=1, user_api="blas"):
            als = AlternatingLeastSquares(
                factors=settings.factors,
                regularization=settings.regularization,
                alpha=settings.alpha,
                iterations=settings.iterations,
                random_state=settings.random_state,
                num_threads=settings.num_threads,
            )
            als.fit(confidence, show_progress=False)
        user_factors = np.ascontiguousarray(als.user_factors, dtype=np.float32)
        item_factors = np.ascontiguousarray(als.item_factors, dtype=np.float32)
    bought = _binary(interactions.purchases)
    return Recommender(
        customer=interactions.customer,
        product=interactions.product,
        user_factors=user_factors,
        item_factors=item_factors,
        bought=bought,
        viewed=_binary(interactions.views),
        neighbours=bought_together(
            bought, neighbours=settings.neighbours, min_co_buyers=settings.min_co_buyers
        ),
        buyers=np.asarray(bought.sum(axis=0), dtype=np.float64).reshape(-1),
        settings=settings,
    )


# --- recommending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendations:
    """Up to n products per customer, best first; ``NO_PRODUCT`` (-1) fills short lists.

    ``reason_kind`` indexes ``REASON_KINDS``; ``reason_product`` is the product a
    ``bought_with`` / ``similar_to`` reason names (else -1).
    """

    customer: IntArray
    product: IntArray
    score: Float32Array
    reason_kind: npt.NDArray[np.int8]
    reason_product: IntArray

    def __len__(self) -> int:
        return int(self.customer.shape[0])

    def items(self, row: int) -> list[dict[str, Any]]:
        """One customer's list as stored: [{"product_id", "score", "reason": {...}}]."""
        listed: list[dict[str, Any]] = []
        for slot in range(self.product.shape[1]):
            product = int(self.product[row, slot])
            if product == NO_PRODUCT:
                break
            kind = int(self.reason_kind[row, slot])
            reason: dict[str, Any] = {"kind": REASON_KINDS[kind]}
            if kind in (BOUGHT_WITH, SIMILAR_TO):
                reason["product_id"] = int(self.reason_product[row, slot])
            listed.append(
                {"product_id": product, "score": float(self.score[row, slot]), "reason": reason}
            )
        return listed

    def by_customer(self) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(customer id, items) for every customer, in order."""
        for row in range(len(self)):
            yield int(self.customer[row]), self.items(row)


@dataclass(frozen=True)
class SegmentLabels:
    """Each listed customer's segment (a small non-negative code, e.g. an RFM cell's index)."""

    customer: IntArray
    segment: IntArray


def _unavailable(model: Recommender, available: BoolArray | None) -> IntArray:
    if available is None:
        return np.zeros(0, dtype=np.int64)
    mask = np.asarray(available, dtype=bool)
    if mask.shape != model.product.shape:
        raise ValueError("available must have one flag per product of the model")
    return np.flatnonzero(~mask).astype(np.int64)


def _rows_of(ids: IntArray, customers: IntArray) -> IntArray:
    """Row of each customer in ``ids`` (sorted), -1 for those not there."""
    if ids.shape[0] == 0:
        return np.full(customers.shape, -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(ids, customers), ids.shape[0] - 1)
    return np.where(ids[at] == customers, at, -1).astype(np.int64)


def _popular_lists(
    model: Recommender,
    unavailable: IntArray,
    n: int,
    segments: SegmentLabels | None,
) -> tuple[IntArray, FloatArray, dict[int, tuple[IntArray, FloatArray]]]:
    """The top-n product columns by distinct buyers (and their counts), overall and for each
    segment with enough buyers; ties go to the more popular overall, then the lower column."""
    on_sale = np.ones(model.product.shape[0], dtype=bool)
    on_sale[unavailable] = False

    def top(counts: FloatArray) -> tuple[IntArray, FloatArray]:
        order = np.lexsort((np.arange(counts.shape[0]), -model.buyers, -counts))
        order = order[on_sale[order] & (counts[order] > 0)][:n]
        return order.astype(np.int64), counts[order]

    overall = top(model.buyers)
    per_segment: dict[int, tuple[IntArray, FloatArray]] = {}
    if segments is not None and segments.customer.shape[0]:
        rows = _rows_of(model.customer, np.asarray(segments.customer, dtype=np.int64))
        codes = np.asarray(segments.segment, dtype=np.int64)
        known = (rows >= 0) & (codes >= 0)
        if known.any():
            n_segments = int(codes[known].max()) + 1
            membership = sp.csr_matrix(
                (np.ones(int(known.sum()), np.float32), (codes[known], rows[known])),
                shape=(n_segments, model.customer.shape[0]),
            )
            per_product = (membership @ model.bought).toarray().astype(np.float64)
            is_buyer = (np.diff(model.bought.indptr) > 0).astype(np.float32)
            has_bought = membership @ is_buyer
            for code in range(n_segments):
                if has_bought[code] >= model.settings.min_segment_buyers:
                    per_segment[code] = top(per_product[code])
    return overall[0], overall[1], per_segment


def _reasons(
    model: Recommender, rows: IntArray, columns: IntArray
) -> tuple[npt.NDArray[np.int8], IntArray]:
    """Reason kind and product column for each (customer row, recommended column) slot."""
    n_slots = columns.shape[1]
    kind = np.full(columns.shape, SIMILAR_TO, dtype=np.int8)
    reason = np.full(columns.shape, NO_PRODUCT, dtype=np.int64)
    bought_rows = model.bought[rows]
    # A customer who has only viewed is explained by what they viewed.
    only_viewed = np.diff(bought_rows.indptr) == 0
    history = (bought_rows + sp.diags(only_viewed.astype(np.float32)) @ model.viewed[rows]).tocsr()
    history.sort_indices()
    sizes = np.diff(history.indptr).astype(np.int64)
    # pairs (row r, slot s, history item h): every history item against every slot
    per_row = sizes * n_slots
    unit = model.item_factors / np.maximum(
        np.linalg.norm(model.item_factors, axis=1, keepdims=True), 1e-12
    )
    neighbour_keys = _neighbour_keys(model.neighbours)
    n_products = model.product.shape[0]
    bounds = np.r_[0, np.cumsum(per_row)]
    start_row = 0
    while start_row < rows.shape[0]:
        # as many rows as fit in one step (at least one)
        end_row = int(np.searchsorted(bounds, bounds[start_row] + _REASON_PAIRS_PER_STEP, "right"))
        end_row = max(min(end_row - 1, rows.shape[0]), start_row + 1)
        span = slice(start_row, end_row)
        counts = sizes[span]
        local = np.repeat(np.arange(end_row - start_row), counts)
        items = history.indices[history.indptr[start_row] : history.indptr[end_row]].astype(
            np.int64
        )
        # expand to slots
        pair_row = np.repeat(local, n_slots)
        pair_slot = np.tile(np.arange(n_slots), items.shape[0])
        pair_item = np.repeat(items, n_slots)
        pair_target = columns[span][pair_row, pair_slot]
        valid = pair_target >= 0
        pair_row, pair_slot = pair_row[valid], pair_slot[valid]
        pair_item, pair_target = pair_item[valid], pair_target[valid]
        co = _lookup(neighbour_keys, model.neighbours.data, pair_target * n_products + pair_item)
        from_purchase = ~only_viewed[span][pair_row]
        co = np.where(from_purchase, co, 0.0)
        cosine = (
            np.einsum("ij,ij->i", unit[pair_item], unit[pair_target])
            if unit.shape[0]
            else np.zeros(pair_item.shape)
        )
        group = pair_row * n_slots + pair_slot
        order = np.lexsort((-pair_item, cosine, co, group))
        # the last pair of each (row, slot) is its best: most bought together, then closest
        last = np.r_[group[order][1:] != group[order][:-1], True][: order.size]
        best = order[last]
        r, s = pair_row[best] + start_row, pair_slot[best]
        reason[r, s] = pair_item[best]
        kind[r, s] = np.where(co[best] > 0, BOUGHT_WITH, SIMILAR_TO)
        start_row = end_row
    return kind, reason


def _neighbour_keys(neighbours: sp.csr_matrix) -> IntArray:
    n = neighbours.shape[1]
    row = np.repeat(np.arange(neighbours.shape[0], dtype=np.int64), np.diff(neighbours.indptr))
    return row * n + neighbours.indices.astype(np.int64)  # sorted: CSR with sorted indices


def _lookup(keys: IntArray, values: npt.NDArray[Any], wanted: IntArray) -> FloatArray:
    if keys.shape[0] == 0:
        return np.zeros(wanted.shape)
    at = np.minimum(np.searchsorted(keys, wanted), keys.shape[0] - 1)
    return np.where(keys[at] == wanted, values[at], 0.0).astype(np.float64)


def recommend_customers(
    model: Recommender,
    customers: npt.ArrayLike,
    *,
    n: int = 10,
    available: BoolArray | None = None,
    segments: SegmentLabels | None = None,
    exclude: npt.ArrayLike = (),
    with_reasons: bool = True,
) -> Recommendations:
    """Up to ``n`` products for each of ``customers`` (ids), with reasons.

    Never a product the customer bought or one not ``available`` (one flag per model product;
    None = all). Customers in ``exclude`` (e.g. without marketing consent) get no row.
    Customers unknown to the model get the popular products of their segment, else overall.
    """
    wanted = np.asarray(customers, dtype=np.int64).reshape(-1)
    wanted = wanted[~np.isin(wanted, np.asarray(exclude, dtype=np.int64))]
    unavailable = _unavailable(model, available)
    rows = _rows_of(model.customer, wanted)
    has_history = rows >= 0
    if has_history.any():
        touched = np.diff(model.bought.indptr) + np.diff(model.viewed.indptr)
        has_history[has_history] = touched[rows[has_history]] > 0
    if not model.has_factors:
        has_history[:] = False

    columns = np.full((wanted.shape[0], n), NO_PRODUCT, dtype=np.int64)
    scores = np.zeros((wanted.shape[0], n), dtype=np.float32)
    kinds = np.full((wanted.shape[0], n), POPULAR, dtype=np.int8)
    reasons = np.full((wanted.shape[0], n), NO_PRODUCT, dtype=np.int64)

    known = np.flatnonzero(has_history)
    n_products = model.product.shape[0]
    for start in range(0, known.shape[0], model.settings.batch_size):
        batch = known[start : start + model.settings.batch_size]
        batch_rows = rows[batch]
        with threadpool_limits(limits=1, user_api="blas"):
            ids, best = topk(
                model.item_factors,
                np.ascontiguousarray(model.user_factors[batch_rows]),
                min(n, n_products),
                filter_query_items=model.bought[batch_rows],
                filter_items=unavailable if unavailable.size else None,
                num_threads=model.settings.num_threads,
            )
        ids = ids.astype(np.int64)
        # filtered products come back with the lowest float: they are not recommendations
        ids[best <= np.finfo(np.float32).min / 2] = NO_PRODUCT
        columns[batch, : ids.shape[1]] = ids
        scores[batch, : ids.shape[1]] = np.where(ids >= 0, best, 0.0)
        if with_reasons:
            kind, reason = _reasons(model, batch_rows, columns[batch])
            kinds[batch], reasons[batch] = kind, reason
        else:
            kinds[batch] = SIMILAR_TO

    new = np.flatnonzero(~has_history)
    if new.size:
        overall, overall_counts, per_segment = _popular_lists(model, unavailable, n, segments)
        code = np.full(new.shape[0], -1, dtype=np.int64)
        if segments is not None and per_segment:
            seg_ids = np.asarray(segments.customer, dtype=np.int64)
            order = np.argsort(seg_ids, kind="stable")
            at = _rows_of(seg_ids[order], wanted[new])
            code = np.asarray(segments.segment, dtype=np.int64)[order][np.maximum(at, 0)]
            code = np.where((at >= 0) & np.isin(code, list(per_segment)), code, -1)
        for c in np.unique(code).tolist():
            cols, counts = per_segment[c] if c >= 0 else (overall, overall_counts)
            members = new[code == c]
            columns[members, : cols.shape[0]] = cols
            scores[members, : cols.shape[0]] = counts.astype(np.float32)
            kinds[members] = POPULAR_IN_SEGMENT if c >= 0 else POPULAR

    return Recommendations(
        customer=wanted,
        product=np.where(columns >= 0, model.product[np.maximum(columns, 0)], NO_PRODUCT),
        score=scores,
        reason_kind=kinds,
        reason_product=np.where(reasons >= 0, model.product[np.maximum(reasons, 0)], NO_PRODUCT),
    )


def also_bought(
    model: Recommender,
    products: npt.ArrayLike,
    *,
    n: int = 10,
    available: BoolArray | None = None,
) -> tuple[IntArray, FloatArray]:
    """ "Customers who bought this also bought": for each product id, up to ``n`` product ids
    (-1 pads) by bought-together strength, only those ``available``; and their scores."""
    wanted = np.asarray(products, dtype=np.int64).reshape(-1)
    result = np.full((wanted.shape[0], n), NO_PRODUCT, dtype=np.int64)
    strength = np.zeros((wanted.shape[0], n), dtype=np.float64)
    rows = _rows_of(model.product, wanted)
    on_sale = (
        np.ones(model.product.shape[0], bool) if available is None else np.asarray(available, bool)
    )
    found = np.flatnonzero(rows >= 0)
    if found.size == 0:
        return result, strength
    sub = model.neighbours[rows[found]].tocoo()
    keep = on_sale[sub.col]
    row, col, score = sub.row[keep].astype(np.int64), sub.col[keep].astype(np.int64), sub.data[keep]
    order = np.lexsort((col, -score, row))
    row, col, score = row[order], col[order], score[order]
    rank = np.arange(row.shape[0]) - np.searchsorted(row, row, side="left")
    top = rank < n
    result[found[row[top]], rank[top]] = model.product[col[top]]
    strength[found[row[top]], rank[top]] = score[top]
    return result, strength


# --- offline evaluation ------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingQuality:
    """precision@k and recall@k averaged over the evaluated customers; coverage is the share
    of available products recommended to anyone."""

    precision: float
    recall: float
    coverage: float


@dataclass(frozen=True)
class Evaluation:
    k: int
    customers: int  # customers evaluated (with a held-out product they had not bought before)
    held_out: int  # (customer, product) pairs held out
    als: RankingQuality
    popularity: RankingQuality

    @property
    def precision_lift(self) -> float:
        """ALS precision@k over the popularity baseline's (inf when the baseline scores 0)."""
        if self.popularity.precision == 0:
            return float("inf") if self.als.precision > 0 else float("nan")
        return self.als.precision / self.popularity.precision


def _quality(recommended: IntArray, truth: sp.csr_matrix, k: int, on_sale: int) -> RankingQuality:
    rows = np.repeat(np.arange(recommended.shape[0]), recommended.shape[1])
    cols = recommended.reshape(-1)
    valid = cols >= 0
    rec = sp.csr_matrix(
        (np.ones(int(valid.sum()), np.float32), (rows[valid], cols[valid])), shape=truth.shape
    )
    hits = np.asarray(rec.multiply(truth).sum(axis=1)).reshape(-1)
    relevant = np.diff(truth.indptr).astype(np.float64)
    return RankingQuality(
        precision=float(np.mean(hits / k)) if hits.size else 0.0,
        recall=float(np.mean(hits / relevant)) if hits.size else 0.0,
        coverage=float(np.unique(cols[valid]).shape[0] / max(on_sale, 1)),
    )


def _cutoffs(customer: IntArray, time: IntArray, holdout_last: int) -> tuple[IntArray, IntArray]:
    """Customers with more than ``holdout_last`` distinct purchase times (sorted ids) and the
    first of their last ``holdout_last`` times."""
    pairs = np.unique(np.stack([customer, time]), axis=1)  # distinct (customer, time), sorted
    first = np.searchsorted(pairs[0], pairs[0], side="left")
    last = np.searchsorted(pairs[0], pairs[0], side="right")
    from_end = last - np.arange(pairs.shape[1])  # 1 at a customer's last time
    cut = ((last - first) > holdout_last) & (from_end == holdout_last)
    return pairs[0][cut], pairs[1][cut]


def split_leave_last_out(
    customer: npt.ArrayLike, time: npt.ArrayLike, *, holdout_last: int = 1
) -> BoolArray:
    """Which purchases are held out: for each customer with more than ``holdout_last`` distinct
    purchase times, those at their last ``holdout_last`` times (an order's items share one)."""
    cust = np.asarray(customer, dtype=np.int64).reshape(-1)
    when = np.asarray(time).reshape(-1).astype(np.int64)
    cut_ids, cut_time = _cutoffs(cust, when, holdout_last)
    at = _rows_of(cut_ids, cust)
    return (at >= 0) & (when >= cut_time[np.maximum(at, 0)] if cut_ids.size else at >= 0)


def evaluate_leave_last_out(
    purchase_customer: npt.ArrayLike,
    purchase_product: npt.ArrayLike,
    purchase_time: npt.ArrayLike,
    *,
    view_customer: npt.ArrayLike = (),
    view_product: npt.ArrayLike = (),
    view_time: npt.ArrayLike = (),
    products: npt.ArrayLike = (),
    available_products: npt.ArrayLike | None = None,
    settings: RecommenderSettings | None = None,
    k: int = 10,
    holdout_last: int = 1,
) -> Evaluation:
    """precision@k, recall@k and coverage of ALS and of the popularity baseline, each customer's
    last ``holdout_last`` purchase times held out.

    The models see every purchase and view before each customer's cutoff (the first held-out
    time); a held-out product the customer had already bought is not counted (it is never
    recommended), nor is one not in ``available_products`` (product ids; None = all).
    """
    p_cust = np.asarray(purchase_customer, dtype=np.int64).reshape(-1)
    p_prod = np.asarray(purchase_product, dtype=np.int64).reshape(-1)
    p_time = np.asarray(purchase_time).reshape(-1).astype(np.int64)
    v_cust = np.asarray(view_customer, dtype=np.int64).reshape(-1)
    v_prod = np.asarray(view_product, dtype=np.int64).reshape(-1)
    v_time = np.asarray(view_time).reshape(-1).astype(np.int64)
    held = split_leave_last_out(p_cust, p_time, holdout_last=holdout_last)
    # views at or after a customer's cutoff are as unseen as the held-out purchases
    cut_ids, cut_time = _cutoffs(p_cust, p_time, holdout_last)
    at = _rows_of(cut_ids, v_cust)
    view_seen = (at < 0) | (v_time < (cut_time[np.maximum(at, 0)] if cut_ids.size else 0))

    train = interactions_from_counts(
        purchase_customer=p_cust[~held],
        purchase_product=p_prod[~held],
        view_customer=v_cust[view_seen],
        view_product=v_prod[view_seen],
        products=np.concatenate([np.asarray(products, np.int64).reshape(-1), p_prod]),
    )
    available = (
        np.ones(train.product.shape, bool)
        if available_products is None
        else np.isin(train.product, np.asarray(available_products, np.int64))
    )
    model = fit_recommender(train, settings)
    # an evaluated customer bought before their cutoff, so the model knows them
    rows = _rows_of(model.customer, p_cust[held])
    cols = np.searchsorted(model.product, p_prod[held])
    truth_all = _binary(
        sp.csr_matrix((np.ones(cols.shape[0], np.float32), (rows, cols)), shape=model.bought.shape)
    )
    # held-out products worth counting: not bought before the cutoff, and on sale
    truth = sp.csr_matrix(
        (truth_all - truth_all.multiply(model.bought)).multiply(available[None, :])
    )
    truth.eliminate_zeros()
    evaluated = np.flatnonzero(np.diff(truth.indptr) > 0)
    truth = truth[evaluated]
    on_sale = int(available.sum())

    als = recommend_customers(
        model, model.customer[evaluated], n=k, available=available, with_reasons=False
    )
    als_cols = np.where(als.product >= 0, np.searchsorted(model.product, als.product), -1)

    unavailable = np.flatnonzero(~available).astype(np.int64)
    # popularity as a one-factor model: every customer's score of a product is its rank
    rank_score = np.empty(model.product.shape[0], dtype=np.float32)
    order = np.lexsort((np.arange(model.product.shape[0]), -model.buyers))
    rank_score[order] = np.arange(model.product.shape[0], 0, -1, dtype=np.float32)
    pop_cols = np.full((evaluated.shape[0], k), NO_PRODUCT, dtype=np.int64)
    for start in range(0, evaluated.shape[0], model.settings.batch_size):
        batch = evaluated[start : start + model.settings.batch_size]
        ids, best = topk(
            rank_score[:, None],
            np.ones((batch.shape[0], 1), dtype=np.float32),
            min(k, model.product.shape[0]),
            filter_query_items=model.bought[batch],
            filter_items=unavailable if unavailable.size else None,
            num_threads=model.settings.num_threads,
        )
        ids = ids.astype(np.int64)
        ids[best <= np.finfo(np.float32).min / 2] = NO_PRODUCT
        pop_cols[start : start + batch.shape[0], : ids.shape[1]] = ids

    return Evaluation(
        k=k,
        customers=int(evaluated.shape[0]),
        held_out=int(truth.nnz),
        als=_quality(als_cols, truth, k, on_sale),
        popularity=_quality(pop_cols, truth, k, on_sale),
    )
