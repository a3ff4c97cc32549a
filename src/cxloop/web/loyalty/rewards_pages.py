"""The rewards catalogue's settings pages (/settings/loyalty/rewards): the catalogue a page at a
time, a reward made or changed through one form, archived after a confirming second submit, and
coupon codes added to a pool reward from a textarea or a file, one code per line. Reading needs
``loyalty:read``, changing ``loyalty:write``; the pages call the same services as the API."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from cxloop.accounts.access import require
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.loyalty import rewards
from cxloop.loyalty.rewards import MAX_CODES_BYTES, RewardIn
from cxloop.loyalty.schemas import KEY_PATTERN, ProgramOut
from cxloop.models import Reward
from cxloop.web import errors
from cxloop.web.loyalty.catalogue_form import (
    FormRefused,
    PostedForm,
    field_text,
    local_input,
    local_moment,
    plain_number,
    program_or_none,
    refusals,
    settings_page,
)
from cxloop.web.loyalty.program_form import save_or_refusals
from cxloop.web.rendering import link, redirect, zone
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(
    prefix="/settings/loyalty/rewards",
    include_in_schema=False,
    dependencies=[Depends(verify_csrf)],
)

HOME = "/settings/loyalty/rewards"
PAGE_SIZE = 50
REWARD_KINDS = ("coupon", "discount", "gift", "experience")
CODE_SOURCES = ("none", "pool", "generated")
LINE_NUMBER = re.compile(r"^line (\d+):")


@dataclass
class RewardForm:
    """A reward as the form holds it (typed text, so a refused form comes back as it was)."""

    key: str = ""
    name_ko: str = ""
    name_en: str = ""
    description: str = ""
    kind: str = "coupon"
    value: str = ""
    cost: str = ""
    point_type: str = "points"
    stock: str = ""
    min_tier: str = ""
    code_source: str = "none"
    code_prefix: str = ""
    active: bool = True
    starts_at: str = ""
    ends_at: str = ""


def form_of(reward: Reward, zone: ZoneInfo) -> RewardForm:
    """The saved reward as the form shows it."""
    return RewardForm(
        key=reward.key,
        name_ko=reward.name_ko,
        name_en=reward.name_en,
        description=reward.description,
        kind=reward.kind,
        value=plain_number(reward.value),
        cost=str(reward.cost),
        point_type=reward.point_type,
        stock=plain_number(reward.stock),
        min_tier=reward.min_tier or "",
        code_source=reward.code_source,
        code_prefix=reward.code_prefix,
        active=reward.active,
        starts_at=local_input(reward.starts_at, zone),
        ends_at=local_input(reward.ends_at, zone),
    )


def posted_form(posted: FormData) -> RewardForm:
    values: dict[str, Any] = {}
    for spec in fields(RewardForm):
        if spec.type == "bool":
            values[spec.name] = posted.get(spec.name) is not None
        else:
            values[spec.name] = field_text(posted, spec.name)
    return RewardForm(**values)


def read_reward(form: RewardForm, zone: ZoneInfo, t: Any) -> RewardIn:
    """The reward the form describes; FormRefused with the reasons in words otherwise."""
    problems: list[str] = []
    data: dict[str, Any] = {
        "name_ko": form.name_ko,
        "name_en": form.name_en,
        "description": form.description,
        "kind": form.kind,
        "point_type": form.point_type or "points",
        "min_tier": form.min_tier or None,
        "code_source": form.code_source,
        "code_prefix": form.code_prefix,
        "active": form.active,
    }
    for name in ("value", "cost", "stock"):  # left blank: no value, a missing cost, no limit
        if getattr(form, name):
            data[name] = getattr(form, name)
    for name in ("starts_at", "ends_at"):
        label = t(f"loyalty_rewards_pages.field.{name}")
        data[name] = local_moment(getattr(form, name), zone, label, t, problems)
    if not re.fullmatch(KEY_PATTERN, form.key):
        problems.append(t("loyalty_rewards_pages.err_key"))
    if problems:
        raise FormRefused(problems)
    try:
        return RewardIn.model_validate(data)
    except ValidationError as exc:
        raise FormRefused(refusals(exc, t)) from None


def _form_page(
    page: WebContext,
    program: ProgramOut,
    form: RewardForm,
    *,
    reward: Reward | None,
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    free = None
    if reward is not None and reward.code_source == "pool":
        free = rewards.free_codes(page.db, reward_ids=[reward.id])[reward.id]
    return settings_page(
        page,
        "loyalty/reward_form.html",
        tab="rewards",
        status=status,
        program=program,
        form=form,
        reward=reward,
        free=free,
        problems=problems or [],
        kinds=REWARD_KINDS,
        code_sources=CODE_SOURCES,
        max_upload_kb=MAX_CODES_BYTES // 1000,
    )


def _reward(page: WebContext, key: str) -> Reward:
    if not re.fullmatch(KEY_PATTERN, key):
        raise NotFound(f"No reward with key {key[:40]!r}.")
    return rewards.find_reward(page.db, workspace_id=page.workspace.id, key=key)


def _edit_url(key: str) -> str:
    return f"{HOME}/{key}/edit"


@router.get("")
def rewards_list(page: Page, cursor: str = "", archived: str = "") -> Response:
    """The catalogue in the order it was made, archived rewards too when asked."""
    require(page.principal, "loyalty:read")
    program = program_or_none(page)
    if program is None:
        return settings_page(page, "loyalty/rewards.html", tab="rewards", program=None)
    with_archived = archived == "1"
    found, next_cursor = rewards.list_rewards(
        page.db,
        workspace_id=page.workspace.id,
        include_archived=with_archived,
        cursor=cursor[:500] or None,
        limit=PAGE_SIZE,
    )
    pools = [r.id for r in found if r.code_source == "pool"]
    return settings_page(
        page,
        "loyalty/rewards.html",
        tab="rewards",
        program=program,
        rows=found,
        free=rewards.free_codes(page.db, reward_ids=pools),
        tier_names={t.key: t.name or t.key for t in program.tiers},
        archived=with_archived,
        cursor=cursor[:500],
        next_cursor=next_cursor,
        first_url=link(HOME, archived="1" if with_archived else None),
    )


@router.get("/new")
def new_reward(page: Page) -> Response:
    """An empty reward form."""
    require(page.principal, "loyalty:write")
    program = program_or_none(page)
    if program is None:
        return redirect(HOME)
    form = RewardForm(point_type=program.point_types[0] if program.point_types else "points")
    return _form_page(page, program, form, reward=None)


@router.get("/{key}/edit")
def edit_reward(page: Page, key: str) -> Response:
    """The reward's form (read-only without loyalty:write), its codes and its archiving."""
    require(page.principal, "loyalty:read")
    program = program_or_none(page)
    if program is None:
        return redirect(HOME)
    reward = _reward(page, key)
    return _form_page(page, program, form_of(reward, zone(page.workspace.timezone)), reward=reward)


