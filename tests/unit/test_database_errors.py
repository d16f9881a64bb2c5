"""Which database errors are an outage (503, retry) and which are a bug (500): coordinator.errors."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from coordinator.errors import database_unavailable, install_error_handlers


def _op(orig: BaseException, invalidated: bool = False) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize("exc,away", [
    (_op(psycopg.OperationalError("connection failed: Connection refused")), True),
    (_op(psycopg.OperationalError("server closed the connection unexpectedly")), True),
    (_op(sqlite3.OperationalError("database is locked")), True),
    (_op(sqlite3.OperationalError("whatever"), invalidated=True), True),
    # A schema that lags the code (seen in a soak run: code changed under a live database) is a bug, not an
    # outage: 503 would have clients retry forever.
    (_op(sqlite3.OperationalError("no such column: jobs.step_bytes")), False),
    (_op(sqlite3.OperationalError("no such table: jobs")), False),
])
def test_outage_or_bug(exc, away):
    assert database_unavailable(exc) is away


def test_handlers_answer_503_for_an_outage_and_500_for_a_bug():
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/away")
    def away() -> None:
        raise _op(psycopg.OperationalError("connection refused"))

    @app.get("/bug")
    def bug() -> None:
        raise _op(sqlite3.OperationalError("no such column: x"))

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/away")
        assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"
        assert r.headers["Retry-After"]
        r = c.get("/bug")
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
