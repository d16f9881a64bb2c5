"""The web console: its built single page (console/ → coordinator/console_dist, checked in) served at `/` and
`/assets/…`. The page is a client of the /v1 API like the CLI; nothing here reads the database. `mount` also adds
the one read made for the console's first draw, GET /v1/jobs/{id}/overview (routes/job_overview.py)."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from coordinator.errors import NotFound
from coordinator.routes import job_overview

DIST = Path(__file__).resolve().parents[1] / "console_dist"

router = APIRouter(include_in_schema=False)


ASSET_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")  # the build's file names: no folders, no dot files
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class _File:
    body: bytes
    gzipped: bytes | None  # text files: compressed once, sent to browsers that accept gzip
    media_type: str
    etag: str
    mtime_ns: int


class _Files:
    """The build's few small files, from memory (and gzipped for browsers that take it: a third of the bytes): a
    cold page load asks for the page, its script, its style sheet (and on a job page the chart's chunk) all at
    once, and each read from disk would be a trip through the thread pool, beside the page's API reads. A file is
    read again only when it changed on disk (a rebuild while the coordinator runs)."""

    def __init__(self) -> None:
        self._files: dict[Path, _File] = {}

    def get(self, path: Path) -> _File | None:
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:  # missing, or not a file we may stat
            return None
        hit = self._files.get(path)
        if hit is None or hit.mtime_ns != mtime:
            if not path.is_file():
                return None
            body = path.read_bytes()
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            text = media.startswith("text/") or media.endswith("javascript")
            media += "; charset=utf-8" if text else ""
            gzipped = gzip.compress(body, compresslevel=9, mtime=0) if text and len(body) > 1024 else None
            hit = _File(body, gzipped, media, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', mtime)
            self._files[path] = hit
        return hit


_files = _Files()


def _serve(f: _File, cache_control: str, request: Request) -> Response:
    gz = f.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "").lower()
    tag = f.etag[:-1] + '-gz"' if gz else f.etag  # each encoding its own tag
    headers = {"Cache-Control": cache_control, "ETag": tag, "Vary": "Accept-Encoding"}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and tag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    if gz:
        return Response(content=f.gzipped, media_type=f.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(content=f.body, media_type=f.media_type, headers=headers)


@router.get("/")
async def index(request: Request) -> Response:
    f = _files.get(DIST / "index.html")
    if f is None:
        raise NotFound("the console is not built: cd console && npm run build")
    # no-cache: a rebuilt console (new asset names) shows on the next load.
    return _serve(f, "no-cache", request)


@router.get("/assets/{name}")
async def asset(name: str, request: Request) -> Response:
    """The build's files. Their names carry a hash of their content, so a browser may keep them for good (a
    rebuilt console has new names, which the no-cache index.html points to): a second visit fetches none."""
    f = _files.get(DIST / "assets" / name) if ASSET_NAME.fullmatch(name) else None
    if f is None:
        raise NotFound(f"no console asset {name}")
    return _serve(f, IMMUTABLE, request)


def mount(app: FastAPI) -> None:
    """`/` and `/assets` only: every other path stays the API's (its 404s keep the JSON error shape)."""
    app.include_router(job_overview.router)
    app.include_router(router)
