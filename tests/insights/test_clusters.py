"""Customer clusters: k found on synthetic groups, repeatable and order-free results, numbers kept
across runs, descriptions in Korean and English, missing values, and inputs too small to cluster."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from cxloop.insights import clusters
from cxloop.insights.clusters import ClusterError, ClusterProfile, Distinction

NAMES = (
    "weekend_order_share",
    "mobile_event_share",
    "void_order_share",
    "orders",
    "revenue",
    "last_nps",
)
# name: (customers, weekend share, mobile share, void share, orders, order value, NPS)
GROUPS = {
    "weekend_mobile_returners": (600, 0.85, 0.90, 0.40, 4, 30_000, 6.0),
    "weekday_web_big_spenders": (400, 0.15, 0.15, 0.02, 25, 80_000, 9.0),
    "mobile_detractors": (300, 0.20, 0.85, 0.05, 2, 15_000, 2.0),
    "steady_middle": (200, 0.50, 0.50, 0.05, 12, 40_000, 8.0),
}


def make_customers(
    *, seed: int = 0, groups: dict[str, tuple[Any, ...]] = GROUPS
) -> tuple[np.ndarray, np.ndarray]:
    """A matrix of NAMES with one block of customers per group, and each row's group index."""
    rng = np.random.default_rng(seed)
    blocks, truth = [], []
    for g, (size, weekend, mobile, void, orders, order_value, nps) in enumerate(groups.values()):
        count = np.maximum(np.round(orders * rng.lognormal(0, 0.15, size)), 1)
        block = np.column_stack(
            [
                np.clip(rng.normal(weekend, 0.04, size), 0, 1),
                np.clip(rng.normal(mobile, 0.04, size), 0, 1),
                np.clip(rng.normal(void, 0.02, size), 0, 1),
                count,
                count * order_value * rng.lognormal(0, 0.1, size),
                np.clip(np.round(rng.normal(nps, 0.7, size)), 0, 10),
            ]
        )
        blocks.append(block)
        truth.append(np.full(size, g))
    return np.vstack(blocks), np.concatenate(truth)


def revenue(matrix: np.ndarray) -> np.ndarray:
    return matrix[:, NAMES.index("revenue")]


def number_of_group(result: clusters.ClusterResult, truth: np.ndarray) -> dict[int, int]:
    """Each true group's cluster number, checking the group is wholly one cluster."""
    found = {}
    for g in np.unique(truth):
        numbers = np.unique(result.labels[truth == g])
        assert numbers.size == 1, f"group {g} is split over clusters {numbers.tolist()}"
        found[int(g)] = int(numbers[0])
    return found


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray, clusters.ClusterResult]:
    matrix, truth = make_customers()
    return matrix, truth, clusters.fit_clusters(matrix, NAMES, value=revenue(matrix))


def test_finds_the_groups_and_numbers_them_by_size(blobs: Any) -> None:
    _, truth, result = blobs

    assert result.k == 4
    assert max(result.silhouette, key=result.silhouette.__getitem__) == 4
    assert number_of_group(result, truth) == {0: 1, 1: 2, 2: 3, 3: 4}
    assert [c.size for c in result.clusters] == [600, 400, 300, 200]
    assert [c.share for c in result.clusters] == [0.4, 0.8 / 3, 0.2, 0.4 / 3]
    assert result.highest_label == 4


def test_profiles_hold_size_value_and_centre_in_original_units(blobs: Any) -> None:
    matrix, truth, result = blobs
    money = revenue(matrix)

    for g, cluster in enumerate(result.clusters):
        assert cluster.value_mean == pytest.approx(money[truth == g].mean())
        assert cluster.value_total == pytest.approx(money[truth == g].sum())
        assert cluster.value_share == pytest.approx(money[truth == g].sum() / money.sum())
        for j, name in enumerate(NAMES):
            assert cluster.centroid[name] == pytest.approx(matrix[truth == g, j].mean())
    assert sum(c.value_share for c in result.clusters) == pytest.approx(1.0)
    # money and counts are read through log1p, shares and scores as they are
    assert result.log_features == ("orders", "revenue")
    assert result.clusters[0].centre["orders"] == pytest.approx(
        np.log1p(matrix[truth == 0, 3]).mean()
    )


def test_the_same_data_gives_the_same_result_to_the_last_digit(blobs: Any) -> None:
    matrix, _, result = blobs

    again = clusters.fit_clusters(matrix.copy(), NAMES, value=revenue(matrix))

    assert again.labels.tolist() == result.labels.tolist()
    assert json.dumps(again.record()) == json.dumps(result.record())


