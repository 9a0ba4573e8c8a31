"""The web app on the HTTP port: which paths are pages, how they are cached, and what a service
whose pages were never built says. The pages' behaviour is tested in a real browser
(test_browser_show.py)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from service.doors.web import WEB_DIR, web_app
from tests.conftest import ServiceProcess


async def test_the_landing_studio_and_watch_pages_are_served(service: ServiceProcess) -> None:
    assert (WEB_DIR / "index.html").is_file(), "the web app is not built: run `make web`"
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        landing = await http.get("/")
        studio = await http.get("/studio/my-show")
        watch = await http.get("/watch/my-show")
        for page, title in ((landing, "Showrunner"), (studio, "Studio · Showrunner"), (watch, "Watch · Showrunner")):
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-cache"
            assert f"<title>{title}</title>" in page.text
            assert page.headers["x-request-id"]
        script = re.search(r'src="(/assets/watch-[^"]+\.js)"', watch.text)
        assert script, watch.text
        asset = await http.get(script.group(1))
        assert asset.status_code == 200
        assert "javascript" in asset.headers["content-type"]
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_other_paths_stay_with_the_other_doors(service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        for path in ("/studio/", "/watch/", "/studio/a/b", "/stage"):
            missing = await http.get(path)
            assert (missing.status_code, missing.json()) == (404, {"error": "Not found"}), path
        assert (await http.get("/assets/no-such-file.js")).status_code == 404
        assert (await http.post("/", content=b"{}")).status_code == 405
        assert (await http.get("/health")).status_code == 200


async def test_a_service_without_built_pages_says_how_to_build_them(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=web_app(tmp_path / "never-built"))
    async with httpx.AsyncClient(transport=transport, base_url="http://showrunner") as http:
        for path in ("/", "/studio/my-show", "/assets/studio.js"):
            page = await http.get(path)
            assert page.status_code == 503, path
            assert "The web app is not built" in page.text
            assert "make web" in page.text
