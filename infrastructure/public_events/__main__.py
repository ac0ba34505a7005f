"""``python -m infrastructure.public_events [DOCS_DIR]``: regenerate the event docs."""

from __future__ import annotations

import sys
from pathlib import Path

from infrastructure.public_events.docs import write

if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs")
    for path in write(target):
        print(path)
