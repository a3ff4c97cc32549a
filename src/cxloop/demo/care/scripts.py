"""What the demo's customers write to the support team and what the agents answer, in Korean and
English: ``{name}`` is the customer's name, ``{order}`` the number of their latest order (a
topic naming an order is only chosen for a customer who has one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    subject_ko: str
    question_ko: str
    answer_ko: str
    follow_up_ko: str
    subject_en: str
    question_en: str
    answer_en: str
    follow_up_en: str

    @property
    def needs_order(self) -> bool:
        return "{order}" in self.question_ko

    def say(self, part: str, *, korean: bool, name: str, order: str) -> str:
        text: str = getattr(self, f"{part}_{'ko' if korean else 'en'}")
        return text.format(name=name, order=order)


# Email, the web chat and TalkTalk: the customer service team.
CS_TOPICS: tuple[Topic, ...] = (
    Topic(
        "주문한 상품이 아직 안 왔어요",
        "주문번호 {order}, 주문한 지 일주일이 넘었는데 아직 배송 준비 중으로 나와요. "
        "언제 받을 수 있을까요?",
        "{name} 님, 기다리게 해 드려 죄송합니다. 확인해 보니 {order} 주문은 내일 출고되어 "
        "모레 도착할 예정입니다.",
        "오늘 받았어요. 빠르게 확인해 주셔서 감사합니다!",
        "My order has not arrived",
        "I placed order {order} over a week ago and it still says preparing for shipment. "
        "When will it come?",
        "Sorry for the wait, {name}. Order {order} leaves our warehouse tomorrow and should "
        "arrive the day after.",
        "It arrived today, thanks for checking so quickly!",
    ),
    Topic(
        "환불 요청드립니다",
        "주문번호 {order}로 받은 제품에 흠집이 있어서 환불받고 싶습니다. 어떻게 하면 되나요?",
        "{name} 님, 불편을 드려 죄송합니다. 회수 기사님이 방문하도록 접수했고, 회수 확인 후 "
        "3영업일 안에 환불됩니다.",
        "아직 환불이 안 들어왔는데 확인 부탁드려요.",
        "Refund for a damaged item",
        "The product from order {order} arrived scratched. I would like a refund, please.",
        "We're sorry about that, {name}. A courier will pick it up, and the refund follows "
        "within three business days.",
        "The refund still hasn't come through, could you check?",
    ),
    Topic(
        "사이즈 교환 가능한가요?",
        "{order} 주문한 신발이 조금 작아서 한 치수 큰 걸로 교환하고 싶어요. 교환 배송비가 있나요?",
        "{name} 님, 첫 교환은 배송비 없이 해 드립니다. 마이페이지에서 교환 신청해 주시면 "
        "바로 처리하겠습니다.",
        "신청했어요. 감사합니다.",
        "Can I exchange the size?",
        "The shoes from order {order} are a bit small. Can I exchange them for one size up, "
        "and is there a fee?",
        "The first exchange is free, {name}. Request it under My Orders and we will handle it "
        "right away.",
        "Done, thank you.",
    ),
    Topic(
        "결제가 두 번 된 것 같아요",
        "{order} 주문 하나에 카드 결제 문자가 두 번 왔어요. 중복 결제된 건가요? "
        "빨리 확인해 주세요.",
        "{name} 님, 확인해 보니 한 건은 승인 후 바로 취소된 건이라 청구되지 않습니다. "
        "걱정 끼쳐 죄송합니다.",
        "취소 문자 받았어요. 확인 감사합니다.",
        "I think I was charged twice",
        "I got two card payment messages for order {order}. Was I charged twice? Please check "
        "quickly.",
        "One of the two was cancelled right after approval, {name}, so you are charged only once.",
        "Got the cancellation notice, thanks.",
    ),
    Topic(
        "앱 로그인이 안 돼요",
        "어제부터 앱에서 로그인하면 계속 오류가 나요. 비밀번호는 맞는데 왜 그런가요?",
        "{name} 님, 앱 업데이트 후 생긴 문제로 오늘 수정 버전이 나왔습니다. 업데이트 후 다시 "
        "시도해 주세요.",
        "업데이트해도 똑같아요. 너무 불편하네요.",
        "I can't sign in to the app",
        "Since yesterday the app shows an error every time I sign in, though my password is right.",
        "That came with the last app update, {name}; a fixed version is out today. Please "
        "update and try again.",
        "Still the same after the update. This is really frustrating.",
    ),
    Topic(
        "적립금 사용 문의",
        "적립금이 5천 원 있는데 결제할 때 안 보여요. 어디서 쓰나요?",
        "{name} 님, 결제 화면 아래 '할인·적립금'을 누르시면 바로 쓰실 수 있습니다.",
        "찾았어요, 감사합니다!",
        "How do I use my points?",
        "I have 5,000 points but they don't show at checkout. Where do I use them?",
        "Tap 'Discounts and points' at the bottom of the checkout page, {name}, and they apply "
        "right away.",
        "Found it, thanks!",
    ),
)

# The support chats of the stories (see ``cxloop.demo.stories``), by the chat's topic: the
# payment incident and the app checkout that returns to the cart.
PAYMENT_TOPICS: dict[str, Topic] = {
    "payment_failed": Topic(
        "결제가 계속 실패해요",
        "결제하려고 하면 '결제 승인 시간이 초과되었습니다'라는 메시지만 뜨고 결제가 안 돼요. "
        "몇 번을 다시 해도 똑같아요. 돈만 빠져나간 건 아니죠?",
        "{name} 님, 불편을 드려 정말 죄송합니다. 지금 결제대행사(PG) 서버 장애로 일부 결제가 "
        "실패하고 있어 복구 중입니다. 실패한 결제는 청구되지 않으며, 복구되면 바로 알려 "
        "드리겠습니다.",
        "이제 결제됐어요. 다음엔 공지라도 미리 해 주세요.",
        "My payment keeps failing",
        "Every time I pay I get 'payment approval timed out' and nothing goes through, however "
        "often I try. I haven't been charged, have I?",
        "We are very sorry, {name}. Our payment provider has an outage and some payments fail "
        "while it recovers. Failed payments are not charged; we will tell you as soon as it is "
        "fixed.",
        "It went through now. Please announce it next time.",
    ),
    "app_payment_loop": Topic(
        "앱에서 결제하면 장바구니로 돌아가요",
        "앱에서 주문서 작성하고 결제 버튼을 누르면 카드사 앱으로 넘어갔다가 다시 장바구니 "
        "화면으로 돌아와요. 세 번이나 해 봤는데 주문이 안 돼요.",
        "{name} 님, 불편을 드려 죄송합니다. 카드사 앱에서 돌아올 때 주문서 대신 장바구니가 "
        "열리는 오류를 확인해 고치고 있습니다. 그동안은 모바일 웹이나 PC에서 주문해 주시면 "
        "정상적으로 결제됩니다.",
        "웹에서 주문했어요. 앱도 빨리 고쳐 주세요.",
        "The app sends me back to my cart when I pay",
        "In the app, when I tap pay it switches to my card app and then comes back to the cart "
        "instead of the order. I tried three times and still no order.",
        "Sorry for the trouble, {name}. Coming back from the card app opens the cart instead "
        "of the order form; we found the bug and are fixing it. Meanwhile ordering on the "
        "mobile website or a computer works.",
        "I ordered on the website. Please fix the app soon.",
    ),
}

# SMS and phone calls: the delivery team.
DELIVERY_TOPICS: tuple[Topic, ...] = (
    Topic(
        "배송지 변경",
        "주문번호 {order} 배송지를 회사 주소로 바꾸고 싶어요. 아직 가능할까요?",
        "{name} 님, {order} 주문은 아직 출고 전이라 배송지를 바꿔 드렸습니다.",
        "감사합니다!",
        "Change of delivery address",
        "Can I still change the delivery address of order {order} to my office?",
        "Order {order} hasn't shipped yet, {name}, so we changed the address for you.",
        "Thank you!",
    ),
    Topic(
        "부재중 배송",
        "{order} 택배가 부재중이라고 왔는데 집에 있었어요. 언제 다시 오나요?",
        "{name} 님, 죄송합니다. 기사님께 확인해 오늘 저녁 다시 배송하도록 요청했습니다.",
        "아직도 안 왔어요. 오늘 꼭 받아야 하는데요.",
        "Missed delivery",
        "The courier says nobody was home for order {order}, but I was. When will they come again?",
        "Sorry, {name}. We asked the courier to come again this evening.",
        "Still nothing. I really need it today.",
    ),
    Topic(
        "배송 조회가 안 돼요",
        "{order} 운송장 번호로 조회하면 정보가 없다고 나와요.",
        "{name} 님, 택배사 등록이 늦어졌습니다. 오늘 오후부터 조회되고 내일 도착 예정입니다.",
        "이제 조회돼요. 고맙습니다.",
        "Tracking shows nothing",
        "The tracking number of order {order} shows no information.",
        "The carrier registered it late, {name}. Tracking works from this afternoon and it "
        "arrives tomorrow.",
        "Tracking works now, thanks.",
    ),
)

DELIVERY_TOPICS += (
    Topic(
        "공동현관 비밀번호 전달",
        "택배 받을 때 공동현관 비밀번호가 필요해요. 기사님께 전달 부탁드려요.",
        "{name} 님, 배송 요청사항에 등록해 기사님께 전달했습니다.",
        "확인 감사합니다.",
        "Building door code",
        "The courier needs our building's door code. Could you pass it on?",
        "Done, {name}: it is in the delivery notes for the courier.",
        "Thanks for confirming.",
    ),
)

# What the agents write in a phone call's notes.
CALL_NOTES = {
    "resolved": ("고객 요청대로 처리 완료 안내함.", "Handled as the customer asked; confirmed."),
    "follow_up": (
        "택배사 확인 후 다시 연락드리기로 함.",
        "Will call back after checking with the carrier.",
    ),
    "no_answer": ("", ""),
}

# Reviews of the shop by rating (1–5), and social posts.
REVIEWS = {
    5: (
        "배송도 빠르고 상품도 사진이랑 똑같아요. 재구매 의사 있습니다!",
        "Fast delivery and exactly like the photos. Will buy again!",
    ),
    4: (
        "전체적으로 만족해요. 포장이 조금 아쉬웠어요.",
        "Happy overall; the packaging could be better.",
    ),
    3: (
        "상품은 괜찮은데 배송이 생각보다 오래 걸렸어요.",
        "The product is fine but delivery took long.",
    ),
    2: (
        "사이즈가 안내와 달라서 교환했어요. 번거로웠습니다.",
        "The size was not as described, so I had to exchange it. A hassle.",
    ),
    1: (
        "배송이 열흘 넘게 걸리고 문의 답변도 늦었어요. 실망입니다.",
        "Over ten days for delivery and slow answers to my questions. Disappointed.",
    ),
}
REVIEW_NOTES = {
    True: ("리뷰에 감사 답글 게시함.", "Posted a thank-you reply to the review."),
    False: (
        "사과 답글 게시, 쿠폰 발급 요청함.",
        "Posted an apology and asked for a coupon for the customer.",
    ),
}
SOCIAL_POSTS = (
    (
        "@demomall 이번 세일 언제까지예요? 장바구니에 담아 뒀어요",
        "@demomall how long does the sale run? My cart is ready",
        "세일 기간 안내 댓글 남김.",
        "Replied with the sale dates.",
    ),
    (
        "데모몰 새 가을 컬렉션 너무 예쁘네요 #데모몰",
        "Loving the new autumn collection from @demomall",
        "감사 댓글과 함께 리그램함.",
        "Thanked them and shared the post.",
    ),
    (
        "@demomall 배송 문의 DM 드렸는데 답이 없어요",
        "@demomall I sent a DM about my delivery and nobody answered",
        "DM 확인 후 고객센터 채팅으로 안내함.",
        "Found the DM and pointed them to the support chat.",
    ),
)
