"""Opaque keyset cursors for list endpoints (newest first, by id)."""

from __future__ import annotations

import base64

from coordinator.errors import Unprocessable


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("id:"):
            raise ValueError(raw)
        value = int(raw[3:])
        if value < 0 or value > 2**62:
            raise ValueError(raw)
        return value
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unprocessable(
            "cursor is not one this API returned",
            details=[{"field": "query.cursor", "message": "invalid cursor"}],
        ) from exc
