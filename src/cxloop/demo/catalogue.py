"""The demo shop's catalogue: about 150 Korean products with realistic KRW prices."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from random import Random
from typing import Any

SHOP_URL = "https://shop.example.com"

DEPARTMENTS = ("패션", "뷰티", "식품", "리빙", "디지털", "유아동")
DEPARTMENT_CODES = {
    "패션": "FA",
    "뷰티": "BT",
    "식품": "FD",
    "리빙": "LV",
    "디지털": "DG",
    "유아동": "KD",
}
# Made-up brands, so no real company appears in demo data.
BRANDS = {
    "패션": ("모노하루", "온결", "라움스튜디오", "데일리룩", "소담"),
    "뷰티": ("아토랩", "빛나래", "숲결", "이솔", "미담코스"),
    "식품": ("달빛상회", "바른농장", "제주담", "한결식품", "참좋은"),
    "리빙": ("하루공방", "모아담", "누리홈", "결리빙"),
    "디지털": ("소리온", "테크누리", "픽스랩"),
    "유아동": ("아이꿈", "꼬마숲", "토닥"),
}
GIFT = frozenset({"seollal", "chuseok"})

# (category, item, list price in won, what people type to find it, occasions it sells for)
ITEMS: tuple[tuple[str, str, int, str, frozenset[str]], ...] = (
    ("패션/여성의류", "캐시미어 라운드 니트", 89_000, "니트", frozenset({"christmas"})),
    ("패션/여성의류", "울 블렌드 롱코트", 198_000, "코트", frozenset({"black_friday"})),
    ("패션/여성의류", "와이드 데님 팬츠", 45_900, "청바지", frozenset()),
    ("패션/여성의류", "린넨 블라우스", 39_900, "블라우스", frozenset()),
    ("패션/여성의류", "플리츠 롱스커트", 42_000, "스커트", frozenset()),
    ("패션/남성의류", "경량 구스다운 패딩", 159_000, "패딩", frozenset({"black_friday"})),
    ("패션/남성의류", "오버핏 후드 집업", 49_000, "후드", frozenset()),
    ("패션/남성의류", "옥스퍼드 셔츠", 35_900, "셔츠", frozenset()),
    ("패션/남성의류", "테이퍼드 슬랙스", 39_900, "슬랙스", frozenset()),
    ("패션/신발", "쿠셔닝 러닝화", 89_000, "러닝화", frozenset({"black_friday"})),
    ("패션/신발", "캔버스 스니커즈", 59_000, "스니커즈", frozenset()),
    ("패션/신발", "첼시 부츠", 129_000, "부츠", frozenset({"black_friday"})),
    ("패션/가방·잡화", "소가죽 토트백", 139_000, "가방", frozenset({"family_month", "christmas"})),
    ("패션/가방·잡화", "미니 크로스백", 69_000, "크로스백", frozenset()),
    ("패션/가방·잡화", "캐시미어 머플러", 59_000, "머플러", frozenset({"christmas"})),
    ("패션/가방·잡화", "데일리 양말 5족 세트", 12_900, "양말", frozenset()),
    ("뷰티/스킨케어", "히알루론 수분 크림", 32_000, "수분크림", frozenset()),
    ("뷰티/스킨케어", "비타민C 잡티 세럼", 28_900, "세럼", frozenset()),
    ("뷰티/스킨케어", "데일리 선크림 SPF50+", 18_900, "선크림", frozenset()),
    ("뷰티/스킨케어", "약산성 클렌징 폼", 12_000, "클렌징폼", frozenset()),
    ("뷰티/스킨케어", "진정 시트 마스크 10매", 15_900, "마스크팩", frozenset()),
    (
        "뷰티/스킨케어",
        "스킨케어 3종 선물세트",
        59_000,
        "화장품 선물세트",
        GIFT | {"family_month", "christmas"},
    ),
    ("뷰티/메이크업", "커버 쿠션 팩트", 35_000, "쿠션", frozenset()),
    ("뷰티/메이크업", "벨벳 립 틴트", 13_000, "립틴트", frozenset({"valentine"})),
    ("뷰티/메이크업", "롱래스팅 아이브로우", 9_900, "아이브로우", frozenset()),
    ("뷰티/헤어·바디", "단백질 헤어 에센스", 19_800, "헤어에센스", frozenset()),
    ("뷰티/헤어·바디", "시어버터 바디로션", 16_900, "바디로션", frozenset()),
    ("뷰티/헤어·바디", "두피 케어 샴푸", 24_000, "샴푸", frozenset()),
    ("뷰티/향수", "오 드 퍼퓸 50ml", 89_000, "향수", frozenset({"christmas", "valentine"})),
    ("식품/과일", "제주 감귤 5kg", 24_900, "감귤", frozenset()),
    ("식품/과일", "성주 꿀참외 3kg", 29_900, "참외", frozenset()),
    ("식품/과일", "나주 배 선물세트 7.5kg", 59_000, "배 선물세트", GIFT),
    ("식품/과일", "사과·배 혼합 선물세트", 69_000, "과일 선물세트", GIFT),
    ("식품/과일", "샤인머스캣 2kg", 35_900, "샤인머스캣", frozenset()),
    ("식품/정육·수산", "한우 1++ 등심 500g", 89_000, "한우", frozenset()),
    ("식품/정육·수산", "한우 명품 선물세트 1호", 189_000, "한우 선물세트", GIFT),
    ("식품/정육·수산", "영광 굴비 선물세트", 99_000, "굴비", GIFT),
    ("식품/정육·수산", "완도 활전복 1kg", 49_000, "전복", frozenset()),
    ("식품/건강식품", "6년근 홍삼정 240g", 119_000, "홍삼", GIFT | {"family_month"}),
    ("식품/건강식품", "데일리 종합비타민 90정", 29_000, "비타민", frozenset()),
    ("식품/건강식품", "생유산균 30포", 32_000, "유산균", frozenset()),
    ("식품/건강식품", "단백질 쉐이크 1kg", 36_000, "프로틴", frozenset()),
    ("식품/간식·음료", "빼빼로데이 기획 선물세트", 15_900, "빼빼로", frozenset({"pepero"})),
    (
        "식품/간식·음료",
        "수제 초콜릿 선물세트",
        29_000,
        "초콜릿",
        frozenset({"valentine", "pepero", "christmas"}),
    ),
    ("식품/간식·음료", "스페셜티 원두 1kg", 29_000, "원두", frozenset()),
    ("식품/간식·음료", "하루견과 30봉", 24_900, "견과", GIFT),
    ("식품/간식·음료", "전통 한과 선물세트", 45_000, "한과", GIFT),
    ("식품/쌀·김치", "유기농 현미 10kg", 42_000, "현미", frozenset()),
    ("식품/쌀·김치", "전라도 포기김치 5kg", 35_000, "김치", frozenset()),
    ("식품/쌀·김치", "참기름·들기름 선물세트", 39_000, "참기름", GIFT),
    ("리빙/침구", "극세사 겨울 이불", 79_000, "이불", frozenset({"black_friday"})),
    ("리빙/침구", "메모리폼 경추 베개", 39_000, "베개", frozenset()),
    ("리빙/주방", "스테인리스 냄비 3종 세트", 99_000, "냄비", frozenset()),
    ("리빙/주방", "에어프라이어 5.5L", 129_000, "에어프라이어", frozenset({"black_friday"})),
    ("리빙/주방", "밀폐용기 10종 세트", 32_000, "밀폐용기", frozenset()),
    ("리빙/주방", "호텔 수건 10장 세트", 29_900, "수건", GIFT),
    ("리빙/생활가전", "무선 스틱 청소기", 259_000, "청소기", frozenset({"black_friday"})),
    ("리빙/생활가전", "초음파 가습기", 69_000, "가습기", frozenset({"christmas"})),
    ("리빙/인테리어", "프리미엄 디퓨저 200ml", 25_000, "디퓨저", frozenset({"christmas"})),
    ("리빙/인테리어", "무드 LED 스탠드", 45_000, "스탠드", frozenset()),
    ("리빙/인테리어", "캠핑 릴렉스 체어", 49_000, "캠핑의자", frozenset()),
    (
        "디지털/음향",
        "노이즈캔슬링 무선 이어폰",
        129_000,
        "무선이어폰",
        frozenset({"black_friday", "christmas"}),
    ),
    ("디지털/음향", "블루투스 스피커", 79_000, "스피커", frozenset({"black_friday"})),
    ("디지털/액세서리", "고속 보조배터리 10000mAh", 29_000, "보조배터리", frozenset()),
    ("디지털/액세서리", "맥세이프 폰케이스", 25_000, "폰케이스", frozenset()),
    ("디지털/액세서리", "스마트워치 스트랩", 19_900, "스트랩", frozenset()),
    (
        "유아동/완구",
        "원목 블록 놀이 세트",
        45_000,
        "블록",
        frozenset({"family_month", "christmas"}),
    ),
    ("유아동/완구", "어린이 킥보드", 79_000, "킥보드", frozenset({"family_month"})),
    ("유아동/육아용품", "아기 물티슈 10팩", 19_900, "물티슈", frozenset()),
    ("유아동/육아용품", "아동 경량 패딩", 89_000, "아동패딩", frozenset({"black_friday"})),
)


@dataclass(frozen=True, slots=True)
class CatalogueProduct:
    product_id: str
    sku: str
    name: str
    brand: str
    category: str
    department: str
    price: int
    keyword: str
    occasions: frozenset[str]

    def properties(self) -> dict[str, Any]:
        """The product as Segment's e-commerce spec describes it in event properties."""
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "brand": self.brand,
            "category": self.category,
            "price": self.price,
            "currency": "KRW",
            "url": f"{SHOP_URL}/products/{self.product_id}",
        }

    def fields(self) -> dict[str, Any]:
        """The product as ``events.commerce.upsert_products`` takes it."""
        return {
            "external_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "category": self.category,
            "brand": self.brand,
            "price": self.price,
            "currency": "KRW",
        }


