"""Free-text comments for the demo's survey answers, in Korean and English.

A comment is put together from parts (what it is about, how it went, a detail, sometimes an
opening or a closing word, sometimes a second clause that turns the other way), so a year of
answers reads like many people wrote it rather than a handful of sentences repeated.
"""

from __future__ import annotations

from random import Random

# (topic, polarity) → phrases; each phrase is a whole clause.
KO: dict[tuple[str, str], tuple[str, ...]] = {
    ("delivery", "neg"): (
        "배송이 예정일보다 사흘이나 늦었어요",
        "택배가 일주일 넘게 안 와서 답답했습니다",
        "출고 지연 안내도 없이 배송이 밀렸어요",
        "배송 조회가 며칠째 그대로라 불안했어요",
        "주말 전에 받으려고 주문했는데 월요일에 왔네요",
        "새벽배송이라더니 오후에 도착했어요",
        "박스가 찌그러진 채로 왔어요",
        "배송기사님이 문 앞이 아니라 경비실에 두고 가셨어요",
    ),
    ("delivery", "pos"): (
        "주문 다음 날 바로 도착해서 놀랐어요",
        "배송이 정말 빨라요",
        "새벽배송으로 아침에 받아서 좋았습니다",
        "포장이 꼼꼼해서 파손 없이 잘 받았어요",
        "배송 알림이 단계별로 와서 편했어요",
        "기사님이 친절하게 연락 주셨어요",
    ),
    ("price", "neg"): (
        "가격이 다른 곳보다 조금 비싸요",
        "배송비가 붙으니 부담스럽네요",
        "쿠폰 적용이 생각보다 까다로웠어요",
        "세일 끝나자마자 가격이 확 올라서 아쉬워요",
    ),
    ("price", "pos"): (
        "이 가격에 이 품질이면 만족합니다",
        "할인 쿠폰 덕분에 저렴하게 샀어요",
        "가성비가 정말 좋아요",
        "적립금까지 쓰니 훨씬 싸게 샀네요",
    ),
    ("product_quality", "neg"): (
        "사진이랑 색상이 많이 달라요",
        "한 번 빨았더니 보풀이 일어났어요",
        "사이즈가 표기보다 작게 나왔어요",
        "마감이 엉성하고 실밥이 튀어나와 있었어요",
        "유통기한이 얼마 안 남은 제품이 왔어요",
    ),
    ("product_quality", "pos"): (
        "품질이 기대 이상이에요",
        "재질이 탄탄하고 마감이 깔끔해요",
        "사이즈가 딱 맞고 착용감이 좋아요",
        "향이 은은해서 매일 쓰고 있어요",
        "부모님 선물로 드렸는데 아주 좋아하셨어요",
    ),
    ("customer_service", "neg"): (
        "상담원 연결까지 너무 오래 걸렸어요",
        "문의 답변이 이틀 만에 왔어요",
        "같은 설명을 세 번이나 반복해야 했어요",
        "챗봇이 엉뚱한 답만 해서 답답했어요",
    ),
    ("customer_service", "pos"): (
        "상담원분이 친절하게 끝까지 도와주셨어요",
        "문의하자마자 바로 해결해 주셨어요",
        "채팅 상담이 빠르고 정확했어요",
        "교환 요청을 먼저 챙겨 주셔서 감동했어요",
    ),
    ("website_app", "neg"): (
        "결제 단계에서 앱이 자꾸 튕겨요",
        "검색하면 원하는 상품이 잘 안 나와요",
        "회원가입 인증 문자가 늦게 와요",
        "장바구니에 담은 상품이 사라졌어요",
    ),
    ("website_app", "pos"): (
        "앱이 빠르고 쓰기 편해요",
        "간편결제로 금방 주문했어요",
        "상품 상세 설명이 자세해서 고르기 쉬웠어요",
        "재입고 알림이 와서 놓치지 않고 샀어요",
    ),
    ("payment_refund", "neg"): (
        "환불이 2주째 처리가 안 되고 있어요",
        "반품 수거가 늦어서 환불도 밀렸어요",
        "부분 환불 금액이 안내와 달랐어요",
        "교환 절차가 너무 복잡해요",
    ),
    ("payment_refund", "pos"): (
        "반품 신청하니 바로 수거해 가셨어요",
        "환불이 하루 만에 들어왔어요",
        "교환 과정이 간단해서 좋았습니다",
    ),
    ("loyalty_rewards", "pos"): (
        "등급 혜택이 쏠쏠해요",
        "생일 쿠폰 받고 기분 좋았어요",
        "적립금이 빨리 쌓여서 좋아요",
    ),
    ("loyalty_rewards", "neg"): (
        "적립금 유효기간이 너무 짧아요",
        "등급 기준이 갑자기 바뀌어서 서운해요",
    ),
}

