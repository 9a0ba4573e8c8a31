"""`python -m service`: run Showrunner with settings from the environment."""

from __future__ import annotations

import asyncio
import sys

from service.app import serve
from service.config import ConfigError, Settings
from service.observability import logs


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"showrunner: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
