"""The web console: its built single page (console/ → coordinator/console_dist, checked in) served at `/` and
`/assets/…`. The page is a client of the /v1 API like the CLI; nothing here reads the database. `mount` also adds
the one read made for the console's first draw, GET /v1/jobs/{id}/overview (routes/job_overview.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from coordinator.routes import job_overview

DIST = Path(__file__).resolve().parents[1] / "console_dist"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    # no-cache: a rebuilt console (new asset names) shows on the next load.
    return FileResponse(DIST / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


class _Assets(StaticFiles):
    """The build's files: their names carry a hash of their content, so a browser may keep them for good (a rebuilt
    console has new names, which the no-cache index.html points to). A person's second visit fetches none."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def mount(app: FastAPI) -> None:
    """`/` and `/assets` only: every other path stays the API's (its 404s keep the JSON error shape)."""
    app.include_router(job_overview.router)
    app.include_router(router)
    app.mount("/assets", _Assets(directory=DIST / "assets", check_dir=False), name="console-assets")