EN: dict[tuple[str, str], tuple[str, ...]] = {
    ("delivery", "neg"): (
        "the parcel arrived three days late",
        "tracking didn't update for days",
        "delivery was delayed with no notice",
        "the box came crushed",
        "it was left at the security office instead of my door",
    ),
    ("delivery", "pos"): (
        "it arrived the very next morning",
        "shipping was really fast",
        "everything was packed carefully",
        "the delivery updates were spot on",
    ),
    ("price", "neg"): (
        "prices are a bit higher than elsewhere",
        "the shipping fee adds up",
        "the coupon was hard to apply",
    ),
    ("price", "pos"): (
        "great value for the price",
        "the discount made it a bargain",
        "fair prices and points on top",
    ),
    ("product_quality", "neg"): (
        "the colour looks nothing like the photos",
        "it started pilling after one wash",
        "the size runs small",
        "the stitching was sloppy",
    ),
    ("product_quality", "pos"): (
        "the quality is better than I expected",
        "the fit is perfect",
        "it feels solid and well made",
        "my parents loved it as a gift",
    ),
    ("customer_service", "neg"): (
        "it took forever to reach an agent",
        "I had to explain the same thing three times",
        "the chatbot kept giving unrelated answers",
    ),
    ("customer_service", "pos"): (
        "the agent was kind and patient",
        "support solved it in minutes",
        "the chat team answered right away",
    ),
    ("website_app", "neg"): (
        "the app keeps crashing at checkout",
        "search rarely finds what I want",
        "my cart emptied itself",
    ),
    ("website_app", "pos"): (
        "the app is quick and easy to use",
        "checkout took seconds",
        "the product pages are detailed",
    ),
    ("payment_refund", "neg"): (
        "my refund has been pending for two weeks",
        "the return pickup came late",
        "exchanges are far too complicated",
    ),
    ("payment_refund", "pos"): (
        "the refund came through in a day",
        "returning it was painless",
    ),
    ("loyalty_rewards", "pos"): (
        "the member perks are worth it",
        "loved the birthday coupon",
    ),
    ("loyalty_rewards", "neg"): (
        "points expire too soon",
        "the tier rules changed without warning",
    ),
}

KO_OPENERS = ("", "", "", "솔직히 ", "음.. ", "전반적으로 ", "이번에는 ", "처음 주문해 봤는데 ")
KO_CLOSERS = {
    True: ("", "", "", " 다음에도 이용할게요.", " ^^", "!", " 감사합니다."),
    False: ("", "", "", " 개선 부탁드려요.", " ㅠㅠ", "...", " 다음엔 잘 모르겠어요."),
}
KO_TURN = (". 그런데 ", ". 하지만 ", ". 그래도 ", ". 근데 ")
EN_OPENERS = ("", "", "", "Honestly, ", "Overall, ", "First order here and ")
EN_CLOSERS = {
    True: ("", ".", "!", ". Will order again.", ". Thanks!"),
    False: ("", ".", ". Please fix this.", ". Disappointed.", "..."),
}


def comment(rng: Random, *, korean: bool, topic: str, positive: bool, mixed: float) -> str:
    """One comment about ``topic``; with probability ``mixed`` a clause about another topic,
    of the other polarity, comes before it."""
    table = KO if korean else EN
    polarity = "pos" if positive else "neg"
    main = rng.choice(table[(topic, polarity)])
    other_topics = [t for (t, p) in table if p != polarity and t != topic]
    if rng.random() < mixed and other_topics:
        other = rng.choice(table[(rng.choice(other_topics), "neg" if positive else "pos")])
        text = other + rng.choice(KO_TURN) + main if korean else f"{other}, but {main}"
    else:
        text = main
    if korean:
        return (rng.choice(KO_OPENERS) + text + rng.choice(KO_CLOSERS[positive])).strip()
    sentence = rng.choice(EN_OPENERS) + text
    sentence = sentence[0].upper() + sentence[1:]
    return sentence + rng.choice(EN_CLOSERS[positive])
