"""Where a migration project stands, for people and scripts.

- `read_overview`: the one data layer behind `mailferry serve` and `report --html` (SQL
  aggregates over the state store: percent done, throughput, ETA, failures, runbook).
- `build_report` + `SECTIONS`: every user and folder (JSON for `status --json` and
  `report --json`; HTML sections after the overview). Other steps append a `Section`.
- `PANELS`: other packages add a part to the overview (relay queue; later the monitor).
- The render_* fragments: escaped HTML shared by the dashboard and the static page.
"""

from mailferry.report.formats import count, human_bytes, local, percent, percent_text, span
from mailferry.report.fragments import (
    STYLESHEET,
    render_charts,
    render_failures,
    render_panels,
    render_summary,
    render_timeline,
    render_user_head,
    render_user_rows,
    render_waves,
)
from mailferry.report.model import ProjectReport, UserStatus, WaveStatus, build_report
from mailferry.report.monitoring import attach_monitoring
from mailferry.report.overview import Overview, Roster, WaveProgress, read_overview, roster_of
from mailferry.report.panels import PANELS, Panel, PanelContext
from mailferry.report.render import report_html, report_json
from mailferry.report.sections import SECTIONS, Section
from mailferry.report.verify import render_page, render_pages

__all__ = [
    "PANELS", "SECTIONS", "STYLESHEET", "Overview", "Panel", "PanelContext", "ProjectReport",
    "Roster",
    "Section", "UserStatus", "WaveProgress", "WaveStatus", "attach_monitoring", "build_report",
    "count", "human_bytes", "local", "percent", "percent_text", "read_overview",
    "render_charts", "render_failures", "render_page", "render_pages", "render_panels",
    "render_summary", "render_timeline",
    "render_user_head", "render_user_rows", "render_waves", "report_html", "report_json",
    "roster_of", "span",
]
