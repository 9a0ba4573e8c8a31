"""`python -m service`: run Showrunner with settings from the environment."""

from __future__ import annotations

import sys

from service import runtime
from service.app import StartupError, serve
from service.config import ConfigError, Settings
from service.observability import logs


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"showrunner: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        runtime.run(serve(settings), settings.event_loop)
    except StartupError as exc:
        print(f"showrunner: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
