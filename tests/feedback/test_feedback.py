"""Surveys and responses: definition checks, branching, answer validation, versions,
invitations, imports, score summaries, workspace scoping and roles."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.feedback.surveys import definition as defn
from cxloop.models import Response
from tests.factories import Tenant, make_customer
from tests.helpers.surveys import T, create, go_live, make_invitation, nps_definition, submit


def _live_survey(client: TestClient, tenant: Tenant) -> int:
    """The tenant's live NPS survey, made on first use (hypothesis reuses the fixtures)."""
    listed = client.get("/api/v1/surveys?status=live", headers=tenant.api).json()["items"]
    if listed:
        return int(listed[0]["id"])
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    return int(survey["id"])


def fields(reply: Any) -> dict[str, str]:
    assert reply.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in reply.json()["errors"]}


# --- definitions -------------------------------------------------------------------------------


def _with_question(index: int, **changes: Any) -> dict[str, Any]:
    d = nps_definition()
    d["questions"][index].update(changes)
    return d


@pytest.mark.parametrize(
    ("raw", "kind", "field", "message"),
    [
        pytest.param(
            _with_question(1, show_if={"question": "ghost", "op": "==", "value": 1}),
            "nps",
            "definition.questions.1.show_if.question",
            "unknown question 'ghost'",
            id="unknown-question-in-condition",
        ),
        pytest.param(
            _with_question(1, show_if={"question": "comment", "op": "==", "value": "x"}),
            "nps",
            "definition.questions.1.show_if.question",
            "a condition can only refer to an earlier question; 'comment' comes later",
            id="forward-reference",
        ),
        pytest.param(
            _with_question(1, show_if={"question": "why_low", "op": "==", "value": "price"}),
            "nps",
            "definition.questions.1.show_if.question",
            "a condition can only refer to an earlier question; 'why_low' comes later",
            id="self-reference",
        ),
        pytest.param(
            _with_question(2, id="nps"),
            "nps",
            "definition.questions.2.id",
            "question id 'nps' is used twice",
            id="duplicate-question-id",
        ),
        pytest.param(
            _with_question(
                2,
                options=[
                    {"id": "a", "label": T},
                    {"id": "a", "label": T},
                ],
            ),
            "nps",
            "definition.questions.2.options.1.id",
            "option id 'a' is used twice",
            id="duplicate-option-id",
        ),
        pytest.param(
            _with_question(1, show_if={"question": "nps", "op": "==", "value": 11}),
            "nps",
            "definition.questions.1.show_if.value",
            "11 is outside the 0–10 scale of 'nps'",
            id="condition-outside-scale",
        ),
        pytest.param(
            _with_question(2, show_if={"question": "why_low", "op": "==", "value": "taste"}),
            "nps",
            "definition.questions.2.show_if.value",
            "'taste' is not an option of 'why_low'",
            id="condition-on-unknown-option",
        ),
        pytest.param(
            _with_question(3, show_if={"question": "liked", "op": ">", "value": 1}),
            "nps",
            "definition.questions.3.show_if.op",
            "'>' only compares numbers; 'liked' is multiple",
            id="ordering-on-choice",
        ),
        pytest.param(
            nps_definition(),
            "csat",
            "definition.questions",
            "a survey of kind csat needs an csat question",
            id="kind-needs-its-question",
        ),
        pytest.param(
            {"questions": [{"id": "r", "type": "rating", "text": T}]},
            "custom",
            "definition.questions.0",
            "a rating question needs min and max",
            id="rating-without-scale",
        ),
        pytest.param(
            {"questions": [{"id": "r", "type": "rating", "min": 5, "max": 5, "text": T}]},
            "custom",
            "definition.questions.0.max",
            "max must be greater than min",
            id="rating-empty-scale",
        ),
        pytest.param(
            {"questions": [{"id": "s", "type": "single", "text": T}]},
            "custom",
            "definition.questions.0.options",
            "a choice question needs at least 2 options",
            id="choice-without-options",
        ),
        pytest.param(
            {"questions": [{"id": "n", "type": "nps", "text": {"ko": "추천?"}}]},
            "nps",
            "definition.questions.0.text.en",
            "Field required",
            id="english-text-required",
        ),
    ],
)
def test_a_definition_with_a_mistake_is_refused_with_the_field(
    raw: dict[str, Any], kind: str, field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        defn.parse_definition(raw, kind=kind)
    assert (field, message) in [(e["field"], e["message"]) for e in caught.value.errors]


def test_the_api_reports_definition_mistakes_field_by_field(
    client: TestClient, tenant: Tenant
) -> None:
    bad = _with_question(1, show_if={"question": "ghost", "op": "==", "value": 1})
    reply = client.post(
        "/api/v1/surveys",
        json={"key": "k", "name": "n", "kind": "nps", "definition": bad},
        headers=tenant.api,
    )
    assert reply.status_code == 422
    assert fields(reply) == {"definition.questions.1.show_if.question": "unknown question 'ghost'"}


def test_a_number_too_large_for_json_in_a_condition_is_a_422_not_a_500(
    client: TestClient, tenant: Tenant
) -> None:
    bad = _with_question(1, show_if={"question": "nps", "op": "==", "value": 10**30})
    reply = client.post(
        "/api/v1/surveys",
        json={"key": "k", "name": "n", "kind": "nps", "definition": bad},
        headers=tenant.api,
    )
    assert reply.status_code == 422
    [error] = reply.json()["errors"]
    assert error["code"] == "value_outside" and error["params"]["value"] == str(10**30)


# --- branching, answers, outcomes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "shown"),
    [
        pytest.param({}, ["nps", "liked", "comment"], id="unanswered-condition-hides"),
        pytest.param({"nps": 6}, ["nps", "why_low", "liked", "comment"], id="detractor-sees-why"),
        pytest.param({"nps": 7}, ["nps", "liked", "comment"], id="passive-does-not"),
    ],
)
def test_branching_shows_questions_by_earlier_answers(
    answers: dict[str, Any], shown: list[str]
) -> None:
    definition = defn.parse_definition(nps_definition(), kind="nps")
    assert [q.id for q in defn.visible_questions(definition, answers)] == shown


