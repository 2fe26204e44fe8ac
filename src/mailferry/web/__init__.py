"""The dashboard (`mailferry serve`): an ASGI app over the project's state, sharing the
report's data layer and fragments; token access, live updates, one-time links.
Design notes: docs/dashboard.md."""

from mailferry.web.app import DashboardConfig, create_app
from mailferry.web.auth import new_token
from mailferry.web.onetime import OneTimeSecrets, Revealed

__all__ = ["DashboardConfig", "OneTimeSecrets", "Revealed", "create_app", "new_token"]