def shop_price(list_price: int, rng: Random) -> int:
    """A brand's price near the list price, the way Korean shops write them (28,900 won)."""
    price = round(list_price * rng.uniform(0.85, 1.25), -3)
    return int(price - 100 if price >= 10_000 and rng.random() < 0.5 else price)


class Catalogue:
    """The products, and weighted picks by a shopper's taste and the season."""

    def __init__(self, products: list[CatalogueProduct]) -> None:
        self.products = products
        self._weights: dict[tuple[tuple[str, ...], str | None], list[float]] = {}

    def pick(
        self, rng: Random, *, favourites: tuple[str, ...], occasion: str | None, k: int = 1
    ) -> list[CatalogueProduct]:
        """``k`` products (repeats possible): favourite departments and seasonal goods first."""
        key = (favourites, occasion)
        cumulative = self._weights.get(key)
        if cumulative is None:
            cumulative = list(
                accumulate(
                    (4.0 if p.department in favourites else 1.0)
                    * (10.0 if occasion in p.occasions else 1.0)
                    for p in self.products
                )
            )
            self._weights[key] = cumulative
        return rng.choices(self.products, cum_weights=cumulative, k=k)


def build_catalogue(rng: Random) -> Catalogue:
    """Two or three brands for each item: about 150 products."""
    products: list[CatalogueProduct] = []
    for category, item, list_price, keyword, occasions in ITEMS:
        department = category.split("/")[0]
        brands = rng.sample(BRANDS[department], k=rng.choice((2, 2, 3)))
        for brand in sorted(brands, key=BRANDS[department].index):
            number = 1001 + len(products)
            products.append(
                CatalogueProduct(
                    product_id=f"P{number}",
                    sku=f"{DEPARTMENT_CODES[department]}-{number}",
                    name=f"{brand} {item}",
                    brand=brand,
                    category=category,
                    department=department,
                    price=shop_price(list_price, rng),
                    keyword=keyword,
                    occasions=occasions,
                )
            )
    return Catalogue(products)
