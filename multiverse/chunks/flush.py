"""Moving inline packs into pack blobs: a save writes its few new chunks inline, in its own metadata transaction
(one durable write per save, multiverse/chunks/store.py); the flusher gathers them, oldest first, into pack blobs of
up to FLUSH_TARGET bytes, so the blob store holds few big objects (what S3 is fast at: 64 saves of 8 frames are one
PUT of 9 MiB, not 64 of 147 KiB) and the metadata does not keep chunk bytes for long.

``Flusher.start()`` runs it in a thread: every ``every_s`` it moves what is there once the inline packs hold
``min_bytes`` or the oldest is ``min_age_s`` old. Any number of processes may run one over the same metadata.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

from multiverse.chunks.store import SALT, ChunkStore, Piece
from multiverse.metadata.models import chunk_packs, chunks

FLUSH_TARGET = 32 << 20
log = logging.getLogger("multiverse.chunks")


class _Raced(Exception):
    """Another flusher or a collection changed the inline packs being moved: roll back."""


class Flusher:
    def __init__(self, chunks: ChunkStore, *, every_s: float = 2.0, min_bytes: int = 8 << 20,
                 min_age_s: float = 60.0) -> None:
        self.chunks, self.every_s, self.min_bytes, self.min_age_s = chunks, every_s, min_bytes, min_age_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Flusher:
        self._thread = threading.Thread(target=self._run, name="chunk-flusher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.flush(min_bytes=self.min_bytes, min_age_s=self.min_age_s)
            except Exception:  # the blob store or the database is down: inline packs wait, nothing is lost
                log.warning("chunks: moving inline packs into pack blobs failed; retrying", exc_info=True)

    def flush(self, *, target: int = FLUSH_TARGET, min_bytes: int = 0, min_age_s: float = 0.0) -> int:
        """Move inline packs, oldest first, into pack blobs of up to ``target`` bytes, copying only the chunks still
        recorded (dead ones are dropped on the way); returns the inline bytes moved. Nothing moves unless the
        inline packs hold at least ``min_bytes`` or the oldest is ``min_age_s`` old.

        Safe beside saves (each inline pack is one save's, never written again), readers (a read that finds a pack
        gone locates its chunks again), the collector (a claimed pack is left to it) and another flusher: the
        transaction that records the pack blob and repoints the chunk rows deletes exactly the inline packs it read,
        or rolls back and the pack blob it put is deleted."""
        moved = 0
        while True:
            with self.chunks.meta.transaction() as conn:
                rows = conn.execute(sa.select(chunk_packs.c.digest, chunk_packs.c.size, chunk_packs.c.created_at)
                                    .where(chunk_packs.c.data.is_not(None), chunk_packs.c.created_at >= 0)
                                    .order_by(chunk_packs.c.created_at)).all()
            if not rows or (sum(r[1] for r in rows) < min_bytes and self.chunks.clock() - rows[0][2] < min_age_s):
                return moved
            pick, total = [], 0
            for digest, size, _ in rows:
                if pick and total + size > target:
                    break
                pick.append(digest)
                total += size
            if not self._move(pick):
                return moved  # raced by another flusher or a collection: leave the rest to the next round
            moved += total
            min_bytes, min_age_s = 0, 0.0  # once started, the backlog goes out in whole blobs
            if len(pick) == len(rows):
                return moved

    def _move(self, pick: list[str]) -> bool:
        """Copy the recorded chunks of inline packs ``pick`` into one pack blob and repoint them (see flush_inline)."""
        with self.chunks.meta.transaction() as conn:
            data = {d: bytes(x) for d, x in conn.execute(sa.select(chunk_packs.c.digest, chunk_packs.c.data)
                                                          .where(chunk_packs.c.digest.in_(pick),
                                                                 chunk_packs.c.data.is_not(None)))}
            live = conn.execute(sa.select(chunks.c.address, chunks.c.pack, chunks.c.pack_offset, chunks.c.length)
                                .where(chunks.c.pack.in_(pick))
                                .order_by(chunks.c.pack, chunks.c.pack_offset)).all()
        if len(data) != len(pick):
            return False
        pieces, moves, at = [], [], 0
        for a, p, offset, n in live:
            pieces.append(memoryview(data[p])[offset : offset + n])
            moves.append({"a": a, "p": p, "offset": at})
            at += n
        blob = ""
        if pieces:
            rows = [{"address": m["a"], "pack_offset": m["offset"], "length": len(v), "checked": ""}
                    for m, v in zip(moves, pieces)]
            blob, rows = self.chunks.put_pack([(m["a"], Piece(v)) for m, v in zip(moves, pieces)], rows, at)
            for m, r in zip(moves, rows):
                m["offset"] = r["pack_offset"]  # past the pack's salt
        try:
            with self.chunks.meta.transaction(write=True) as conn:
                if moves:
                    conn.execute(chunk_packs.insert().values(digest=blob, size=at + SALT,
                                                             created_at=self.chunks.clock()))
                    conn.execute(chunks.update().where(chunks.c.address == sa.bindparam("a"),
                                                       chunks.c.pack == sa.bindparam("p"))
                                 .values(pack=blob, pack_offset=sa.bindparam("offset")), moves)
                left = conn.execute(sa.select(sa.func.count()).where(chunks.c.pack.in_(pick))).scalar_one()
                gone = conn.execute(chunk_packs.delete().where(chunk_packs.c.digest.in_(pick),
                                                               chunk_packs.c.data.is_not(None),
                                                               chunk_packs.c.created_at >= 0)).rowcount
                if left or gone != len(pick):
                    raise _Raced
        except BaseException as exc:
            if blob:
                self.chunks.abandon_pack(blob)  # rolled back: the pack blob put for it goes
            if isinstance(exc, _Raced):
                return False
            raise
        if blob:
            self.chunks.settled(blob)
        return True
