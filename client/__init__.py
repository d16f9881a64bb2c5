"""Python client of the coordinator's REST API (docs/API.md), used by workers, verifiers and the CLI."""

from client.api import ApiError, CoordinatorClient

__all__ = ["ApiError", "CoordinatorClient"]
