"""A separate process for the multi-process tests: opens the store (migrating it if nobody has yet), registers
the space and world (idempotent), then saves on ``w@main`` in a read-head / save / retry loop.

    python -m tests.metadata.race_worker URL WRITER SAVES BARRIER_DIR   -> prints the acknowledged ids (JSON)

All workers start together: each touches ``BARRIER_DIR/ready-WRITER`` once imported and waits for
``BARRIER_DIR/go``, which the test creates when every worker is ready.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from multiverse.errors import HeadMoved
from multiverse.metadata import open_metadata
from tests.metadata.factory import SPACE, snap, world


def main(url: str, writer: int, saves: int, barrier: Path) -> list[str]:
    (barrier / f"ready-{writer}").touch()
    deadline = time.monotonic() + 30
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal within 30 s")
        time.sleep(0.005)
    acknowledged = []
    with open_metadata(url) as meta:
        meta.put_space(SPACE)
        meta.create_world(world("w"))
        for i in range(saves):
            while True:
                head = meta.get_head("w", "main")
                parents = [meta.get_snapshot(head)] if head else []
                record = snap(parents=parents, t=float(i), writer=writer, process=True)
                try:
                    meta.commit_snapshot(record, head="main", expected=head)
                except HeadMoved:
                    continue
                acknowledged.append(record.id)
                break
    return acknowledged


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))))
