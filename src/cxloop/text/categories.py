"""Categories of customer texts: a taxonomy (default ``taxonomy.toml``; workspaces edit and extend
theirs) matched by its seeds on lemmas and surface text, plus a learned one-vs-rest classifier
trained with the sentiment model. The output is multi-label."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from cxloop.text.lang import Language
from cxloop.text.tokens import Morph

TAXONOMY_PATH = Path(__file__).parent / "taxonomy" / "taxonomy.toml"
# The seeds find most categories but also name subjects a text only mentions in passing; the
# classifier confirms a seed when it gives the category at least SEED_CONFIRM, and adds the ones
# it is sure of (LEARNED_THRESHOLD). Chosen by 4-fold cross-validation over the training texts
# alone (category micro-F1 0.828, against 0.814 at the earlier 0.7 and 0.2).
LEARNED_THRESHOLD = 0.6
SEED_CONFIRM = 0.3


@dataclass(frozen=True)
class Category:
    key: str
    name_ko: str
    name_en: str
    seeds_ko: tuple[str, ...]
    seeds_en: tuple[str, ...]

    def name(self, lang: str) -> str:
        return self.name_ko if lang == "ko" else self.name_en


# used only if taxonomy.toml is missing; the file is the default taxonomy
_FALLBACK: dict[str, dict[str, Any]] = {
    "delivery": {"name_ko": "배송", "name_en": "Delivery",
                 "seeds_ko": ["배송", "택배", "배달", "도착", "출고", "송장"],
                 "seeds_en": ["delivery", "deliver", "shipping", "ship", "arrive", "courier"]},
    "price": {"name_ko": "가격", "name_en": "Price",
              "seeds_ko": ["가격", "가성비", "비싸", "저렴", "할인", "성비"],
              "seeds_en": ["price", "expensive", "cheap", "cost", "discount", "value for money"]},
    "product_quality": {"name_ko": "품질", "name_en": "Product quality",
                        "seeds_ko": ["품질", "퀄리티", "제품", "상품", "불량", "재질", "맛"],
                        "seeds_en": ["quality", "product", "defect", "material", "taste"]},
    "customer_service": {"name_ko": "고객 서비스", "name_en": "Customer service",
                         "seeds_ko": ["상담", "상담원", "고객센터", "응대", "직원", "문의"],
                         "seeds_en": ["support", "agent", "customer service", "staff"]},
    "website_app": {"name_ko": "웹사이트·앱", "name_en": "Website & app",
                    "seeds_ko": ["앱", "어플", "사이트", "홈페이지", "로그인", "업데이트"],
                    "seeds_en": ["app", "website", "site", "login", "update", "crash"]},
    "payment_refund": {"name_ko": "결제·환불", "name_en": "Payment & refund",
                       "seeds_ko": ["결제", "환불", "카드", "취소", "반품"],
                       "seeds_en": ["payment", "pay", "refund", "charge", "card", "checkout"]},
    "loyalty_rewards": {"name_ko": "적립·혜택", "name_en": "Loyalty & rewards",
                        "seeds_ko": ["포인트", "적립", "쿠폰", "멤버십", "등급", "혜택"],
                        "seeds_en": ["point", "reward", "coupon", "membership", "loyalty"]},
    "store_experience": {"name_ko": "매장 경험", "name_en": "Store experience",
                         "seeds_ko": ["매장", "지점", "점원", "주차", "대기"],
                         "seeds_en": ["store", "shop", "branch", "parking", "queue"]},
}  # fmt: skip


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[Category, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.categories)

    def get(self, key: str) -> Category | None:
        return next((c for c in self.categories if c.key == key), None)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Taxonomy:
        """A taxonomy from ``{key: {name_ko, name_en, seeds_ko, seeds_en}}`` (TOML or JSON)."""
        table = data.get("categories", data)
        cats = []
        for key, spec in table.items():
            if not isinstance(spec, Mapping):
                continue
            cats.append(
                Category(
                    key=str(key),
                    name_ko=str(spec.get("name_ko", key)),
                    name_en=str(spec.get("name_en", key)),
                    seeds_ko=tuple(str(s).strip() for s in spec.get("seeds_ko", ()) if s),
                    seeds_en=tuple(str(s).strip().lower() for s in spec.get("seeds_en", ()) if s),
                )
            )
        return cls(tuple(cats))


@cache
def load_taxonomy(path: Path = TAXONOMY_PATH) -> Taxonomy:
    """The default taxonomy (``taxonomy/taxonomy.toml`` beside this module)."""
    if path.exists():
        with path.open("rb") as fh:
            return Taxonomy.from_mapping(tomllib.load(fh))
    return Taxonomy.from_mapping(_FALLBACK)


class SeedMatcher:
    """Finds a taxonomy's categories in a text by their seeds.

    Korean seeds of two or more syllables match anywhere in the surface text (Korean attaches
    particles and endings: 배송이, 환불해주세요, 비싸네요); one-syllable seeds (앱, 맛) must be a
    whole morpheme. English seeds match lemmas, or the text for multi-word seeds.
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._ko_surface: list[tuple[str, str]] = []
        self._ko_morph: dict[str, set[str]] = {}
        self._en_lemma: dict[str, set[str]] = {}
        self._en_phrase: list[tuple[re.Pattern[str], str]] = []
        from cxloop.text.tokens import lemmatize_en

        for cat in taxonomy.categories:
            for seed in cat.seeds_ko:
                if len(seed) >= 2:
                    self._ko_surface.append((seed.replace(" ", ""), cat.key))
                else:
                    self._ko_morph.setdefault(seed, set()).add(cat.key)
            for seed in cat.seeds_en:
                if " " in seed or "-" in seed:
                    self._en_phrase.append((re.compile(r"\b" + re.escape(seed) + r"\b"), cat.key))
                else:
                    self._en_lemma.setdefault(seed, set()).add(cat.key)
                    self._en_lemma.setdefault(lemmatize_en(seed), set()).add(cat.key)

    def match(self, text: str, morphs: Sequence[Morph], lang: Language) -> list[str]:
        """Category keys whose seeds occur, in taxonomy order."""
        found: set[str] = set()
        if lang == "ko":
            compact = text.replace(" ", "")  # "새벽 배송" and "새벽배송" alike
            for seed, key in self._ko_surface:
                if seed in compact:
                    found.add(key)
            for m in morphs:
                found.update(self._ko_morph.get(m.form, ()))
                found.update(self._ko_morph.get(m.lemma, ()))
            # English words in Korean text (CS, app) go through the English seeds
            for m in morphs:
                if m.tag == "SL":
                    found.update(self._en_lemma.get(m.form.lower(), ()))
        else:
            for m in morphs:
                found.update(self._en_lemma.get(m.form, ()))
                found.update(self._en_lemma.get(m.lemma, ()))
            for pattern, key in self._en_phrase:
                if pattern.search(text):
                    found.add(key)
        return [k for k in self.taxonomy.keys if k in found]


