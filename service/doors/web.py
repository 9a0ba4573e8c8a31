"""The web app on the HTTP port: the landing page at `/`, the host studio at `/studio/<room>`, the
watch page at `/watch/<room>` and their built assets under `/assets/`.

The pages are built by `make web` (Vite) into build/web, which is never committed. A service
started without them still runs every door; the pages then answer 503 with a message saying how
to build them, rather than a 404 that would look like a wrong address."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

# Where `make web` puts the built app, next to the service in a checkout.
WEB_DIR = Path(__file__).resolve().parents[2] / "build" / "web"

# Each page's path prefix and the HTML file Vite builds for it; the room is the rest of the path.
_ROOM_PAGES = {"/studio/": "studio.html", "/watch/": "watch.html"}
_ASSETS = "/assets/"

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Showrunner</title>
<h1>The web app is not built</h1>
<p>Run <code>make web</code> (<code>make dev</code> does it for you) and reload this page.
The service's APIs work without it.</p>
"""


def is_web_path(path: str) -> bool:
    """True for the paths the web app answers; everything else stays with the other doors."""
    if path == "/" or path.startswith(_ASSETS):
        return True
    return _page_for(path) is not None


def _page_for(path: str) -> str | None:
    if path == "/":
        return "index.html"
    for prefix, page in _ROOM_PAGES.items():
        room = path.removeprefix(prefix)
        # One non-empty segment: the room. Its name is checked by the service when the page calls.
        if room != path and room and "/" not in room:
            return page
    return None


def web_app(folder: Path = WEB_DIR) -> ASGIApp:
    """Serves the pages and assets from `folder`, looked up on each request so that a build made
    while the service runs is picked up."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        path: str = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            response = JSONResponse({"error": "Method not allowed"}, status_code=405, headers={"allow": "GET, HEAD"})
        elif not (folder / "index.html").is_file():
            response = HTMLResponse(_NOT_BUILT, status_code=503)
        elif path.startswith(_ASSETS):
            response = _asset(folder / "assets", path.removeprefix(_ASSETS))
        else:
            page = _page_for(path)
            assert page is not None  # is_web_path said so
            # Pages are small and name the current assets: always revalidated.
            response = FileResponse(folder / page, headers={"cache-control": "no-cache"})
        await response(scope, receive, send)

    return app


def _asset(assets: Path, name: str) -> Response:
    # Vite writes its assets flat into one folder: a name with a separator or a leading dot is
    # never one of them, which also keeps every lookup inside that folder.
    file = assets / name
    if not name or "/" in name or "\\" in name or name.startswith(".") or not file.is_file():
        return JSONResponse({"error": "Not found"}, status_code=404)
    # Asset names carry a content hash, so browsers may keep them for good.
    return FileResponse(file, headers={"cache-control": "public, max-age=31536000, immutable"})
