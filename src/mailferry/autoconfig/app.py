"""The well-known URLs as an ASGI app (Starlette), served by uvicorn."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mailferry.autoconfig.formats import MAX_REQUEST, parse_autodiscover_request
from mailferry.autoconfig.site import AUTODISCOVER_PATHS, MOBILECONFIG_TYPE, MOZILLA_PATHS, Site
from mailferry.errors import ConfigError

XML = "application/xml; charset=utf-8"


def build_app(site: Site) -> Starlette:
    async def mozilla(request: Request) -> Response:
        return Response(site.mozilla(request.query_params.get("emailaddress")), media_type=XML)

    async def autodiscover(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST:
                return PlainTextResponse("request too large", status_code=413)
        try:
            address = parse_autodiscover_request(body)
        except ValueError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        answer = site.autodiscover(address)
        if answer is None:
            return PlainTextResponse("unknown address", status_code=404)
        return Response(answer, media_type=XML)

    async def profile(request: Request) -> Response:
        address = request.path_params["address"].removesuffix(".mobileconfig")
        data = site.profile(address)
        if data is None:
            return PlainTextResponse("unknown address", status_code=404)
        name = address.replace('"', "")
        return Response(data, media_type=MOBILECONFIG_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{name}.mobileconfig"'})

    routes = [Route(p, mozilla, methods=["GET"]) for p in MOZILLA_PATHS]
    routes += [Route(p, autodiscover, methods=["POST"]) for p in AUTODISCOVER_PATHS]
    routes.append(Route("/mobileconfig/{address}", profile, methods=["GET"]))
    return Starlette(routes=routes)


def serve(site: Site, *, host: str = "127.0.0.1", port: int = 8080,
          certfile: Path | None = None, keyfile: Path | None = None) -> None:
    """Serve until interrupted. HTTPS with `certfile`/`keyfile` (clients require it for
    Autodiscover and profiles outside a test bed)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"{host!r}: bind to an IP address", where="--host") from None
    if (certfile is None) != (keyfile is None):
        raise ConfigError("give both --certfile and --keyfile", where="--certfile")
    config = uvicorn.Config(build_app(site), host=host, port=port, log_level="warning",
                            ssl_certfile=str(certfile) if certfile else None,
                            ssl_keyfile=str(keyfile) if keyfile else None,
                            server_header=False, proxy_headers=False)
    uvicorn.Server(config).run()