def _save(page: WebContext, posted: FormData, *, existing: Reward | None) -> Response:
    program = program_or_none(page)
    if program is None:
        return redirect(HOME)
    form = posted_form(posted)
    if existing is not None:
        form.key = existing.key  # the key names the reward; it is not changed by the form

    def save() -> None:
        reward_in = read_reward(form, zone(page.workspace.timezone), page.t)
        if existing is None and _taken(page, form.key):
            raise FormRefused([page.t("loyalty_rewards_pages.err_key_taken", taken=form.key)])
        rewards.save_reward(
            page.db,
            principal=page.principal,
            workspace_id=page.workspace.id,
            key=form.key,
            reward_in=reward_in,
        )

    problems = save_or_refusals(page.db, page.locale, save)
    if not problems:
        page.flash("success", "loyalty_rewards_pages.saved")
        return redirect(_edit_url(form.key))
    return _form_page(page, program, form, reward=existing, problems=problems, status=422)


def _taken(page: WebContext, key: str) -> bool:
    try:
        rewards.find_reward(page.db, workspace_id=page.workspace.id, key=key)
    except NotFound:
        return False
    return True


@router.post("/new")
def create_reward(page: Page, posted: PostedForm) -> Response:
    """Add a reward to the catalogue; a key in use is refused rather than overwritten."""
    require(page.principal, "loyalty:write")
    return _save(page, posted, existing=None)


