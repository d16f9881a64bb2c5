"""coordinator.limits.BodyLimit: every body is limited, whatever its content type, streamed or declared."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from coordinator.limits import BodyLimit


class _Doc(BaseModel):
    text: str


def _app(limit: int = 1000, upload_limit: int = 10_000) -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    read: list[int] = []

    @app.post("/v1/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        read.append(len(body))
        return {"n": len(body)}

    @app.post("/v1/doc")
    def doc(body: _Doc) -> dict[str, int]:
        return {"n": len(body.text)}

    @app.post("/v1/datasets")
    async def upload(request: Request) -> dict[str, int]:
        n = 0
        async for chunk in request.stream():
            n += len(chunk)
        return {"n": n}

    app.add_middleware(BodyLimit, default_bytes=limit, by_path={"/v1/datasets": upload_limit})
    return app, read


def _chunks(total: int, size: int = 256):
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("ctype", ["text/plain", "application/octet-stream", "multipart/form-data; boundary=x",
                                   "application/x-www-form-urlencoded", "application/json", ""])
def test_declared_oversize_is_413_for_every_content_type(ctype):
    # The old guard only looked at content types containing "json": these read the whole body, then 422.
    app, read = _app()
    with TestClient(app) as c:
        r = c.post("/v1/echo", content=b"x" * 5000, headers={"content-type": ctype} if ctype else {})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert read == []  # the route never saw the body


def test_chunked_body_without_length_is_cut_off_at_the_limit():
    app, read = _app()
    with TestClient(app) as c:
        r = c.post("/v1/echo", content=_chunks(50_000), headers={"content-type": "text/plain"})
    assert r.status_code == 413 and read == []


def test_chunked_json_into_a_model_route_is_413_not_fastapis_400():
    app, _ = _app()
    body = b'{"text": "' + b"y" * 5000 + b'"}'
    with TestClient(app) as c:
        r = c.post("/v1/doc", content=iter([body[i:i + 100] for i in range(0, len(body), 100)]),
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["details"] == {"limit": 1000}


def test_within_limits_passes_and_uploads_get_their_own_limit():
    app, read = _app()
    with TestClient(app) as c:
        assert c.post("/v1/echo", content=b"x" * 1000, headers={"content-type": "text/plain"}).json() == {"n": 1000}
        assert c.post("/v1/doc", json={"text": "hi"}).json() == {"n": 2}
        assert c.post("/v1/datasets", content=_chunks(9000)).json() == {"n": 9000}
        assert c.post("/v1/datasets/", content=b"x" * 10_001).status_code == 413
        assert c.post("/v1/datasets", content=_chunks(20_000)).status_code == 413
    assert read == [1000]


def test_the_coordinator_limits_every_body(tmp_path):
    from coordinator.app import create_app
    from coordinator.settings import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path}/c.db", artifact_dir=str(tmp_path / "a"),
                        max_json_bytes=2048)
    app = create_app(settings, chain=object())  # type: ignore[arg-type]
    with TestClient(app) as c:
        r = c.post("/v1/auth/nonce", content=b"a" * 4096, headers={"content-type": "text/plain"})
    assert r.status_code == 413