def test_multiple_choice_conditions_test_membership() -> None:
    d = nps_definition()
    d["questions"][3]["show_if"] = {"question": "liked", "op": "in", "value": ["staff", "app"]}
    definition = defn.parse_definition(d, kind="nps")
    shown = defn.visible_questions(definition, {"nps": 9, "liked": ["app"]})
    assert [q.id for q in shown][-1] == "comment"
    assert "comment" not in [q.id for q in defn.visible_questions(definition, {"liked": ["speed"]})]


def test_answers_are_cleaned_and_branch_answers_hidden_by_branching_are_dropped() -> None:
    definition = defn.parse_definition(nps_definition(), kind="nps")
    cleaned = defn.validate_answers(
        definition,
        {"nps": 9.0, "why_low": "price", "liked": ["app", "speed", "app"], "comment": "  좋아요 "},
        partial=False,
    )
    assert cleaned == {"nps": 9, "liked": ["speed", "app"], "comment": "좋아요"}
    assert defn.headline_scores(definition, cleaned) == (9, None, None)


@pytest.mark.parametrize(
    ("answers", "partial", "errors"),
    [
        pytest.param(
            {"nps": 11},
            False,
            {"answers.nps": "must be between 0 and 10; got 11"},
            id="out-of-range",
        ),
        pytest.param(
            {"nps": "9"}, False, {"answers.nps": "must be a whole number"}, id="wrong-type"
        ),
        pytest.param(
            {"nps": True},
            False,
            {"answers.nps": "must be a whole number"},
            id="bool-is-not-a-score",
        ),
        pytest.param({"nps": 7.5}, False, {"answers.nps": "must be a whole number"}, id="fraction"),
        pytest.param({}, False, {"answers.nps": "an answer is required"}, id="missing-required"),
        pytest.param({}, True, {}, id="partial-may-miss-required"),
        pytest.param(
            {"nps": 3},
            False,
            {"answers.why_low": "an answer is required"},
            id="required-when-branch-visible",
        ),
        pytest.param(
            {"nps": 3, "why_low": "taste"},
            False,
            {"answers.why_low": "'taste' is not an option of this question"},
            id="option-not-offered",
        ),
        pytest.param(
            {"nps": 9, "liked": "speed"},
            False,
            {"answers.liked": "must be a list of option ids"},
            id="multiple-needs-list",
        ),
        pytest.param(
            {"nps": 9, "comment": "가" * 21},
            False,
            {"answers.comment": "must be at most 20 characters; got 21"},
            id="text-too-long",
        ),
        pytest.param(
            {"nps": 9, "q99": 1}, False, {"answers.q99": "unknown question"}, id="unknown-question"
        ),
    ],
)
def test_invalid_answers_name_their_field(
    answers: dict[str, Any], partial: bool, errors: dict[str, str]
) -> None:
    definition = defn.parse_definition(nps_definition(), kind="nps")
    if not errors:
        assert defn.validate_answers(definition, answers, partial=partial) == {}
        return
    with pytest.raises(ValidationFailed) as caught:
        defn.validate_answers(definition, answers, partial=partial)
    assert {e["field"]: e["message"] for e in caught.value.errors} == errors