@pytest.mark.parametrize("with_ids", [False, True], ids=["by-row-values", "by-customer-id"])
def test_shuffled_rows_give_the_same_clusters_and_numbers(blobs: Any, with_ids: bool) -> None:
    matrix, _, _ = blobs
    ids = np.arange(1000, 1000 + len(matrix))
    order = np.random.default_rng(7).permutation(len(matrix))

    first = clusters.fit_clusters(
        matrix, NAMES, value=revenue(matrix), customer_ids=ids if with_ids else None
    )
    shuffled = clusters.fit_clusters(
        matrix[order],
        NAMES,
        value=revenue(matrix)[order],
        customer_ids=ids[order] if with_ids else None,
    )

    assert shuffled.labels.tolist() == first.labels[order].tolist()
    assert [c.size for c in shuffled.clusters] == [c.size for c in first.clusters]
    for before, after in zip(first.clusters, shuffled.clusters, strict=True):
        assert after.label == before.label
        assert after.centre == pytest.approx(before.centre, rel=1e-12)


def test_a_slightly_changed_population_keeps_its_numbers(blobs: Any) -> None:
    # given last night's run, and tonight: values drift a little, 5% leave, newcomers join
    matrix, truth, last_night = blobs
    rng = np.random.default_rng(11)
    stay = rng.random(len(matrix)) > 0.05
    drifted = matrix[stay] * rng.normal(1.0, 0.01, matrix[stay].shape)
    newcomers, new_truth = make_customers(seed=5)
    pick = rng.random(len(newcomers)) < 0.05
    tonight = np.vstack([drifted, newcomers[pick]])
    tonight_truth = np.concatenate([truth[stay], new_truth[pick]])
    # shuffled, so a row's position says nothing
    order = rng.permutation(len(tonight))
    tonight, tonight_truth = tonight[order], tonight_truth[order]

    result = clusters.fit_clusters(
        tonight, NAMES, value=revenue(tonight), previous=json.loads(json.dumps(last_night.record()))
    )

    assert number_of_group(result, tonight_truth) == number_of_group(last_night, truth)
    assert result.highest_label == 4


def test_numbers_are_matched_by_centre_not_by_size(blobs: Any) -> None:
    # given last night's numbers handed out in another order than by size
    matrix, truth, last_night = blobs
    record = last_night.record()
    renumber = {1: 7, 2: 3, 3: 9, 4: 1}
    for profile in record["clusters"]:
        profile["label"] = renumber[profile["label"]]
    record["highest_label"] = 9

    result = clusters.fit_clusters(matrix, NAMES, value=revenue(matrix), previous=record)

    assert number_of_group(result, truth) == {0: 7, 1: 3, 2: 9, 3: 1}
    assert [c.label for c in result.clusters] == [1, 3, 7, 9]
    assert result.highest_label == 9


def test_previous_profiles_with_original_unit_centroids_only(blobs: Any) -> None:
    matrix, truth, last_night = blobs
    profiles = [
        {"label": p["label"] + 10, "centroid": p["centroid"]} for p in last_night.profiles()
    ]

    result = clusters.fit_clusters(matrix, NAMES, value=revenue(matrix), previous=profiles)

    assert number_of_group(result, truth) == {0: 11, 1: 12, 2: 13, 3: 14}


def test_a_new_group_gets_a_number_never_given_before(blobs: Any) -> None:
    # given last night's four groups (numbers up to 4, and 5 once given to a retired cluster);
    # tonight the middle group is gone and lapsed desktop buyers appear
    _, _, last_night = blobs
    record = last_night.record()
    record["highest_label"] = 5
    groups = dict(GROUPS)
    del groups["steady_middle"]
    groups["desktop_weekday_returners"] = (250, 0.05, 0.05, 0.60, 1, 200_000, 5.0)
    tonight, tonight_truth = make_customers(seed=3, groups=groups)

    result = clusters.fit_clusters(tonight, NAMES, value=revenue(tonight), previous=record)

    assert result.k == 4
    assert number_of_group(result, tonight_truth) == {0: 1, 1: 2, 2: 3, 3: 6}
    assert result.highest_label == 6


