"""The caps a state and one request obey, each with a clear error naming it where it is checked. Plain data:
``multiverse.config.Settings`` carries one, built at the edge."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Caps on what one request may carry. Every cap has a clear error naming it."""

    max_state_bytes: int = GiB  # one snapshot's state file
    # a state file's JSON header (tensor table and metadata: players, guidance texts), refused from its 8-byte
    # length before any of it is buffered or parsed: parsed JSON takes many times its size in memory
    max_header_bytes: int = 8 * MiB
    max_chunk_bytes: int = MiB  # one streamed chunk
    max_frames: int = 1 << 20
    max_players: int = 256  # a space may set a lower cap
    max_text_chars: int = 4096  # one guidance text
    max_timeline: int = 100_000  # guidance texts per snapshot
    max_player_json_bytes: int = 64 * 1024  # one player's record
    max_labels: int = 32
