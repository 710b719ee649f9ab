"""Entry point of the stream worker: imports every agent module, then runs Faust."""
from __future__ import annotations

import sys

from .app import app


def load_agents() -> None:
    """Each import registers its agents on ``app``."""
    from . import routing  # noqa: F401
    from .alerts import agents  # noqa: F401  (SLA clocks in streams.sla.agents, breach-spike alerts)


def main(argv: list[str] | None = None) -> None:
    load_agents()
    sys.argv = ["intake-worker", *(argv if argv is not None else ["worker", "-l", "info"])]
    app.main()