@pytest.mark.parametrize(
    ("k_tolerance", "expected_k"),
    [
        pytest.param(0.0, 4, id="a-clearly-better-k-wins"),
        pytest.param(1.0, 3, id="last-k-kept-within-tolerance"),
    ],
)
def test_last_nights_k_is_kept_unless_another_is_clearly_better(
    blobs: Any, k_tolerance: float, expected_k: int
) -> None:
    matrix, _, last_night = blobs
    record = last_night.record()
    record["k"] = 3

    result = clusters.fit_clusters(
        matrix, NAMES, value=revenue(matrix), previous=record, k_tolerance=k_tolerance
    )

    assert result.k == expected_k


@pytest.mark.parametrize(
    ("language", "group", "expected"),
    [
        pytest.param("en", 0, "Weekend mobile shoppers, high returns", id="en-weekend-mobile"),
        pytest.param("ko", 0, "주말 모바일 쇼핑객, 반품 많음", id="ko-weekend-mobile"),
        # mobile too, but their low scores and small spend set them apart more
        pytest.param("en", 2, "Unlikely to recommend, low spend, few orders", id="en-detractors"),
        pytest.param("ko", 2, "추천 의향 낮음, 구매액 적음, 주문 적음", id="ko-detractors"),
    ],
)
def test_descriptions_name_what_sets_each_group_apart(
    blobs: Any, language: str, group: int, expected: str
) -> None:
    _, _, result = blobs
    profile = result.clusters[group]

    assert clusters.describe_cluster(profile, language) == expected
    # a profile read back from the run record says the same
    assert clusters.describe_cluster(json.loads(json.dumps(profile.as_dict())), language) == (
        expected
    )


def test_distinguishing_features_carry_direction_and_strength(blobs: Any) -> None:
    _, _, result = blobs
    weekday_web = result.clusters[1]

    assert [(d.feature, d.direction) for d in weekday_web.distinguishing] == [
        ("mobile_event_share", "low"),
        ("orders", "high"),
        ("revenue", "high"),
    ]
    effects = [abs(d.effect) for d in weekday_web.distinguishing]
    assert effects == sorted(effects, reverse=True)
    assert min(effects) >= clusters.MIN_EFFECT


def profile_with(*distinctions: tuple[str, str, float]) -> ClusterProfile:
    return ClusterProfile(
        label=1,
        size=10,
        share=1.0,
        value_mean=None,
        value_total=0.0,
        value_share=0.0,
        centroid={},
        centre={},
        standardised={},
        distinguishing=tuple(Distinction(f, d, e) for f, d, e in distinctions),
    )


@pytest.mark.parametrize(
    ("distinctions", "language", "expected"),
    [
        pytest.param(
            [("mobile_event_share", "high", 1.5), ("weekend_order_share", "high", 1.0)],
            "en",
            "Mobile weekend shoppers",
            id="modifiers-in-order-of-strength",
        ),
        pytest.param(
            [("void_order_share", "high", 2.0), ("revenue", "low", -1.0)],
            "ko",
            "반품 많음, 구매액 적음",
            id="traits-only",
        ),
        pytest.param(
            [("revenue", "high", 1.2), ("days_since_last_purchase", "high", 1.0)],
            "ko",
            "휴면 쇼핑객, 구매액 많음",
            id="modifier-before-head-trait-after",
        ),
        pytest.param(
            [("loyalty_points", "high", 1.2), ("app_crashes", "low", -0.8)],
            "en",
            "High loyalty points, low app crashes",
            id="unknown-features-en",
        ),
        pytest.param(
            [("loyalty_points", "high", 1.2)], "ko", "loyalty points 높음", id="unknown-feature-ko"
        ),
        pytest.param([], "en", "Typical customers", id="nothing-stands-out-en"),
        pytest.param([], "ko", "평범한 고객", id="nothing-stands-out-ko"),
        pytest.param(
            [("weekend_order_share", "low", -1.0)], "ja", "Weekday shoppers", id="other-language"
        ),
    ],
)
def test_describe_cluster(
    distinctions: list[tuple[str, str, float]], language: str, expected: str
) -> None:
    assert clusters.describe_cluster(profile_with(*distinctions), language) == expected