@cache
def seed_matcher(taxonomy: Taxonomy) -> SeedMatcher:
    return SeedMatcher(taxonomy)


class CategoryClassifier:
    """One-vs-rest logistic regression over the text features; categories with too few
    examples to learn are left to the seeds."""

    def __init__(self, keys: Sequence[str], *, min_examples: int = 4, c: float = 4.0) -> None:
        self.keys = tuple(keys)
        self.min_examples = min_examples
        self.c = c
        self.learned: tuple[str, ...] = ()
        self._models: list[Any] = []

    def fit(self, features: Any, labels: Sequence[Sequence[str]], weights: Any = None) -> None:
        from sklearn.linear_model import LogisticRegression

        y = np.array([[k in row for k in self.keys] for row in labels], dtype=int)
        keep = [
            i
            for i, _ in enumerate(self.keys)
            if self.min_examples <= y[:, i].sum() <= len(labels) - self.min_examples
        ]
        self.learned = tuple(self.keys[i] for i in keep)
        # one binary model per category (one-vs-rest), each seeing the examples' weights
        self._models = []
        for i in keep:
            model = LogisticRegression(C=self.c, class_weight="balanced", max_iter=2000)
            model.fit(features, y[:, i], sample_weight=weights)
            self._models.append(model)

    def predict_proba(self, features: Any) -> list[dict[str, float]]:
        n = features.shape[0]
        if not self._models or n == 0:
            return [{} for _ in range(n)]
        proba = np.column_stack([m.predict_proba(features)[:, 1] for m in self._models])
        return [
            {key: float(proba[row, col]) for col, key in enumerate(self.learned)}
            for row in range(n)
        ]


def combine(
    seeds: Sequence[str],
    learned: Mapping[str, float],
    keys: Sequence[str],
    threshold: float = LEARNED_THRESHOLD,
    confirm: float = SEED_CONFIRM,
) -> list[str]:
    """The seeds the classifier confirms (or has not learned) plus the categories it is sure
    of, in taxonomy order."""
    found = {k for k in seeds if learned.get(k, confirm) >= confirm}
    found |= {k for k, p in learned.items() if p >= threshold}
    return [k for k in keys if k in found]
