"""CSV downloads from the pages: column heads in the reader's language and times in the
workspace's zone (the API's exports keep their codes and ISO 8601 times)."""

from __future__ import annotations

from collections.abc import Sequence

from cxloop.core.i18n import has_message
from cxloop.web.session import WebContext

COLUMN = "csv_column."


def column_names(page: WebContext, header: Sequence[str]) -> list[str]:
    """Each column's name for the reader ("nps_ci_low", a score's column, reads "NPS 95%
    신뢰구간 하한"); a column without a name keeps its code."""
    names = []
    for column in header:
        first, _, rest = column.partition("_")
        if has_message(COLUMN + column):
            names.append(page.t(COLUMN + column))
        elif rest and has_message(COLUMN + first) and has_message(COLUMN + rest):
            names.append(f"{page.t(COLUMN + first)} {page.t(COLUMN + rest)}")
        else:
            names.append(column)
    return names
