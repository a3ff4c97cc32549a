"""Keeping the persons of a funnel step as a list segment in the pages: the persons page's
"save as a segment" form (reached, dropped, a breakdown value), the segment's page showing where
its members came from instead of a rule, refusing to edit or refresh it, and deleting it;
refusals show the form again with the name as typed and the reason."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlencode

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.insights.segments import service as segments
from cxloop.models import Segment, SegmentMember
from tests.factories import Tenant, make_user
from tests.helpers.web import flashes, get, login, post, session_token, text_of
from tests.journeys.story import STEPS, shop_story

PERIOD = [("from", "2026-03-02"), ("to", "2026-03-08")]
FUNNEL = [("event", name) for name in STEPS.split(",")] + PERIOD
ARROWS = " → ".join(STEPS.split(","))
NO_EDIT = (
    "고정 목록 세그먼트는 규칙을 고칠 수 없습니다. 저장할 때의 고객을 그대로 담고 있습니다. "
    "다른 고객이 필요하면 새 세그먼트를 만드세요."
)
NO_REFRESH = "고정 목록 세그먼트는 갱신하지 않습니다. 저장할 때의 고객을 그대로 담고 있습니다."


def sign_in(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    *,
    role: str = "marketer",
    locale: str = "ko",
) -> None:
    user = make_user(session, workspace=tenant.workspace, role=role, locale=locale)
    session.flush()
    assert login(client, user.email).status_code == 303


def url(path: str, pairs: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(pairs)}"


def post_pairs(client: TestClient, path: str, pairs: list[tuple[str, str]]) -> Response:
    """POST a form with repeated names (the funnel's steps), with the session's CSRF token."""
    return client.post(
        path,
        content=urlencode([*pairs, ("csrf_token", session_token(client))]),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
        follow_redirects=False,
    )


def segment_form_pairs(page_text: str) -> list[tuple[str, str]]:
    """The hidden fields of the persons page's "save as a segment" form."""
    form = re.search(r'<form [^>]*id="segment-form">(.*?)</form>', page_text, re.S)
    assert form, "the persons page offers to save them as a segment"
    return [
        (html.unescape(n), html.unescape(v))
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[1])
        if n != "csrf_token"
    ]


def member_ids(session: Session, segment_id: int) -> set[int]:
    return set(
        session.scalars(
            select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)
        )
    )


@pytest.fixture
def story(session: Session, tenant: Tenant) -> dict[str, int]:
    return shop_story(session, tenant.workspace.id)


def test_those_who_dropped_before_the_order_are_saved_and_shown_as_a_list_segment(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)
    persons = get(
        client, url("/journeys/funnels/persons", [*FUNNEL, ("step", "4"), ("dropped", "1")])
    )
    assert persons.status_code == 200
    hidden = segment_form_pairs(persons.text)
    assert ("step", "4") in hidden and ("dropped", "1") in hidden
    assert [v for n, v in hidden if n == "event"] == STEPS.split(",")
    assert 'value="4단계 &#39;Order Completed&#39; 직전에 이탈한 고객"' in persons.text

    saved = post_pairs(
        client, "/journeys/funnels/persons/segment", [*hidden, ("name", "결제 이탈")]
    )

    assert saved.status_code == 303, saved.text
    location = saved.headers["location"]
    assert re.fullmatch(r"/insights/segments/\d+", location)
    segment = session.get(Segment, int(location.rsplit("/", 1)[1]))
    assert segment is not None and segment.kind == "list" and segment.name == "결제 이탈"
    assert member_ids(session, segment.id) == {story["ios1"], story["ios2"]}
    page = get(client, location)
    assert ("success", "세그먼트 '결제 이탈'을(를) 고객 2명으로 저장했습니다.") in flashes(page)
    words = text_of(page)
    assert f"퍼널 '{ARROWS}' 4단계 이탈, 2026-03-02 ~ 2026-03-08, 저장 " in words
    assert 'id="list-badge"' in page.text and "고정 목록" in words
    assert sorted(int(i) for i in re.findall(r'href="/customers/(\d+)"', page.text)) == sorted(
        [story["ios1"], story["ios2"]]
    )
    assert 'id="delete-segment"' in page.text
    assert 'id="edit-segment"' not in page.text and 'id="refresh-segment"' not in page.text
    assert 'id="rule-words"' not in page.text
    listed = get(client, "/insights/segments")
    assert re.search(r"결제 이탈</a> <span class=\"badge list-badge\"", listed.text)


