"""The demo shop's words for its own codes: its teams, survey touchpoints and traits, as its
operators set them under Settings → display names (the event names it sends are the Segment
spec's and cxloop's own, which cxloop names itself)."""

from __future__ import annotations

from cxloop.accounts.display_names import save_names
from cxloop.demo.context import DemoContext

# kind → code → (Korean, English)
NAMES: dict[str, dict[str, tuple[str, str]]] = {
    "team": {
        # Said before "팀" in sentences ("배송 팀에 새 대화"), so without it.
        "cs": ("고객지원", "Customer service"),
        "cx": ("CX", "CX"),
        "delivery": ("배송", "Delivery"),
        "marketing": ("마케팅", "Marketing"),
    },
    "touchpoint": {
        "relationship": ("정기 NPS 조사", "Relationship NPS"),
        "checkout_web": ("웹 결제", "Web checkout"),
        "checkout_app": ("앱 결제", "App checkout"),
        "delivery": ("배송", "Delivery"),
        "returns": ("반품", "Returns"),
        "chat": ("채팅 상담", "Chat support"),
        "email_support": ("이메일 상담", "E-mail support"),
        "phone": ("전화 상담", "Phone support"),
        "Conversation Resolved": ("상담 종료 후", "After a conversation"),
    },
    "trait": {
        "age_band": ("연령대", "Age band"),
        "marketing_source": ("유입 경로", "Acquired through"),
        "region": ("지역", "Region"),
        "signup_date": ("가입일", "Signed up on"),
        "tier": ("회원 등급", "Membership tier"),
        "kakao_id": ("카카오 ID", "Kakao ID"),
        "naver_id": ("네이버 ID", "Naver ID"),
    },
}


def name_codes(ctx: DemoContext) -> None:
    """Phase: the names the demo's operators gave their codes."""
    with ctx.database.session() as session:
        for kind, names in NAMES.items():
            save_names(session, workspace_id=ctx.workspace_id, kind=kind, names=names)