@pytest.mark.parametrize(
    ("answers", "locale", "outcome", "message"),
    [
        pytest.param(
            {"nps": 10}, "ko-KR", "promoter", "감사합니다! 추천 부탁드려요", id="promoter-ko"
        ),
        pytest.param(
            {"nps": 2}, "en-US", "detractor", "Sorry, we will do better.", id="detractor-en"
        ),
        pytest.param({"nps": 8}, "ja", "passive", "Thank you", id="passive-default-en-fallback"),
        pytest.param({}, "ko_KR", "default", "감사합니다", id="no-score-ko"),
    ],
)
def test_thank_you_message_follows_outcome_and_locale(
    answers: dict[str, Any], locale: str, outcome: str, message: str
) -> None:
    definition = defn.parse_definition(nps_definition(), kind="nps")
    assert defn.thank_you_message(definition, answers, locale) == (outcome, message)


def test_text_for_picks_korean_for_korean_locales_else_english() -> None:
    text = defn.LocalText(ko="안녕", en="Hello")
    assert [defn.text_for(text, loc) for loc in ("ko", "ko-KR", "KO_kr", "en", "fr", None)] == [
        "안녕",
        "안녕",
        "안녕",
        "Hello",
        "Hello",
        "Hello",
    ]


# --- API: surveys, responses, versions ---------------------------------------------------------


def test_invalid_answers_through_the_api_are_a_field_level_422(
    client: TestClient, tenant: Tenant
) -> None:
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    reply = submit(client, tenant, survey["id"], answers={"nps": 3, "q9": "x", "liked": ["cake"]})
    assert reply.status_code == 422
    assert fields(reply) == {
        "answers.q9": "unknown question",
        "answers.why_low": "an answer is required",
        "answers.liked": "'cake' is not an option of this question",
    }


def test_a_draft_survey_takes_no_responses(client: TestClient, tenant: Tenant) -> None:
    survey = create(client, tenant)
    assert submit(client, tenant, survey["id"], answers={"nps": 9}).status_code == 409