def test_a_breakdown_value_with_a_step_condition_keeps_only_its_persons(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant, locale="en")
    asked = [*FUNNEL, ("s3_key", "platform"), ("s3_value", "ios"), ("by", "platform")]
    persons = get(
        client, url("/journeys/funnels/persons", [*asked, ("step", "3"), ("value", "ios")])
    )
    hidden = segment_form_pairs(persons.text)

    saved = post_pairs(client, "/journeys/funnels/persons/segment", [*hidden, ("name", "iOS")])

    assert saved.status_code == 303, saved.text
    segment_id = int(saved.headers["location"].rsplit("/", 1)[1])
    assert member_ids(session, segment_id) == {story["ios1"], story["ios2"]}
    page = get(client, saved.headers["location"])
    words = text_of(page)
    assert 'Checkout Started (property "platform" is "ios")' in words
    assert "reached step 3" in words and "(only platform = 'ios')" in words


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        pytest.param("   ", 422, "세그먼트 이름을 입력하세요.", id="blank"),
        pytest.param("긴" * 201, 422, "세그먼트 이름은 200자 이하여야 합니다.", id="too-long"),
    ],
)
def test_a_refused_name_shows_the_form_again_as_typed(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    story: dict[str, int],
    name: str,
    status: int,
    message: str,
) -> None:
    sign_in(client, session, tenant)
    pairs = [*FUNNEL, ("step", "4"), ("dropped", "1")]

    answer = post_pairs(client, "/journeys/funnels/persons/segment", [*pairs, ("name", name)])

    assert answer.status_code == status
    error = re.search(r'id="segment-error">(.*?)</div>', answer.text)
    assert error and error[1] == message
    assert f'name="name" value="{name}"' in answer.text
    assert 'id="person-list"' in answer.text  # the persons are still listed
    assert session.scalars(select(Segment).where(Segment.workspace_id == tenant.id)).all() == []


