"""The supervisor's periodic service review: figures per agent and team, as JSON and as CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.deps import ContainerDep, SupervisorRole
from api.reports import report_csv, service_report
from api.schemas import JSON_ERROR_RESPONSES, Moment, ServiceReportOut
from assist.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["supervisor"])
DEFAULT_PERIOD = timedelta(days=7)
FromQuery = Query(None, alias="from", description="start of the period (ISO-8601; default: 7 days before `to`)")
ToQuery = Query(None, alias="to", description="end of the period, excluded (ISO-8601; default: now)")


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = _utc(end) if end else datetime.now(UTC)
    start = _utc(start) if start else end - DEFAULT_PERIOD
    if start >= end:
        raise InvalidInput("from must be before to", field="from")
    return start, end


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/reports/service", response_model=ServiceReportOut, response_model_by_alias=True)
def service(
    container: ContainerDep,
    _: SupervisorRole,
    start: Moment | None = FromQuery,
    end: Moment | None = ToQuery,
) -> ServiceReportOut:
    """Assists and suggestions accepted, edited and dismissed; tone issues per 100 sent messages by kind; flags
    raised, confirmed and dismissed; follow-ups on time, late and missed; escalations suggested and taken; response
    times; satisfaction surveys; per agent, per team and for everyone."""
    start, end = _period(start, end)
    with container.db.session() as s:
        return ServiceReportOut.model_validate(service_report(s, start=start, end=end))


class CsvResponse(PlainTextResponse):
    media_type = "text/csv"


@router.get(
    "/reports/service.csv",
    response_class=CsvResponse,
    responses={**JSON_ERROR_RESPONSES, 200: {"description": "one row per agent, team and for everyone"}},
)
def service_csv(
    container: ContainerDep,
    _: SupervisorRole,
    start: Moment | None = FromQuery,
    end: Moment | None = ToQuery,
) -> CsvResponse:
    """The same figures as CSV."""
    start, end = _period(start, end)
    with container.db.session() as s:
        report = service_report(s, start=start, end=end)
    name = f"tactful-service-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    return CsvResponse(report_csv(report), headers={"Content-Disposition": f'attachment; filename="{name}"'})