def test_missing_values_take_the_median_and_are_left_out_of_centroids() -> None:
    # given a tenth of the values missing, and a feature nobody has (a new survey)
    matrix, truth = make_customers()
    rng = np.random.default_rng(2)
    holes = matrix.copy()
    holes[rng.random(matrix.shape) < 0.1] = np.nan
    holes = np.column_stack([holes, np.full(len(holes), np.nan)])
    value = revenue(matrix).copy()
    value[:50] = np.nan

    # Median imputation pulls a customer's missing values towards the middle group, which blurs
    # it enough for the silhouette to prefer 3 clusters; here k is fixed to see who goes where.
    result = clusters.fit_clusters(holes, (*NAMES, "last_csat"), value=value, k_range=(4, 4))

    agreement = np.mean([np.mean(result.labels[truth == g] == 1 + g) for g in range(4)])
    assert agreement > 0.95  # nearly half the customers miss at least one value
    first = result.clusters[0]
    members = result.labels == first.label
    assert first.centroid["orders"] == pytest.approx(np.nanmean(holes[members, 3]))
    assert first.centroid["last_csat"] is None
    assert first.value_mean == pytest.approx(np.nanmean(value[members]))
    json.dumps(result.record())  # None and floats only: the record is valid JSON


def test_unlisted_features_are_read_on_a_log_scale_only_when_skewed() -> None:
    rng = np.random.default_rng(4)
    matrix, _ = make_customers()
    skewed = rng.pareto(1.5, len(matrix)) * 100
    symmetric = rng.normal(50, 5, len(matrix))

    result = clusters.fit_clusters(
        np.column_stack([matrix, skewed, symmetric]),
        (*NAMES, "points_earned", "age"),
        value=revenue(matrix),
    )

    assert result.log_features == ("orders", "revenue", "points_earned")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        pytest.param([[1.0, 2.0], [3.0, 4.0]], "2 customers cannot form 3 clusters", id="two"),
        pytest.param(
            [[1.0, 2.0]] * 3 + [[5.0, 6.0]] * 3,
            "2 distinct customers cannot form 3 clusters",
            id="two-distinct",
        ),
        pytest.param([[1.0, 2.0]] * 10, "no feature varies", id="all-alike"),
        pytest.param(np.zeros((0, 2)), "0 customers cannot form 3 clusters", id="nobody"),
    ],
)
def test_too_little_to_cluster_is_a_clear_error(rows: Any, message: str) -> None:
    matrix = np.asarray(rows, dtype=float)

    with pytest.raises(ClusterError, match=message):
        clusters.fit_clusters(matrix, ("orders", "revenue"), value=np.ones(len(matrix)))


def test_as_many_customers_as_clusters_plus_one_is_enough() -> None:
    matrix = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])

    result = clusters.fit_clusters(matrix, ("a", "b"), value=np.ones(4))

    assert result.k == 3
    assert sorted(c.size for c in result.clusters) == [1, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"names": ("a",)}, "one column per name", id="names-do-not-match"),
        pytest.param({"names": ("a", "a")}, "unique", id="repeated-name"),
        pytest.param({"value": np.ones(3)}, "one number per customer", id="short-value"),
        pytest.param({"k_range": (1, 4)}, "k_range", id="k-below-two"),
        pytest.param({"customer_ids": [1, 2]}, "one id per customer", id="short-ids"),
        pytest.param({"previous": [{"label": 1}]}, "centre or centroid", id="bad-previous"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    matrix = np.random.default_rng(0).normal(size=(20, 2))
    arguments: dict[str, Any] = {"names": ("a", "b"), "value": np.ones(20), **kwargs}

    with pytest.raises(ValueError, match=message):
        clusters.fit_clusters(matrix, **arguments)


def test_infinite_values_are_refused() -> None:
    matrix = np.ones((10, 2))
    matrix[3, 1] = np.inf

    with pytest.raises(ValueError, match="finite"):
        clusters.fit_clusters(matrix, ("a", "b"), value=np.ones(10))


def test_profiles_survive_the_round_trip_through_json(blobs: Any) -> None:
    _, _, result = blobs

    for profile in result.clusters:
        assert ClusterProfile.from_dict(json.loads(json.dumps(profile.as_dict()))) == profile


def test_mean_silhouettes_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(9)
    points = rng.normal(size=(700, 4))
    labelings = {k: rng.integers(0, k, 700) for k in (2, 3, 5)}
    labelings[5][:3] = [0, 1, 2]
    labelings[5][3:] = np.where(labelings[5][3:] == 4, 3, labelings[5][3:])
    labelings[5][3] = 4  # a cluster of one customer scores 0

    scores = clusters._mean_silhouettes(points, labelings)

    for k, labels in labelings.items():
        assert scores[k] == pytest.approx(silhouette_score(points, labels), abs=1e-6)


def test_every_behaviour_feature_has_words() -> None:
    behaviour = pytest.importorskip("cxloop.insights.behaviour")

    assert set(behaviour.FEATURE_NAMES) <= set(clusters.WORDS.features)
