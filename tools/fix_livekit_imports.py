"""Point generated code at the livekit-protocol package for LiveKit's own messages.

protoc names the module of `livekit_models.proto` `livekit_models_pb2`; the published
livekit-protocol package registers the same file under `livekit.protocol.models`. Rewriting the
import keeps one copy of LiveKit's descriptors in the process, the one livekit-api also uses.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

IMPORT = re.compile(r"^import livekit_(\w+)_pb2 as (\w+)$", re.MULTILINE)


def rewrite(text: str) -> str:
    return IMPORT.sub(r"from livekit.protocol import \1 as \2", text)


def main(root: str) -> None:
    for path in sorted(Path(root).rglob("*.py*")):
        text = path.read_text()
        fixed = rewrite(text)
        if fixed != text:
            path.write_text(fixed)


if __name__ == "__main__":
    main(sys.argv[1])
