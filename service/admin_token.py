"""`python -m service.admin_token ROOM`: a server-to-server token for one room (roomAdmin), or
with `--list` one that may list rooms (roomList), signed with LIVEKIT_API_KEY / LIVEKIT_API_SECRET
(the dev server's `devkey` / `secret` when unset). For operators and the README's first session;
a real backend mints these itself, per request, with a short lifetime."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from datetime import timedelta

import jwt
from livekit import api


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.admin_token", description=__doc__)
    parser.add_argument("room", nargs="?", help="the room to administer")
    parser.add_argument("--list", action="store_true", help="a token that may list rooms")
    parser.add_argument("--ttl", type=int, default=600, help="lifetime in seconds (default 600)")
    args = parser.parse_args(argv)
    if not args.room and not args.list:
        parser.error("give a ROOM, or --list")
    warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
    key = os.environ.get("LIVEKIT_API_KEY", "devkey")
    secret = os.environ.get("LIVEKIT_API_SECRET", "secret")
    grants = api.VideoGrants(room_admin=bool(args.room), room=args.room or "", room_list=args.list or None)
    token = api.AccessToken(key, secret).with_identity("operator").with_grants(grants)
    print(token.with_ttl(timedelta(seconds=args.ttl)).to_jwt())
    return 0


if __name__ == "__main__":
    sys.exit(main())
