"""The dashboard as an ASGI app (Starlette): pages, live updates, pause/resume of a wave,
one-time links. Served by uvicorn (`mailferry serve`).

Every page and every live tick reads the state store again through report's data layer
(`read_overview`, store queries): the web process keeps no migration state, so several
syncs, and later workers on other machines sharing the store, all show up. What it keeps
is configuration: the project file (read at start) and users.csv (read again when it
changes on disk).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import anyio
from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from mailferry.project import ProjectSettings, load, load_users
from mailferry.report import (
    STYLESHEET,
    Overview,
    Roster,
    local,
    read_overview,
    render_charts,
    render_failures,
    render_panels,
    render_summary,
    render_timeline,
    render_user_head,
    render_user_rows,
    render_waves,
    roster_of,
)
from mailferry.store import (
    STATUSES,
    ProjectState,
    UserFilter,
    UserPage,
    choices,
    failed_users,
    user_page,
)
from mailferry.web.auth import Access, TokenGate, same_origin
from mailferry.web.onetime import OneTimeSecrets

HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
MAX_FORM = 4096  # bytes: the only forms are a wave name and a CSRF value
STATIC = {"dashboard.js": "application/javascript"}
STOP_POLL = 0.2  # seconds: how soon a live stream notices the server stopping


@dataclass(frozen=True)
class DashboardConfig:
    migration_file: Path
    token: str
    secure: bool = False  # served over TLS: the cookie gets Secure
    tick: float = 2.0  # seconds between live updates
    page_size: int = 50
    # set when the server is asked to stop: live streams end, so that Ctrl-C with a browser
    # open stops at once instead of waiting out the graceful timeout and cancelling them
    stopping: threading.Event = field(default_factory=threading.Event, compare=False)


class ProjectFiles:
    """The project's configuration: migration.toml as read at start, users.csv re-read
    when it changes (a pilot drawn, a wave reassigned)."""

    def __init__(self, migration_file: Path) -> None:
        self.settings: ProjectSettings = load(migration_file).sync
        self._seen: tuple[int, int] | None = None
        self._roster = roster_of([])

    def roster(self) -> Roster:
        """users.csv as the store keeps it, read again when the file changed."""
        stat = self.settings.users_file.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        if key != self._seen:
            self._roster, self._seen = roster_of(load_users(self.settings.users_file)), key
        return self._roster


def _filter(params: dict[str, str], size: int) -> UserFilter:
    def pick(name: str) -> str | None:  # absent or "*": any; "" is a value (no wave)
        value = params.get(name)
        return None if value is None or value == "*" else value

    status = pick("status")
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    return UserFilter(search=params.get("search", "")[:100], wave=pick("wave"),
                      department=pick("department"),
                      status=status if status in STATUSES else None,
                      offset=(page - 1) * size, limit=size)


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


class Dashboard:
    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self.files = ProjectFiles(config.migration_file)
        self.state = ProjectState.open(self.files.settings.state_location())
        self.access = Access(config.token)
        self.links = OneTimeSecrets(self.state)
        self.env = Environment(loader=PackageLoader("mailferry.web", "templates"),
                               autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["when"] = lambda moment, zone: local(moment, zone)
        self.static = {name: resources.files("mailferry.web").joinpath(f"static/{name}")
                       .read_bytes() for name in STATIC}

    # -- data, read again on every call ----------------------------------------------------

    def overview(self) -> Overview:
        return read_overview(self.files.settings, self.files.roster(), self.state)

    def users_block(self, flt: UserFilter, now: float) -> Markup:
        with self.state.snapshot() as conn:
            page: UserPage = user_page(conn, flt)
        zone = self.files.settings.timezone
        return Markup(self.env.get_template("users.html.j2").render(
            page=page, head=render_user_head(), rows=render_user_rows(page.rows, zone, now),
            pages=self._pager(flt, page.total)))

    def _pager(self, flt: UserFilter, total: int) -> dict[str, Any]:
        size = self.config.page_size
        number = flt.offset // size + 1
        last = max(1, -(-total // size))
        base = {k: v for k, v in (("wave", flt.wave), ("department", flt.department),
                                  ("status", flt.status)) if v is not None}
        if flt.search:
            base["search"] = flt.search

        def link(n: int) -> str:
            return "?" + urlencode({**base, "page": n}) + "#users"

        return {"number": number, "last": last, "first_row": min(flt.offset + 1, total),
                "last_row": min(flt.offset + size, total),
                "prev": link(number - 1) if number > 1 else None,
                "next": link(number + 1) if number < last else None}

    def fragments(self, flt: UserFilter) -> dict[str, str]:
        """Everything the live view swaps in, by element id (without 'live-')."""
        now = time.time()
        o = self.overview()
        parts = {"summary": render_summary(o, failures_href="failures"),
                 "waves": render_waves(o, csrf=self.access.csrf), "charts": render_charts(o),
                 "timeline": render_timeline(o), "users": self.users_block(flt, now)}
        for key, (_title, body) in render_panels(o).items():
            parts[f"panel-{key}"] = body
        return {key: str(value) for key, value in parts.items()}

    # -- routes ------------------------------------------------------------------------------

    def page(self, request: Request) -> Response:
        flt = _filter(dict(request.query_params), self.config.page_size)
        now = time.time()
        o = self.overview()
        with self.state.snapshot() as conn:
            waves, departments = choices(conn)
        return _html(self.env.get_template("dashboard.html.j2").render(
            o=o, summary=render_summary(o, failures_href="failures"),
            waves=render_waves(o, csrf=self.access.csrf), charts=render_charts(o),
            timeline=render_timeline(o), panels=render_panels(o),
            users=self.users_block(flt, now), flt=flt, wave_names=waves,
            departments=departments, statuses=STATUSES,
            events="events?" + request.url.query if request.url.query else "events"))

    def failures(self, request: Request) -> Response:
        with self.state.snapshot() as conn:
            users, total = failed_users(conn)
        zone = self.files.settings.timezone
        return _html(self.env.get_template("failures.html.j2").render(
            project=self.files.settings.name, body=render_failures(users, total, zone),
            total=total))

    async def events(self, request: Request) -> Response:
        flt = _filter(dict(request.query_params), self.config.page_size)

        async def stream() -> AsyncIterator[str]:
            sent: dict[str, str] = {}
            stopping = self.config.stopping
            while not stopping.is_set():
                parts = await anyio.to_thread.run_sync(self.fragments, flt)
                changed = {k: v for k, v in parts.items() if sent.get(k) != v}
                sent.update(changed)
                yield (f"event: update\ndata: {json.dumps(changed)}\n\n" if changed
                       else ": nothing new\n\n")
                wake = time.monotonic() + self.config.tick
                while not stopping.is_set() and time.monotonic() < wake:
                    await anyio.sleep(min(STOP_POLL, self.config.tick))

        headers = {**HEADERS, "x-accel-buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def wave_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ("pause", "resume"):
            return Response("not found\n", status_code=404, headers=HEADERS)
        paused = action == "pause"
        body = await request.body()
        if len(body) > MAX_FORM or not same_origin(request.headers, self.config.secure):
            return Response("refused\n", status_code=403, headers=HEADERS)
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if not self.access.csrf_ok(form.get("csrf")):
            return Response("refused: stale form, reload the page\n", status_code=403,
                            headers=HEADERS)
        wave = form.get("wave", "")
        with self.state.snapshot() as conn:
            known = choices(conn)[0]
        if not wave or wave not in known:
            return Response("unknown wave\n", status_code=400, headers=HEADERS)
        client = request.client.host if request.client else "?"
        await anyio.to_thread.run_sync(
            lambda: self.state.set_wave_paused(wave, paused, f"dashboard {client}"))
        return RedirectResponse("../#waves", status_code=303, headers=HEADERS)

    def static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name == "mailferry.css":
            return Response(STYLESHEET, media_type="text/css",
                            headers={**HEADERS, "cache-control": "no-cache"})
        if name not in self.static:
            return Response("not found\n", status_code=404, headers=HEADERS)
        return Response(self.static[name], media_type=STATIC[name],
                        headers={**HEADERS, "cache-control": "no-cache"})

    def once_style(self, request: Request) -> Response:
        return Response(STYLESHEET, media_type="text/css",
                        headers={**HEADERS, "cache-control": "no-cache"})

    async def once(self, request: Request) -> Response:
        """A one-time link: GET says whom it is for, the POST of its button reveals it."""
        token = request.path_params["token"]
        template = self.env.get_template("once.html.j2")
        project = self.files.settings.name
        if request.method == "POST":
            revealed = await anyio.to_thread.run_sync(self.links.reveal, token)
            if revealed is None:
                return _html(template.render(project=project, gone=True), 404)
            return _html(template.render(project=project, user=revealed.user,
                                         secret=revealed.secret))
        holder = await anyio.to_thread.run_sync(self.links.holder, token)
        if holder is None:
            return _html(template.render(project=project, gone=True), 404)
        return _html(template.render(project=project, user=holder, ask=True))


def create_app(config: DashboardConfig) -> ASGIApp:
    """The whole app behind its token gate. Opens the project's state store."""
    board = Dashboard(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        board.state.close()

    app = Starlette(routes=[
        Route("/", board.page),
        Route("/failures", board.failures),
        Route("/events", board.events),
        Route("/waves/{action:str}", board.wave_action, methods=["POST"]),
        Route("/static/{name:str}", board.static_file),
        Route("/once/-/style.css", board.once_style),  # the one page open without the token
        Route("/once/{token:str}", board.once, methods=["GET", "POST"]),
    ], lifespan=lifespan)
    return TokenGate(app, board.access, secure=config.secure)
