"""coordinator.etags: a polled JSON read answers 304 while unchanged; files, errors and writes pass untouched."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient

from coordinator.etags import ETagMiddleware, etag_of, matches


def _app() -> tuple[FastAPI, dict[str, int]]:
    app = FastAPI()
    state = {"n": 1}

    @app.get("/v1/thing")
    def thing() -> dict[str, int]:
        return {"n": state["n"]}

    @app.get("/v1/file")
    def file() -> Response:
        return Response(b"\x00bytes", media_type="application/octet-stream")

    @app.get("/v1/missing")
    def missing() -> JSONResponse:
        return JSONResponse({"error": {"code": "not_found"}}, status_code=404)

    @app.post("/v1/thing")
    def bump() -> dict[str, int]:
        state["n"] += 1
        return {"n": state["n"]}

    @app.get("/outside")
    def outside() -> dict[str, int]:
        return {"n": 0}

    app.add_middleware(ETagMiddleware)
    return app, state


def test_unchanged_read_is_304_without_a_body_and_a_change_gives_a_new_tag() -> None:
    app, _ = _app()
    with TestClient(app) as c:
        r = c.get("/v1/thing")
        tag = r.headers["etag"]
        assert r.status_code == 200 and r.json() == {"n": 1} and tag == etag_of(r.content).decode()
        assert r.headers["cache-control"] == "no-cache"
        again = c.get("/v1/thing", headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
        c.post("/v1/thing")
        changed = c.get("/v1/thing", headers={"If-None-Match": tag})
        assert changed.status_code == 200 and changed.json() == {"n": 2} and changed.headers["etag"] != tag


def test_files_errors_writes_and_other_paths_are_untouched() -> None:
    app, _ = _app()
    with TestClient(app) as c:
        f = c.get("/v1/file", headers={"If-None-Match": "*"})
        assert f.status_code == 200 and f.content == b"\x00bytes" and "etag" not in f.headers
        e = c.get("/v1/missing", headers={"If-None-Match": "*"})
        assert e.status_code == 404 and "etag" not in e.headers
        assert "etag" not in c.post("/v1/thing").headers
        assert "etag" not in c.get("/outside").headers


def test_if_none_match_lists_and_weak_tags() -> None:
    tag = b'"abc"'
    assert matches(b'"x", W/"abc"', tag)
    assert matches(b"*", tag)
    assert not matches(b'"abcd", "ab"', tag)
