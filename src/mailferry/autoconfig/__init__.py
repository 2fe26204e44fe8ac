"""Mail clients that configure themselves: Mozilla autoconfig, Microsoft Autodiscover
(POX), Apple configuration profiles, written as files or served over HTTP(S)."""

from mailferry.autoconfig.app import build_app, serve
from mailferry.autoconfig.formats import (
    ClientSettings,
    autodiscover_response,
    mobileconfig,
    mozilla_config,
    parse_autodiscover_request,
)
from mailferry.autoconfig.site import Site

__all__ = [
    "ClientSettings", "Site", "autodiscover_response", "build_app", "mobileconfig",
    "mozilla_config", "parse_autodiscover_request", "serve",
]
