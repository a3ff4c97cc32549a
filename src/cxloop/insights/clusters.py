"""Customer clusters: k-means on standardised behaviour features, described in plain words.

``fit_clusters`` takes a customers × features matrix (NaN where a value is missing) and their
names, and works in "model units": a missing value takes the feature's median, skewed counts and
amounts are read through log1p (``scale = "log"`` in ``cluster_words.toml``; a feature not listed
there is read on a log scale when it is never negative and strongly right-skewed), then each
feature is standardised to mean 0 and standard deviation 1.

k is chosen by the silhouette of k-means fits on a sample (``sample_size`` customers), each scored
on the sample's first ``silhouette_size`` customers; every customer then goes to the nearest
centre of the chosen fit, and each cluster's profile is computed over all its customers. The
sample is picked and ordered by a hash of the customer ids (or, without ids, of each row's
values), never by position, so the same customers in another order give the same clusters, and
with ids one night's sample is mostly the same customers as the last. Everything runs on one
thread with fixed seeds, so a run is repeatable to the last digit.

Clusters are numbered from 1 by size on the first run. ``previous`` (the last run's
``ClusterResult.record()``, or its list of profiles) keeps numbers stable: new clusters are matched
to the old ones by the distance of their centres (Hungarian assignment, in this run's standard
units) and keep the old number when no feature moved by more than ``match_within`` standard
deviations; the others get numbers never used before. With ``previous``, the last run's k is kept
unless another k's silhouette is better by more than ``k_tolerance``, so noise in the silhouette
does not split or merge clusters from one night to the next.

Each cluster's profile holds its size, its value (the caller's ``value`` per customer, e.g.
revenue or CLV), its centre in original and model units, and up to three features that set it
apart: those whose standardised mean lies at least half a standard deviation from everyone's.
``describe_cluster`` turns them into words from ``cluster_words.toml``.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
UIntArray = npt.NDArray[np.uint64]

WORDS_FILE = Path(__file__).parent / "cluster_words.toml"
RECORD_VERSION = 1
DEFAULT_K_RANGE = (3, 8)
DEFAULT_SAMPLE_SIZE = 50_000
DEFAULT_SILHOUETTE_SIZE = 8_000
# A feature sets a cluster apart when its mean lies this many standard deviations from everyone's.
MIN_EFFECT = 0.5
MAX_DISTINCTIONS = 3
# Unlisted features that are never negative are read on a log scale above this skewness.
LOG_SKEWNESS = 2.0
_N_INIT = 3
_DISTANCE_BLOCK = 1024
_LANGUAGES = ("en", "ko")
_ROLES = ("modifier", "trait")


class ClusterError(ValueError):
    """The data cannot be clustered (too few customers or distinct customers, nothing varies)."""


# --- words ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    role: str  # "modifier" stands before the head noun, "trait" follows it after a comma
    text: dict[str, str]  # language → phrase; may hold "{feature}"


@dataclass(frozen=True)
class FeatureWords:
    log_scale: bool
    high: Phrase
    low: Phrase


@dataclass(frozen=True)
class ClusterWords:
    head: dict[str, str]
    typical: dict[str, str]
    generic: FeatureWords
    features: dict[str, FeatureWords]
    capitalised: frozenset[str]

    def of(self, feature: str) -> FeatureWords:
        return self.features.get(feature, self.generic)


def _phrase(data: Mapping[str, Any], where: str) -> Phrase:
    role = data.get("role")
    if role not in _ROLES:
        raise ValueError(f"{WORDS_FILE.name}: {where} needs a role, one of {_ROLES}")
    text = {key: value for key, value in data.items() if key != "role"}
    if "en" not in text or not all(isinstance(v, str) and v for v in text.values()):
        raise ValueError(f"{WORDS_FILE.name}: {where} needs an English phrase and no empty ones")
    return Phrase(role=role, text=text)


def _feature_words(data: Mapping[str, Any], where: str) -> FeatureWords:
    scale = data.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise ValueError(f"{WORDS_FILE.name}: {where}.scale must be 'linear' or 'log'")
    return FeatureWords(
        log_scale=scale == "log",
        high=_phrase(data["high"], f"{where}.high"),
        low=_phrase(data["low"], f"{where}.low"),
    )


def load_words(path: Path = WORDS_FILE) -> ClusterWords:
    """The head noun, the phrases of each feature and the fallbacks, read from ``path``."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return ClusterWords(
        head=dict(data["head"]),
        typical=dict(data["typical"]),
        generic=_feature_words(data["generic"], "generic"),
        features={
            name: _feature_words(entry, f"features.{name}")
            for name, entry in data.get("features", {}).items()
        },
        capitalised=frozenset(data.get("capitalised", [])),
    )


