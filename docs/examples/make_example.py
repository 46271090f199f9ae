"""Write docs/examples/state-example.safetensors byte for byte as docs/state-format.md specifies, with nothing
but the standard library (struct and json), as a game server in another language would: no Multiverse code.

    python docs/examples/make_example.py [OUT]

The latent space it belongs to (see the spec's worked example): name "example", dtype float16, frame shape
[2, 3], player_dim 4. The file holds 2 frames and 1 player.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

OUT = Path(__file__).with_name("state-example.safetensors")


def canonical(value: object) -> str:
    """Canonical JSON: sorted keys, no spaces, non-ASCII escaped as \\uXXXX (Python's json defaults otherwise)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def build() -> bytes:
    # frames: 2 frames of shape [2, 3], float16 (safetensors code F16), little-endian, row-major
    frames = struct.pack("<12e", 0.0, 0.5, 1.0, -1.0, 2.0, -0.25,
                         1.5, 0.0, -2.0, 0.125, 3.0, -0.5)
    # players: 1 player vector of player_dim 4, float32 (F32)
    players = struct.pack("<4f", 0.25, -1.0, 0.5, 2.0)
    people = [{
        "uuid": "069a79f4-44e9-4726-a5be-fca90e38aaf5",
        "name": "steve",
        "wallet": "0x00000000000000000000000000000000000000a1",
        "stats": {"Health": 20.0, "foodLevel": 18, "XpLevel": 5, "Pos": [12.5, 64.0, -3.0],
                  "Rotation": [90.0, 0.0], "Dimension": "minecraft:overworld",
                  "Inventory": [{"Slot": 0, "id": "minecraft:diamond_pickaxe", "count": 1}]},
    }]
    timeline = [{"frame": 0, "text": "dawn over the river"}, {"frame": 1, "text": "a storm rolls in"}]
    header = {
        "__metadata__": {
            "format": "multiverse.state/1",
            "space": "example",
            "players": canonical(people),
            "timeline": canonical(timeline),
        },
        "frames": {"dtype": "F16", "shape": [2, 2, 3], "data_offsets": [0, len(frames)]},
        "players": {"dtype": "F32", "shape": [1, 4], "data_offsets": [len(frames), len(frames) + len(players)]},
    }
    text = canonical(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad with spaces to a multiple of 8 bytes
    return struct.pack("<Q", len(text)) + text + frames + players


def hexdump(data: bytes) -> str:
    """``data`` as the spec prints it: offset, 16 bytes in hex, and their ASCII (``.`` for the rest)."""
    lines = []
    for at in range(0, len(data), 16):
        row = data[at : at + 16]
        hexes = " ".join(row[i : i + 2].hex() for i in range(0, len(row), 2))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{at:08x}: {hexes:<39}  {text}")
    return "\n".join(lines)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.write_bytes(build())
    print(f"wrote {out} ({out.stat().st_size} bytes)")