def test_a_response_fills_scores_hidden_fields_and_thanks_in_the_respondents_language(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, user_id="buyer-1")
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    reply = submit(
        client,
        tenant,
        survey["id"],
        answers={"nps": 4, "why_low": "delivery", "comment": "늦게 왔어요"},
        hidden={"order_id": "A-100", "touchpoint": "delivery"},
        customer_id=customer.id,
        locale="ko-KR",
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["thank_you"] == {"outcome": "detractor", "message": "죄송합니다. 개선하겠습니다"}
    response = body["response"]
    assert (response["nps"], response["csat"], response["ces"]) == (4, None, None)
    assert response["touchpoint"] == "delivery"
    assert response["comment"] == "늦게 왔어요"
    assert response["customer_id"] == customer.id
    assert response["version"] == 1 and response["completed"] is True

    unknown = submit(client, tenant, survey["id"], answers={"nps": 9}, hidden={"coupon": "x"})
    assert unknown.status_code == 422
    assert fields(unknown) == {"hidden.coupon": "not a hidden field of this survey"}


def test_editing_a_live_survey_makes_a_new_version_and_keeps_old_answers(
    client: TestClient, tenant: Tenant
) -> None:
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    old = submit(client, tenant, survey["id"], answers={"nps": 3, "why_low": "price"}).json()

    changed = nps_definition()
    changed["questions"][1]["options"] = [
        {"id": "delivery", "label": {"ko": "배송", "en": "Delivery"}},
        {"id": "quality", "label": {"ko": "품질", "en": "Quality"}},
    ]
    reply = client.patch(
        f"/api/v1/surveys/{survey['id']}", json={"definition": changed}, headers=tenant.api
    )
    assert reply.status_code == 200
    assert reply.json()["current_version"] == 2

    # The same definition again is not a new version.
    again = client.patch(
        f"/api/v1/surveys/{survey['id']}", json={"definition": changed}, headers=tenant.api
    )
    assert again.json()["current_version"] == 2

    # New respondents answer version 2: "price" is gone.
    refused = submit(client, tenant, survey["id"], answers={"nps": 3, "why_low": "price"})
    assert fields(refused) == {"answers.why_low": "'price' is not an option of this question"}
    # A respondent who saw version 1 may still answer it.
    late = submit(client, tenant, survey["id"], answers={"nps": 3, "why_low": "price"}, version=1)
    assert late.status_code == 201 and late.json()["response"]["version"] == 1

    listed = client.get(
        f"/api/v1/surveys/{survey['id']}/responses?version=1", headers=tenant.api
    ).json()
    assert [r["id"] for r in listed["items"]] == [
        late.json()["response"]["id"],
        old["response"]["id"],
    ]
    assert listed["items"][1]["answers"] == {"nps": 3, "why_low": "price"}

    v1 = client.get(f"/api/v1/surveys/{survey['id']}/versions/1", headers=tenant.api).json()
    options = [o["id"] for o in v1["definition"]["questions"][1]["options"]]
    assert options == ["delivery", "price"]
    definition = defn.load_definition(v1["definition"])
    assert defn.validate_answers(definition, listed["items"][1]["answers"], partial=False)
    missing = client.get(f"/api/v1/surveys/{survey['id']}/versions/3", headers=tenant.api)
    assert missing.status_code == 404


# --- invitations --------------------------------------------------------------------------------


def test_one_response_per_invitation_partial_then_complete(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    invitation = make_invitation(session, tenant, survey["id"], "tok-0123456789")
    token = "tok-0123456789"

    first = submit(
        client, tenant, survey["id"], answers={"nps": 5}, invitation_token=token, partial=True
    )
    assert first.status_code == 201, first.text
    assert first.json()["response"]["completed"] is False
    # Completing needs the branch answer the first page made required.
    incomplete = submit(client, tenant, survey["id"], answers={}, invitation_token=token)
    assert fields(incomplete) == {"answers.why_low": "an answer is required"}

    done = submit(
        client, tenant, survey["id"], answers={"why_low": "delivery"}, invitation_token=token
    )
    assert done.status_code == 201
    response = done.json()["response"]
    assert response["id"] == first.json()["response"]["id"]
    assert response["answers"] == {"nps": 5, "why_low": "delivery"}
    assert response["completed"] is True
    assert response["customer_id"] == invitation.customer_id
    assert response["channel"] == "email"
    assert response["hidden"] == {"order_id": "O-7"}

    again = submit(client, tenant, survey["id"], answers={"nps": 10}, invitation_token=token)
    assert again.status_code == 409
    rows = session.scalars(select(Response).where(Response.invitation_id == invitation.id)).all()
    assert len(rows) == 1
    session.refresh(invitation)
    assert invitation.status == "answered"

    unknown = submit(client, tenant, survey["id"], answers={"nps": 1}, invitation_token="nope-nope")
    assert unknown.status_code == 404


# --- import -------------------------------------------------------------------------------------


def test_import_dedupes_external_ids_and_links_known_customers(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    known = make_customer(session, workspace=tenant.workspace, email="kim@example.com")
    survey = create(client, tenant)
    url = f"/api/v1/surveys/{survey['id']}/responses/import"
    rows = [
        {"external_id": "x1", "answers": {"nps": 10}, "email": "KIM@example.com"},
        {"external_id": "x2", "answers": {"nps": 2, "why_low": "price"}, "user_id": "nobody"},
        {"external_id": "x1", "answers": {"nps": 0}},
        {"external_id": "x3", "answers": {"nps": 8}, "submitted_at": "2026-01-05T09:00:00+09:00"},
    ]
    first = client.post(url, json={"rows": rows, "source": "typeform"}, headers=tenant.api)
    assert first.status_code == 200, first.text
    assert first.json() | {"ids": None} == {
        "created": 3,
        "duplicates": ["x1"],
        "unlinked": 1,
        "ids": None,
    }
    second = client.post(url, json={"rows": rows[:2]}, headers=tenant.api).json()
    assert (second["created"], second["duplicates"]) == (0, ["x1", "x2"])

    stored = {
        r.external_id: r
        for r in session.scalars(select(Response).where(Response.survey_id == survey["id"]))
    }
    assert stored["x1"].customer_id == known.id and stored["x1"].source == "typeform"
    assert stored["x2"].customer_id is None
    assert stored["x3"].submitted_at.isoformat() == "2026-01-05T00:00:00+00:00"

    bad = client.post(
        url,
        json={
            "rows": [
                {"external_id": "y1", "answers": {"nps": 9}},
                {"external_id": "y2", "answers": {"nps": 12}},
            ]
        },
        headers=tenant.api,
    )
    assert bad.status_code == 422
    assert fields(bad) == {"rows.1.answers.nps": "must be between 0 and 10; got 12"}
    assert session.scalar(select(Response.id).where(Response.external_id == "y1")) is None


# --- scores -------------------------------------------------------------------------------------


def test_summary_matches_hand_computed_scores(client: TestClient, tenant: Tenant) -> None:
    d = nps_definition()
    d["questions"].append({"id": "sat", "type": "csat", "text": T})
    d["questions"].append({"id": "effort", "type": "ces", "text": T})
    survey = create(client, tenant, definition=d)
    nps_scores = [10, 9, 9, 10, 9, 7, 8, 8, 0, 6]  # 5 promoters, 3 passives, 2 detractors
    csat_scores = [5, 4, 4, 3, 2, 5, 5, 1, None, None]  # 5 of 8 satisfied
    ces_scores = [7, 6, 5, 5, 3, None, None, None, None, None]  # mean 5.2
    rows = []
    for i, (n, c, e) in enumerate(zip(nps_scores, csat_scores, ces_scores, strict=True)):
        answers: dict[str, Any] = {"nps": n, "sat": c, "effort": e}
        if n <= 6:
            answers["why_low"] = "price"
        rows.append({"external_id": f"r{i}", "answers": answers})
    rows.append({"external_id": "partial", "answers": {"nps": 0}, "completed": False})
    assert (
        client.post(
            f"/api/v1/surveys/{survey['id']}/responses/import",
            json={"rows": rows},
            headers=tenant.api,
        ).json()["created"]
        == 11
    )

    summary = client.get(f"/api/v1/surveys/{survey['id']}/summary", headers=tenant.api).json()
    assert summary["responses"] == 10
    nps = summary["nps"]
    assert (nps["promoters"], nps["passives"], nps["detractors"], nps["n"]) == (5, 3, 2, 10)
    assert nps["estimate"] == pytest.approx(30.0)
    # Var = (p + d − (p − d)²) / n = (0.5 + 0.2 − 0.09) / 10 = 0.061
    half = 100 * 1.959963984540054 * math.sqrt(0.061)
    assert nps["ci_low"] == pytest.approx(30.0 - half)
    assert nps["ci_high"] == pytest.approx(30.0 + half)
    assert summary["csat"]["n"] == 8 and summary["csat"]["satisfied"] == 5
    assert summary["csat"]["estimate"] == pytest.approx(62.5)
    ces = summary["ces"]
    assert ces["n"] == 5 and ces["estimate"] == pytest.approx(5.2)
    assert ces["std"] == pytest.approx(math.sqrt(2.2))  # Σ(x − 5.2)² = 8.8, / 4
    assert summary["too_few"] is True
    assert nps["too_few"] is True

    relaxed = client.get(
        f"/api/v1/surveys/{survey['id']}/summary?min_n=5", headers=tenant.api
    ).json()
    assert relaxed["too_few"] is False

    empty = client.get(
        f"/api/v1/surveys/{survey['id']}/summary?since=2030-01-01T00:00:00Z", headers=tenant.api
    ).json()
    assert (empty["responses"], empty["nps"], empty["too_few"]) == (0, None, True)


def test_responses_filter_by_score_and_page_with_cursors(
    client: TestClient, tenant: Tenant
) -> None:
    survey = create(client, tenant)
    rows = [
        {"external_id": f"r{i}", "answers": {"nps": i, **({"why_low": "price"} if i <= 6 else {})}}
        for i in range(11)
    ]
    client.post(
        f"/api/v1/surveys/{survey['id']}/responses/import", json={"rows": rows}, headers=tenant.api
    )
    url = f"/api/v1/surveys/{survey['id']}/responses"
    seen: list[int] = []
    cursor = None
    while True:
        query = {"score_max": 6, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=query, headers=tenant.api).json()
        seen.extend(r["nps"] for r in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [0, 1, 2, 3, 4, 5, 6]
    forged = client.get(url, params={"cursor": "bm9wZQ"}, headers=tenant.api)
    assert forged.status_code == 422


# --- scoping and roles ---------------------------------------------------------------------------


def test_another_workspaces_survey_is_not_found(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    survey = create(client, tenant)
    other = Tenant(session)
    for path in ("", "/responses", "/summary", "/versions/1"):
        reply = client.get(f"/api/v1/surveys/{survey['id']}{path}", headers=other.api)
        assert reply.status_code == 404, path
    assert submit(client, other, survey["id"], answers={"nps": 1}).status_code == 404
    assert client.get("/api/v1/surveys", headers=other.api).json()["items"] == []
    # Keys are unique per workspace only.
    create(client, other)


@pytest.mark.parametrize(
    ("role", "can_write", "can_read"),
    [
        pytest.param("viewer", False, True, id="viewer"),
        pytest.param("agent", False, True, id="agent"),
        pytest.param("analyst", True, True, id="analyst"),
        pytest.param("marketer", True, True, id="marketer"),
    ],
)
def test_roles_decide_who_builds_surveys(
    client: TestClient, tenant: Tenant, role: str, can_write: bool, can_read: bool
) -> None:
    headers = tenant.key(role)
    survey = create(client, tenant)
    reply = client.post(
        "/api/v1/surveys",
        json={"key": "mine", "name": "n", "kind": "nps", "definition": nps_definition()},
        headers=headers,
    )
    assert reply.status_code == (201 if can_write else 403)
    read = client.get(f"/api/v1/surveys/{survey['id']}/responses", headers=headers)
    assert read.status_code == (200 if can_read else 403)


def test_status_changes_and_duplicate_keys(client: TestClient, tenant: Tenant) -> None:
    survey = create(client, tenant)
    url = f"/api/v1/surveys/{survey['id']}/status"
    assert client.post(url, json={"status": "live"}, headers=tenant.api).json()["status"] == "live"
    submit(client, tenant, survey["id"], answers={"nps": 9})
    assert client.post(url, json={"status": "draft"}, headers=tenant.api).status_code == 409
    assert client.post(url, json={"status": "closed"}, headers=tenant.api).status_code == 200
    assert submit(client, tenant, survey["id"], answers={"nps": 9}).status_code == 409
    dup = client.post(
        "/api/v1/surveys",
        json={"key": "post-purchase", "name": "n", "kind": "nps", "definition": nps_definition()},
        headers=tenant.api,
    )
    assert dup.status_code == 409
    assert fields(dup) == {"key": "already used in this workspace"}
    listed = client.get("/api/v1/surveys?status=closed", headers=tenant.api).json()
    assert [s["id"] for s in listed["items"]] == [survey["id"]]


# --- whatever arrives, a clear answer ------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
_keys = st.sampled_from(["nps", "why_low", "liked", "comment", "other"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    answers=st.dictionaries(
        _keys, _json | st.integers(0, 10) | st.sampled_from(["price", "app"]), max_size=5
    ),
    hidden=st.dictionaries(st.sampled_from(["order_id", "touchpoint", "x"]), _json, max_size=3),
    partial=st.booleans(),
)
def test_any_answers_get_a_response_or_a_field_level_422(
    client: TestClient,
    tenant: Tenant,
    answers: dict[str, Any],
    hidden: dict[str, Any],
    partial: bool,
) -> None:
    survey_id = _live_survey(client, tenant)
    reply = submit(client, tenant, survey_id, answers=answers, hidden=hidden, partial=partial)
    assert reply.status_code in (201, 422), reply.text
    if reply.status_code == 422:
        assert fields(reply)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    question=st.sampled_from(["nps", "why_low", "liked", "comment", "ghost"]),
    op=st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in"]),
    value=_json,
)
def test_any_condition_is_accepted_or_refused_with_a_field(
    question: str, op: str, value: Any
) -> None:
    raw = nps_definition()
    raw["questions"].append(
        {
            "id": "last",
            "type": "text",
            "text": T,
            "show_if": {"question": question, "op": op, "value": value},
        }
    )
    try:
        definition = defn.parse_definition(raw, kind="nps")
    except ValidationFailed as exc:
        assert exc.errors and all(e["field"].startswith("definition.") for e in exc.errors)
        return
    for answers in ({}, {"nps": 0}, {"nps": 10, "liked": ["app"], "comment": "x"}):
        defn.visible_questions(definition, answers)


def test_text_no_database_can_store_is_a_422(client: TestClient, tenant: Tenant) -> None:
    survey_id = _live_survey(client, tenant)
    headers = {**tenant.api, "content-type": "application/json"}
    body = '{"answers": {"nps": 9, "comment": "\\ud800x", "\\udfff": 1}}'
    reply = client.post(f"/api/v1/surveys/{survey_id}/responses", content=body, headers=headers)
    # refused before any handler runs (core's Unicode guard), as a problem+json 422
    assert reply.status_code == 422
    assert "surrogate" in reply.json()["detail"]
    reply = client.post(
        f"/api/v1/surveys/{survey_id}/responses",
        content='{"answers": {"nps": 9}, "hidden": {"order_id": "a\\u0000"}}',
        headers=headers,
    )
    assert fields(reply) == {"hidden.order_id": "must be valid text without NUL characters"}
    named = client.post(
        "/api/v1/surveys",
        content='{"key": "k1", "name": "\\ud800", "kind": "nps", "definition": {"questions": []}}',
        headers=headers,
    )
    assert named.status_code == 422
    assert "surrogate" in named.json()["detail"]


# --- the customer's rights and merges reach survey answers --------------------------------


def test_answers_follow_a_merge_are_exported_and_lose_their_text_on_erasure(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    older = make_customer(session, workspace=tenant.workspace)
    newer = make_customer(session, workspace=tenant.workspace)
    session.flush()
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    reply = submit(
        client,
        tenant,
        survey["id"],
        answers={"nps": 3, "why_low": "price", "liked": ["app"], "comment": "010-1234-5678로 연락"},
        hidden={"order_id": "A-7", "touchpoint": "checkout"},
        customer_id=newer.id,
    )
    assert reply.status_code == 201, reply.text
    response_id = reply.json()["response"]["id"]
    # a merge moves the answer to the surviving profile
    merged = client.post(
        f"/api/v1/customers/{older.id}/merge", json={"other_id": newer.id}, headers=tenant.api
    )
    assert merged.status_code == 200, merged.text
    stored = session.get(Response, response_id)
    assert stored is not None
    session.refresh(stored)
    assert stored.customer_id == older.id
    # the export includes it
    exported = client.get(f"/api/v1/customers/{older.id}/export", headers=tenant.api).json()
    [answer] = exported["survey_responses"]
    assert answer["answers"]["comment"] == "010-1234-5678로 연락"
    # erasure keeps the score and the choices, drops the free text and the hidden fields
    erased = client.post(f"/api/v1/customers/{older.id}/erase", headers=tenant.api)
    assert erased.status_code == 200, erased.text
    session.refresh(stored)
    assert stored.answers == {"nps": 3, "why_low": "price", "liked": ["app"]}
    assert (stored.nps, stored.comment, stored.hidden) == (3, None, {})
    assert stored.touchpoint == "checkout"
