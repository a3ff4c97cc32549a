"""The loyalty dashboard (/loyalty): members by tier; points issued, redeemed and expired this
month and over the last 12 months; the outstanding liability in the program's currency; the
redemption rate; NPS and churn risk by tier. Each figure says plainly when there is nothing to
count yet."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fastapi import APIRouter
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.core import stats
from cxloop.core.errors import NotFound
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import members, reports
from cxloop.loyalty.reports import ChurnCounts, MonthFlow, NpsCounts
from cxloop.web.loyalty.members import tier_name
from cxloop.web.rendering import render, zone
from cxloop.web.session import Page

router = APIRouter(prefix="/loyalty", include_in_schema=False)


@dataclass(frozen=True)
class TierLine:
    """One tier's row of the dashboard (``key`` None: members without a tier yet)."""

    key: str | None
    name: str | None
    members: int
    nps: stats.NpsEstimate | None
    churn: ChurnCounts

    @property
    def high_risk_share(self) -> float | None:
        return self.churn.high / self.churn.scored if self.churn.scored else None


def _nps(counts: NpsCounts | None) -> stats.NpsEstimate | None:
    if counts is None:
        return None
    return stats.nps_from_counts(
        promoters=counts.promoters, passives=counts.passives, detractors=counts.detractors
    )


def _year(flows: list[MonthFlow]) -> MonthFlow:
    return MonthFlow(
        month=flows[0].month,
        issued=sum(f.issued for f in flows),
        redeemed=sum(f.redeemed for f in flows),
        expired=sum(f.expired for f in flows),
        taken_back=sum(f.taken_back for f in flows),
    )


@router.get("")
def dashboard(page: Page) -> Response:
    """The program in figures."""
    require(page.principal, "loyalty:read")
    try:
        program = members.active_program(page.db, workspace_id=page.workspace.id)
    except NotFound:
        return render(
            page.request, "loyalty/dashboard.html", page=page, section="loyalty", program=None
        )
    now, tz = utcnow(), zone(page.workspace.timezone)
    scope = {"workspace_id": page.workspace.id, "program_id": program.program.id}
    counts = reports.members_by_tier(page.db, **scope)
    flows = reports.monthly_flows(page.db, **scope, now=now, zone=tz)
    held = reports.outstanding(page.db, **scope, now=now)
    nps = reports.nps_by_tier(page.db, **scope, now=now, zone=tz)
    churn = reports.churn_by_tier(page.db, **scope, now=now, zone=tz)
    tiers = [
        TierLine(
            t.key,
            tier_name(t),
            counts.get(t.id, 0),
            _nps(nps.get(t.id)),
            churn.get(t.id, ChurnCounts()),
        )
        for t in program.tiers
    ]
    known = {t.id for t in program.tiers}
    if any(tier_id not in known for tier_id in counts):
        # Members not placed in a tier yet (or whose tier was removed).
        left = [tier_id for tier_id in counts if tier_id not in known]
        tiers.append(
            TierLine(
                None,
                None,
                sum(counts[i] for i in left),
                _nps(_sum_nps([nps[i] for i in left if i in nps])),
                _sum_churn([churn[i] for i in left if i in churn]),
            )
        )
    year = _year(flows)
    return render(
        page.request,
        "loyalty/dashboard.html",
        page=page,
        section="loyalty",
        loyalty_tab="dashboard",
        program=program.program,
        tiers=tiers,
        total_members=sum(counts.values()),
        month_rows=[(f"month-{f.month:%Y-%m}", f"{f.month:%Y-%m}", f) for f in reversed(flows)],
        this_month=flows[-1],
        year=year,
        held=held,
        liability=held.liability(Decimal(program.program.point_value)),
        redemption_rate=year.redeemed / year.issued if year.issued else None,
        any_nps=bool(nps),
        any_churn=any(c.scored for c in churn.values()),
    )


def _sum_nps(found: list[NpsCounts]) -> NpsCounts | None:
    if not found:
        return None
    return NpsCounts(
        sum(c.promoters for c in found),
        sum(c.passives for c in found),
        sum(c.detractors for c in found),
    )


def _sum_churn(found: list[ChurnCounts]) -> ChurnCounts:
    return ChurnCounts(
        sum(c.members for c in found),
        sum(c.scored for c in found),
        sum(c.high for c in found),
        sum(c.mid for c in found),
    )
