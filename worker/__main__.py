"""`python -m worker --key-file KEY …`: the provider worker, for process managers (same as `agora worker start`)."""

from __future__ import annotations

import sys

from worker.command import start

if __name__ == "__main__":
    sys.exit(start.main(prog_name="python -m worker"))
