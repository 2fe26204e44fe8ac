"""Status and reports of a migration project: data (`build_report`), then JSON or HTML made
of `SECTIONS` (other steps, such as verification, append their own)."""

from mailferry.report.model import ProjectReport, UserStatus, WaveStatus, build_report
from mailferry.report.monitoring import attach_monitoring
from mailferry.report.render import report_html, report_json
from mailferry.report.sections import SECTIONS, Section

__all__ = ["SECTIONS", "ProjectReport", "Section", "UserStatus", "WaveStatus",
           "attach_monitoring", "build_report", "report_html", "report_json"]