@router.post("/{key}/edit")
def change_reward(page: Page, key: str, posted: PostedForm) -> Response:
    """Save the reward's form (saving an archived reward brings it back)."""
    require(page.principal, "loyalty:write")
    return _save(page, posted, existing=_reward(page, key))


@router.post("/{key}/archive")
def archive_reward(page: Page, key: str, posted: PostedForm) -> Response:
    """Take the reward out of the catalogue: the first submit asks to confirm, the second
    (``confirm=1``) archives it."""
    require(page.principal, "loyalty:write")
    reward = _reward(page, key)
    if posted.get("confirm") != "1":
        return settings_page(page, "loyalty/reward_archive.html", tab="rewards", reward=reward)
    rewards.archive_reward(
        page.db, principal=page.principal, workspace_id=page.workspace.id, key=reward.key
    )
    page.flash("success", "loyalty_rewards_pages.archived", name=reward.name_ko or reward.name_en)
    return redirect(HOME)


def _upload_text(posted: FormData) -> str | None:
    """The codes typed in the textarea, else those of the chosen file (None when the file is
    too large or not UTF-8 text)."""
    typed = posted.get("codes")
    if isinstance(typed, str) and typed.strip():
        return typed[: MAX_CODES_BYTES + 1]
    upload = posted.get("file")
    if not isinstance(upload, UploadFile):
        return ""
    data = upload.file.read(MAX_CODES_BYTES + 1)
    if len(data) > MAX_CODES_BYTES:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _upload_refusal(page: WebContext, exc: ValidationFailed) -> str:
    """The upload's refusal in words: the lines that are not codes, or no codes at all."""
    lines = [
        found[1]
        for error in exc.errors or []
        if (found := LINE_NUMBER.match(str(error.get("message", ""))))
    ]
    if lines:
        return page.t("loyalty_rewards_pages.codes.wrong_lines", lines=", ".join(lines))
    return errors.describe(page.locale, exc)


@router.post("/{key}/codes")
def upload_codes(page: Page, key: str, posted: PostedForm) -> Response:
    """Add codes to the reward's pool, one per line; says how many were added, how many it
    had already and how many are free now."""
    require(page.principal, "loyalty:write")
    reward = _reward(page, key)
    program = program_or_none(page)
    if program is None:
        return redirect(HOME)
    text = _upload_text(posted)
    problem = ""
    if reward.code_source != "pool":
        problem = page.t("loyalty_rewards_pages.codes.not_pool")
    elif text is None:
        problem = page.t("loyalty_rewards_pages.codes.unreadable", kb=MAX_CODES_BYTES // 1000)
    elif not text.strip():
        problem = page.t("loyalty_rewards_pages.codes.empty")
    if problem:
        form = form_of(reward, zone(page.workspace.timezone))
        return _form_page(page, program, form, reward=reward, problems=[problem], status=422)
    assert text is not None
    try:
        with page.db.begin_nested():
            done = rewards.upload_codes(
                page.db,
                principal=page.principal,
                workspace_id=page.workspace.id,
                key=reward.key,
                text=text,
            )
    except ValidationFailed as exc:
        form = form_of(reward, zone(page.workspace.timezone))
        refusal = _upload_refusal(page, exc)
        return _form_page(page, program, form, reward=reward, problems=[refusal], status=422)
    page.flash(
        "success",
        "loyalty_rewards_pages.codes.uploaded",
        added=done.added,
        duplicates=done.duplicates,
        free=done.free,
    )
    return redirect(_edit_url(reward.key) + "#codes")