WORDS = load_words()


# --- profiles -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distinction:
    feature: str
    direction: str  # "high" or "low"
    effect: float  # the cluster's mean in standard deviations from everyone's


@dataclass(frozen=True)
class ClusterProfile:
    label: int  # the cluster's number, kept across runs while the cluster stays put
    size: int
    share: float  # of all customers
    value_mean: float | None  # None when no customer of the cluster has a value
    value_total: float
    value_share: float  # of everyone's value; 0 when that is not positive
    centroid: dict[str, float | None]  # mean in original units, missing values left out
    centre: dict[str, float]  # mean in model units (median-imputed, log where so, unscaled)
    standardised: dict[str, float]  # mean in standard deviations from everyone's
    distinguishing: tuple[Distinction, ...]

    def as_dict(self) -> dict[str, Any]:
        """The profile as plain JSON types, for the run record and ``previous`` next time."""
        return {
            "label": self.label,
            "size": self.size,
            "share": self.share,
            "value_mean": self.value_mean,
            "value_total": self.value_total,
            "value_share": self.value_share,
            "centroid": dict(self.centroid),
            "centre": dict(self.centre),
            "standardised": dict(self.standardised),
            "distinguishing": [
                {"feature": d.feature, "direction": d.direction, "effect": d.effect}
                for d in self.distinguishing
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterProfile:
        """A profile read back from ``as_dict``'s output."""
        return cls(
            label=int(data["label"]),
            size=int(data["size"]),
            share=float(data["share"]),
            value_mean=None if data.get("value_mean") is None else float(data["value_mean"]),
            value_total=float(data.get("value_total", 0.0)),
            value_share=float(data.get("value_share", 0.0)),
            centroid={k: None if v is None else float(v) for k, v in data["centroid"].items()},
            centre={k: float(v) for k, v in data.get("centre", {}).items()},
            standardised={k: float(v) for k, v in data.get("standardised", {}).items()},
            distinguishing=_distinctions(data.get("distinguishing", [])),
        )


def _distinctions(items: Sequence[Mapping[str, Any]]) -> tuple[Distinction, ...]:
    found = []
    for item in items:
        if item["direction"] not in ("high", "low"):
            raise ValueError("a distinguishing feature is either 'high' or 'low'")
        found.append(Distinction(str(item["feature"]), item["direction"], float(item["effect"])))
    return tuple(found)


@dataclass(frozen=True)
class ClusterResult:
    labels: IntArray  # each customer's cluster number, in the order of the matrix rows
    clusters: tuple[ClusterProfile, ...]  # ordered by number
    k: int
    silhouette: dict[int, float]  # k tried → mean silhouette on the scoring sample
    features: tuple[str, ...]
    log_features: tuple[str, ...]  # read through log1p
    highest_label: int  # the highest number ever given; new clusters count on from it

    def profiles(self) -> list[dict[str, Any]]:
        return [cluster.as_dict() for cluster in self.clusters]

    def record(self) -> dict[str, Any]:
        """What a run stores (plain JSON types) and passes back as ``previous`` next night."""
        return {
            "version": RECORD_VERSION,
            "k": self.k,
            "silhouette": {str(k): score for k, score in self.silhouette.items()},
            "features": list(self.features),
            "log_features": list(self.log_features),
            "highest_label": self.highest_label,
            "clusters": self.profiles(),
        }


# --- describing -----------------------------------------------------------------------------


def _text(phrase: Phrase, language: str, feature: str) -> str:
    template = phrase.text.get(language, phrase.text["en"])
    return template.replace("{feature}", feature.replace("_", " "))


def describe_cluster(
    profile: ClusterProfile | Mapping[str, Any], language: str, *, words: ClusterWords = WORDS
) -> str:
    """The cluster in a few words ("Weekend mobile shoppers, high returns"), Korean or English.

    Modifier phrases go before the head noun in order of strength, traits follow after commas;
    a cluster where nothing stands out is "typical". Unknown languages get English.
    """
    distinctions = (
        profile.distinguishing
        if isinstance(profile, ClusterProfile)
        else _distinctions(profile.get("distinguishing", []))
    )
    modifiers: list[str] = []
    traits: list[str] = []
    for item in distinctions:
        feature_words = words.of(item.feature)
        phrase = feature_words.high if item.direction == "high" else feature_words.low
        (modifiers if phrase.role == "modifier" else traits).append(
            _text(phrase, language, item.feature)
        )
    if modifiers:
        head = words.head.get(language, words.head["en"])
        parts = [" ".join([*modifiers, head]), *traits]
    elif traits:
        parts = traits
    else:
        parts = [words.typical.get(language, words.typical["en"])]
    text = ", ".join(parts)
    if language in words.capitalised or language not in words.head:
        return text[:1].upper() + text[1:]
    return text


# --- model units ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Units:
    """How raw values become model units and standard units, feature by feature."""

    log: npt.NDArray[np.bool_]
    means: FloatArray
    scales: FloatArray


def _signed_log1p(values: FloatArray) -> FloatArray:
    # log1p for the non-negative counts and amounts it is meant for; mirrored for a stray negative
    return np.asarray(np.sign(values) * np.log1p(np.abs(values)), dtype=np.float64)


def _reads_on_log_scale(name: str, column: FloatArray, words: ClusterWords) -> bool:
    if name in words.features:
        return words.features[name].log_scale
    if column.size < 3 or column.min() < 0:
        return False
    spread = column.std()
    if spread == 0:
        return False
    skewness = float(np.mean(((column - column.mean()) / spread) ** 3))
    return skewness > LOG_SKEWNESS


def _standardise(
    raw: FloatArray, names: Sequence[str], words: ClusterWords
) -> tuple[FloatArray, _Units]:
    """Standardised model units of every customer, and the units used."""
    missing = np.isnan(raw)
    medians = np.zeros(raw.shape[1])
    for j in range(raw.shape[1]):
        known = raw[~missing[:, j], j]
        if known.size:  # a feature nobody has stays 0
            medians[j] = np.median(known)
    z = np.where(missing, medians, raw)
    del missing
    log = np.array(
        [_reads_on_log_scale(name, z[:, j], words) for j, name in enumerate(names)], dtype=bool
    )
    for column in np.flatnonzero(log):
        z[:, column] = _signed_log1p(z[:, column])
    varies = z.max(axis=0) > z.min(axis=0)
    if not varies.any():
        raise ClusterError("no feature varies between customers, so there is nothing to cluster")
    means = z.mean(axis=0)
    z -= means
    scales = np.sqrt(np.einsum("ij,ij->j", z, z) / z.shape[0])
    scales = np.where(varies, scales, 1.0)
    z /= scales
    z[:, ~varies] = 0.0  # a feature everyone shares is exactly 0 in every row
    return z, _Units(log=log, means=means, scales=scales)


# --- order-free sampling --------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _mix(h: UIntArray) -> UIntArray:
    """SplitMix64's finaliser: every input bit moves about half of the output bits."""
    h = h ^ (h >> np.uint64(30))
    h = h * _MIX_1
    h = h ^ (h >> np.uint64(27))
    h = h * _MIX_2
    return np.asarray(h ^ (h >> np.uint64(31)), dtype=np.uint64)


def _id_hashes(ids: npt.NDArray[Any]) -> UIntArray:
    if np.issubdtype(ids.dtype, np.integer):
        return ids.astype(np.int64).view(np.uint64)
    digests = b"".join(hashlib.blake2b(str(i).encode(), digest_size=8).digest() for i in ids)
    return np.frombuffer(digests, dtype=np.uint64).copy()


def _row_hashes(raw: FloatArray) -> UIntArray:
    """A 64-bit hash of each row's values: a fixed odd-weighted sum of their bits, then mixed."""
    # +0.0 turns −0.0 into 0.0 and NaN is given one bit pattern, so equal rows hash alike.
    canonical = raw + 0.0
    canonical[np.isnan(canonical)] = np.nan
    bits = canonical.view(np.uint64)
    bits *= _mix(np.arange(1, raw.shape[1] + 1, dtype=np.uint64) * _GOLDEN) | np.uint64(1)
    return _mix(bits.sum(axis=1, dtype=np.uint64))


def _sample(hashes: UIntArray, seed: int, size: int) -> IntArray:
    """``size`` rows picked and ordered by a seeded key of their hash, never by their position.

    Equal hashes (identical rows, without customer ids) are told apart by their occurrence
    number, so a block of identical customers is sampled like any others; which of them is the
    first does not matter, since they are identical.
    """
    n = hashes.shape[0]
    by_hash = np.argsort(hashes)
    ordered = hashes[by_hash]
    new_run = np.r_[True, ordered[1:] != ordered[:-1]]
    run_start = np.flatnonzero(new_run)
    occurrence = np.empty(n, dtype=np.uint64)
    occurrence[by_hash] = (np.arange(n) - run_start[np.cumsum(new_run) - 1]).astype(np.uint64)
    salt = _mix(np.array([seed], dtype=np.int64).view(np.uint64))[0]
    keys = _mix(_mix(hashes ^ salt) ^ (occurrence * _GOLDEN))
    picked = np.argpartition(keys, size)[:size] if size < n else np.arange(n)
    return picked[np.argsort(keys[picked], kind="stable")].astype(np.int64)


# --- fitting --------------------------------------------------------------------------------


def _centres_by_label(z: FloatArray, labels: IntArray, k: int) -> tuple[IntArray, FloatArray]:
    sizes = np.bincount(labels, minlength=k).astype(np.int64)
    sums = np.stack([np.bincount(labels, weights=z[:, j], minlength=k) for j in range(z.shape[1])])
    return sizes, sums.T / np.maximum(sizes, 1)[:, None]


@dataclass(frozen=True)
class _Previous:
    profiles: list[Mapping[str, Any]]
    highest: int  # the highest number given so far
    k: int | None
    log_features: frozenset[str] | None  # None when the record does not say


def _previous_clusters(
    previous: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
) -> _Previous:
    """The last run's profiles, the highest number given, its k and its log-scale features."""
    if previous is None:
        return _Previous([], 0, None, None)
    log_features: frozenset[str] | None = None
    if isinstance(previous, Mapping):
        profiles = list(previous.get("clusters", []))
        highest = int(previous.get("highest_label", 0))
        k = int(previous["k"]) if "k" in previous else len(profiles) or None
        if "log_features" in previous:
            log_features = frozenset(previous["log_features"])
    else:
        profiles = list(previous)
        highest, k = 0, len(profiles) or None
    for profile in profiles:
        if "label" not in profile or not ("centre" in profile or "centroid" in profile):
            raise ValueError("each previous cluster needs its label and its centre or centroid")
    labels = [int(p["label"]) for p in profiles]
    if len(set(labels)) != len(labels):
        raise ValueError("two previous clusters share one label")
    return _Previous(profiles, max([highest, *labels]), k, log_features)


def _previous_in_standard_units(
    previous: _Previous, names: Sequence[str], units: _Units
) -> FloatArray:
    """Each previous centre in this run's standard units; NaN for features it does not have.

    A centre in model units is used when the feature was read on the same scale then as now;
    otherwise the mean in original units is read as one customer's value would be.
    """
    out = np.full((len(previous.profiles), len(names)), np.nan)
    for i, profile in enumerate(previous.profiles):
        centre = profile.get("centre") or {}
        centroid = profile.get("centroid") or {}
        for j, name in enumerate(names):
            same_scale = previous.log_features is None or (
                (name in previous.log_features) == bool(units.log[j])
            )
            if same_scale and centre.get(name) is not None:
                model = float(centre[name])
            elif centroid.get(name) is not None:
                raw = float(centroid[name])
                model = float(_signed_log1p(np.array(raw))) if units.log[j] else raw
            else:
                continue
            out[i, j] = (model - units.means[j]) / units.scales[j]
    return out


def _numbers(
    centres: FloatArray,
    sizes: IntArray,
    previous: _Previous,
    previous_centres: FloatArray,
    match_within: float,
) -> tuple[IntArray, int]:
    """A number per new cluster: a matched previous cluster's, else one never given before."""
    k = centres.shape[0]
    number = np.zeros(k, dtype=np.int64)
    highest = previous.highest
    if previous.profiles:
        diff = previous_centres[:, None, :] - centres[None, :, :]
        known: npt.NDArray[np.bool_] = ~np.isnan(diff)
        distance = np.sqrt(np.where(known, diff**2, 0.0).sum(axis=2))
        furthest = np.where(known, np.abs(diff), 0.0).max(axis=2)
        comparable = np.asarray(known.any(axis=2), dtype=bool)
        cost = np.where(comparable, distance, 1e12)
        rows, cols = optimize.linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            if comparable[r, c] and furthest[r, c] <= match_within:
                number[c] = int(previous.profiles[r]["label"])
    # Unmatched clusters count on from the highest number, largest first; equal sizes by centre.
    fresh = sorted(
        (c for c in range(k) if number[c] == 0),
        key=lambda c: (-int(sizes[c]), tuple(centres[c].round(9))),
    )
    for c in fresh:
        highest += 1
        number[c] = highest
    return number, highest


def _distinguishing(standardised: FloatArray, names: Sequence[str]) -> tuple[Distinction, ...]:
    ranked = sorted(range(len(names)), key=lambda j: (-abs(standardised[j]), names[j]))
    return tuple(
        Distinction(
            feature=names[j],
            direction="high" if standardised[j] > 0 else "low",
            effect=round(float(standardised[j]), 6),
        )
        for j in ranked[:MAX_DISTINCTIONS]
        if abs(standardised[j]) >= MIN_EFFECT
    )


def _mean_silhouettes(
    points: FloatArray, labelings: Mapping[int, npt.NDArray[np.integer[Any]]]
) -> dict[int, float]:
    """The mean silhouette of each labelling of the same points (k → labels).

    The pairwise distances are computed once, a block of rows at a time, and each block is
    summed per cluster of every labelling in one product, so trying six values of k costs
    little more than trying one. A point alone in its cluster scores 0, as in Rousseeuw (1987).
    """
    m = points.shape[0]
    ks = list(labelings)
    member = np.hstack([np.eye(k)[np.asarray(labelings[k])] for k in ks])
    counts = member.sum(axis=0)
    squared = np.einsum("ij,ij->i", points, points)
    sums = np.empty((m, member.shape[1]))
    for start in range(0, m, _DISTANCE_BLOCK):
        stop = min(start + _DISTANCE_BLOCK, m)
        block = squared[start:stop, None] + squared[None, :] - 2.0 * (points[start:stop] @ points.T)
        np.maximum(block, 0.0, out=block)
        np.sqrt(block, out=block)
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        sums[start:stop] = block @ member
    rows = np.arange(m)
    scores: dict[int, float] = {}
    offset = 0
    for k in ks:
        labels = np.asarray(labelings[k])
        sums_k, counts_k = sums[:, offset : offset + k], counts[offset : offset + k]
        offset += k
        if np.count_nonzero(counts_k) < 2:
            scores[k] = -1.0  # one cluster among the points: no silhouette
            continue
        own = counts_k[labels]
        within = sums_k[rows, labels] / np.maximum(own - 1.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            other = np.where(counts_k > 0, sums_k / counts_k, np.inf)
        other[rows, labels] = np.inf
        nearest = other.min(axis=1)
        widest = np.maximum(within, nearest)
        with np.errstate(divide="ignore", invalid="ignore"):
            each = np.where((own > 1) & (widest > 0), (nearest - within) / widest, 0.0)
        scores[k] = round(float(each.mean()), 6)
    return scores


def fit_clusters(
    matrix: npt.ArrayLike,
    names: Sequence[str],
    *,
    value: npt.ArrayLike,
    previous: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    customer_ids: npt.ArrayLike | None = None,
    k_range: tuple[int, int] = DEFAULT_K_RANGE,
    random_state: int = 0,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    silhouette_size: int = DEFAULT_SILHOUETTE_SIZE,
    match_within: float = 1.0,
    k_tolerance: float = 0.02,
    words: ClusterWords = WORDS,
) -> ClusterResult:
    """Cluster the customers (rows of ``matrix``), choosing k in ``k_range`` by silhouette.

    ``value`` is one number per customer (NaN when unknown) summed and averaged per cluster;
    ``customer_ids`` (optional) make the sample the same customers from night to night;
    ``previous`` is the last run's ``record()`` or profiles, whose numbers are kept.
    """
    raw = np.asarray(matrix, dtype=np.float64)
    names = [str(name) for name in names]
    if raw.ndim != 2 or raw.shape[1] != len(names):
        raise ValueError("the matrix needs one row per customer and one column per name")
    if len(set(names)) != len(names):
        raise ValueError("feature names must be unique")
    if np.isinf(raw).any():
        raise ValueError("feature values must be finite or NaN")
    values = np.asarray(value, dtype=np.float64)
    if values.shape != (raw.shape[0],):
        raise ValueError("value needs one number per customer")
    k_min, k_max = k_range
    if not 2 <= k_min <= k_max:
        raise ValueError("k_range must be (k_min, k_max) with 2 ≤ k_min ≤ k_max")
    if sample_size < 2 or silhouette_size < 2:
        raise ValueError("the sample sizes must be at least 2")
    n = raw.shape[0]
    if n < k_min:
        raise ClusterError(f"{n} customers cannot form {k_min} clusters")

    last = _previous_clusters(previous)
    z, units = _standardise(raw, names, words)

    if customer_ids is None:
        hashes = _row_hashes(raw)
    else:
        ids = np.asarray(customer_ids)
        if ids.shape != (n,):
            raise ValueError("customer_ids needs one id per customer")
        hashes = _id_hashes(ids)
    sample = z[_sample(hashes, random_state, sample_size)]
    scoring = sample[:silhouette_size]
    distinct = np.unique(scoring, axis=0).shape[0]
    k_top = min(k_max, distinct - 1)
    if k_top < k_min:
        raise ClusterError(
            f"{distinct} distinct customers cannot form {k_min} clusters with a silhouette"
        )

    # One thread: the sample fits are too small to gain from more, a busy machine makes
    # OpenMP threads wait on each other, and one thread sums in one order, run after run.
    with threadpool_limits(1):
        fits = {
            k: KMeans(n_clusters=k, n_init=_N_INIT, random_state=random_state).fit(sample)
            for k in range(k_min, k_top + 1)
        }
        silhouette = _mean_silhouettes(
            scoring, {k: np.asarray(fit.labels_[: len(scoring)]) for k, fit in fits.items()}
        )
        best = max(silhouette, key=lambda k: (silhouette[k], -k))
        if last.k in silhouette and silhouette[last.k] >= silhouette[best] - k_tolerance:
            best = last.k
        # Everyone goes to the nearest centre of the sample's fit.
        index = np.asarray(fits[best].predict(z), dtype=np.int64)
    sizes, standardised = _centres_by_label(z, index, best)
    del z

    previous_centres = _previous_in_standard_units(last, names, units)
    numbers, highest = _numbers(standardised, sizes, last, previous_centres, match_within)

    present = ~np.isnan(raw)
    centroid_sums = np.stack(
        [
            np.bincount(index, weights=np.where(present[:, j], raw[:, j], 0.0), minlength=best)
            for j in range(len(names))
        ]
    ).T
    centroid_counts = np.stack(
        [np.bincount(index, weights=present[:, j], minlength=best) for j in range(len(names))]
    ).T
    known_value = ~np.isnan(values)
    value_sums = np.bincount(index, weights=np.where(known_value, values, 0.0), minlength=best)
    value_counts = np.bincount(index, weights=known_value, minlength=best)
    value_total = float(value_sums.sum())
    centres = standardised * units.scales + units.means

    clusters = []
    for c in range(best):
        clusters.append(
            ClusterProfile(
                label=int(numbers[c]),
                size=int(sizes[c]),
                share=float(sizes[c] / n),
                value_mean=float(value_sums[c] / value_counts[c]) if value_counts[c] else None,
                value_total=float(value_sums[c]),
                value_share=float(value_sums[c] / value_total) if value_total > 0 else 0.0,
                centroid={
                    name: float(centroid_sums[c, j] / centroid_counts[c, j])
                    if centroid_counts[c, j]
                    else None
                    for j, name in enumerate(names)
                },
                centre={name: float(centres[c, j]) for j, name in enumerate(names)},
                standardised={name: float(standardised[c, j]) for j, name in enumerate(names)},
                distinguishing=_distinguishing(standardised[c], names),
            )
        )
    clusters.sort(key=lambda cluster: cluster.label)
    return ClusterResult(
        labels=numbers[index],
        clusters=tuple(clusters),
        k=best,
        silhouette=silhouette,
        features=tuple(names),
        log_features=tuple(name for j, name in enumerate(names) if units.log[j]),
        highest_label=highest,
    )