def test_more_persons_than_a_list_holds_are_refused_in_words(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    story: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(segments, "MAX_LIST_MEMBERS", 1)
    sign_in(client, session, tenant, locale="en")
    pairs = [*FUNNEL, ("step", "4"), ("dropped", "1"), ("name", "Too many")]

    answer = post_pairs(client, "/journeys/funnels/persons/segment", pairs)

    assert answer.status_code == 409
    error = re.search(r'id="segment-error">(.*?)</div>', answer.text)
    assert error and error[1] == (
        "More than 1 people are at this step; a list segment holds at most 1. "
        "Narrow the funnel or its period."
    )
    assert 'name="name" value="Too many"' in answer.text


def test_a_bad_funnel_in_the_posted_form_is_refused_with_the_reason(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)
    pairs = [*FUNNEL, ("step", "1"), ("dropped", "1"), ("name", "이탈")]

    answer = post_pairs(client, "/journeys/funnels/persons/segment", pairs)

    assert answer.status_code == 422
    assert "단계 번호에는 2부터 4까지의 정수를 입력하세요." in text_of(answer)
    assert session.scalars(select(Segment).where(Segment.workspace_id == tenant.id)).all() == []


def test_a_viewer_sees_no_save_form_and_may_not_post_it(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant, role="viewer")
    pairs = [*FUNNEL, ("step", "4"), ("dropped", "1")]

    persons = get(client, url("/journeys/funnels/persons", pairs))
    refused = post_pairs(client, "/journeys/funnels/persons/segment", [*pairs, ("name", "x")])

    assert persons.status_code == 200 and 'id="segment-form"' not in persons.text
    assert refused.status_code == 403
    assert session.scalars(select(Segment).where(Segment.workspace_id == tenant.id)).all() == []


def test_a_list_segment_is_not_edited_or_refreshed_and_is_deleted(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)
    pairs = [*FUNNEL, ("step", "4"), ("dropped", "1"), ("name", "결제 이탈")]
    location = post_pairs(client, "/journeys/funnels/persons/segment", pairs).headers["location"]
    segment_id = int(location.rsplit("/", 1)[1])
    get(client, location)  # shows (and so clears) the saved message

    edit = client.get(f"{location}/edit", follow_redirects=False)
    edited = post(client, f"{location}/edit", {"name": "x", "rule": '{"type": "all", "rules": []}'})
    refreshed = post(client, f"{location}/refresh")
    after_refresh = get(client, location)

    assert edit.status_code == 303 and edit.headers["location"] == location
    assert edited.status_code == 303 and refreshed.status_code == 303
    shown = flashes(after_refresh)
    assert ("error", NO_EDIT) in shown and ("error", NO_REFRESH) in shown
    assert member_ids(session, segment_id) == {story["ios1"], story["ios2"]}
    session.expire_all()
    segment = session.get(Segment, segment_id)
    assert segment is not None and segment.name == "결제 이탈" and segment.rule == {}

    deleted = post(client, f"{location}/delete")

    assert deleted.status_code == 303 and deleted.headers["location"] == "/insights/segments"
    assert ("success", "세그먼트 '결제 이탈'을(를) 삭제했습니다.") in flashes(
        get(client, "/insights/segments")
    )
    assert get(client, location).status_code == 404
    assert member_ids(session, segment_id) == set()


def test_a_rule_segment_has_no_delete_and_another_workspaces_list_is_not_found(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    other = Tenant(session)
    foreign_story = shop_story(session, other.workspace.id)
    from cxloop.accounts.access import Principal

    foreign = segments.create_list_segment(
        session,
        principal=Principal(workspace_id=other.workspace.id, role="owner"),
        name="남의 목록",
        customer_ids=[foreign_story["web1"]],
        origin={"source": "test", "description": {"ko": "남의 것", "en": "Theirs"}},
    )
    rule = client.post(
        "/api/v1/segments",
        json={"name": "모두", "rule": {"type": "all", "rules": []}},
        headers=tenant.api,
    ).json()
    sign_in(client, session, tenant)

    rule_page = get(client, f"/insights/segments/{rule['id']}")
    refused = post(client, f"/insights/segments/{rule['id']}/delete")
    after_refusal = get(client, refused.headers["location"])
    foreign_delete = post(client, f"/insights/segments/{foreign.id}/delete")

    assert 'id="delete-segment"' not in rule_page.text and 'id="edit-segment"' in rule_page.text
    assert refused.status_code == 303
    assert ("error", "규칙 세그먼트는 삭제하지 않고 보관합니다.") in flashes(after_refusal)
    assert foreign_delete.status_code == 404
    assert member_ids(session, foreign.id) == {foreign_story["web1"]}


def test_the_persons_link_pairs_survive_the_round_trip(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    sign_in(client, session, tenant)
    asked = [*FUNNEL, ("s2_key", "platform"), ("s2_op", "in"), ("s2_value", "web, ios")]

    persons = get(client, url("/journeys/funnels/persons", [*asked, ("step", "2")]))
    hidden = segment_form_pairs(persons.text)

    for pair in [("s2_key", "platform"), ("s2_op", "in"), ("s2_value", "web, ios")]:
        assert pair in hidden
    back = re.search(r'href="([^"]+)" id="back-to-funnel"', persons.text)
    assert back and ("s2_value", "web, ios") in parse_qsl(
        back[1].replace("&amp;", "&").split("?")[1]
    )
