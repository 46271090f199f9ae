"""The server under fuzz: `multiverse up --no-demo` as a subprocess on free ports (gRPC and the wallet JSON-RPC),
set up as a user would (admin key, a server key, two spaces, two worlds with saves, a wallet session), with one
call that sends any ``Case`` as raw bytes and classifies the answer, and a cheap fingerprint of the store."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from fuzz_case import JSONRPC, Case, Ctx, Outcome
from fuzz_states import FLOAT, TOKENS, WORLDS
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from multiverse.client import Client
from multiverse.state.synth import synth_state
from multiverse.v1 import store_pb2, store_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
WALLET_KEY = "0x" + "5e" * 32  # a development wallet for the Market's wallet-session methods
OPTIONS = [("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)]
DESERIALIZE = "Exception deserializing request"


class Target:
    """``Target(workdir).start()``; ``call(case)``; ``fingerprint()``; ``stop()``. ``ctx`` holds keys and ids.
    ``server_root``: the checkout whose code the server runs (its folder is first on the child's import path)."""

    def __init__(self, workdir: Path, *, timeout: float = 20.0, server_root: Path = ROOT) -> None:
        self.data, self.log_path, self.server_root = workdir / "data", workdir / "server.log", server_root
        self.timeout, self.ctx = timeout, Ctx()
        self.proc: subprocess.Popen | None = None
        self.address = self.rpc_url = ""
        self._log_pos = 0
        self._blob_kinds: dict[str, bool] = {}

    # the process ------------------------------------------------------------------------------------------
    def start(self, wait: float = 120.0) -> Target:
        """Start `multiverse up` and wait for its banner; raises RuntimeError with the log if it does not serve."""
        env = {**os.environ, "MULTIVERSE_CHAIN_RPC_LISTEN": "127.0.0.1:0", "PYTHONFAULTHANDLER": "1"}
        cmd = [sys.executable, "-m", "multiverse.cli", "--data", str(self.data), "--grpc", "127.0.0.1:0", "up", "--no-demo"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it from here
        start_pos = self.log_path.stat().st_size
        self.proc = subprocess.Popen(cmd, cwd=self.server_root, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline, text = time.monotonic() + wait, ""
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[start_pos:].decode(errors="replace")
            grpc_at = re.search(r"^gRPC\s+(\S+)", text, re.M)
            if grpc_at and "admin key" in text:
                self.address = grpc_at.group(1)
                rpc = re.search(r"JSON-RPC (http://\S+)", text)
                self.rpc_url = rpc.group(1) if rpc else ""
                self._log_pos = self.log_path.stat().st_size
                self._connect()
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"multiverse up did not serve within {wait:.0f} s:\n{text[-4000:]}")

    def _connect(self) -> None:
        """A channel on a connection of its own (a distinct channel argument keeps grpc from sharing one)."""
        self._connections = getattr(self, "_connections", 0) + 1
        if hasattr(self, "channel"):
            self.channel.close()
        self.channel = grpc.insecure_channel(self.address, options=[*OPTIONS, ("fuzz.connection", self._connections)])
        self.undecodable = 0  # requests on this connection that the server could not deserialize
        self.stub = store_pb2_grpc.StoreStub(self.channel)
        self.ctx.keys["admin"] = (self.data / "admin.key").read_text().strip()

    def reconnect(self) -> None:
        """Drop the connection (one the server stopped taking calls on) and open another."""
        self._connect()

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        if hasattr(self, "channel"):
            self.channel.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the server (if it runs) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def new_log(self) -> str:
        """The server's output since the last look."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_pos)
            text = f.read()
        self._log_pos += len(text)
        return text.decode(errors="replace")

    # set-up, as a user would --------------------------------------------------------------------------------
    def setup(self) -> None:
        """Two spaces (float and token ids), a server key owning a world in each, two saves per world, a wallet."""
        with Client(self.address, self.ctx.keys["admin"]) as admin:
            for s in (FLOAT, TOKENS):
                admin.register_space(s.name, s.frame_shape, s.dtype, s.player_dim, vocab_size=s.vocab_size)
            self.ctx.keys["server"] = admin.create_api_key("fuzzer").token
        with Client(self.address, self.ctx.keys["server"]) as server:
            for world, space in WORLDS.items():
                server.create_world(world, space.name)
                for seed in range(2):
                    snap = server.save_snapshot(world, synth_state(space, frames=3, players=2, seed=seed)).snapshot
                    self.ctx.snapshots.append(snap.id)
        self.sign_in()

    def sign_in(self) -> None:
        """A wallet session (EIP-4361 sign-in) for the Market's wallet methods; again after each restart."""
        with Client(self.address) as wallet:
            self.ctx.wallet_address = wallet.sign_in_with_key(WALLET_KEY)
            self.ctx.keys["wallet"] = dict(wallet._wallet_metadata)["authorization"].removeprefix("Bearer ")

    # one input ----------------------------------------------------------------------------------------------
    def call(self, case: Case, ctx_note: list[str]) -> Outcome:
        """Send ``case``; the outcome says its status, the field a refusal named, and whether the server died."""
        started = time.monotonic()
        if case.method == JSONRPC:
            out = self._http(case)
        else:
            messages, note = case.build(self.ctx)
            if note:
                ctx_note.append(note)
            case.files.setdefault("messages.hex", b"\n".join(m.hex().encode() for m in messages))
            out = self._grpc(case, messages)
        out.seconds = time.monotonic() - started
        if not self.alive():
            out.crashed, out.code = True, "CRASH"
        return out

    def _metadata(self, auth: str) -> tuple[tuple[str, str], ...]:
        if auth == "none":
            return ()
        token = "mvk_0000000000000000__bogus" if auth == "bogus" else self.ctx.keys[auth]
        return (("authorization", f"Bearer {token}"),)

    def _grpc(self, case: Case, messages: list[bytes]) -> Outcome:
        md, watching = self._metadata(case.auth), case.method.endswith("/WatchRare")
        # A cross's first use of an operator compiles its kernels (seconds): its deadline is not what is fuzzed.
        timeout = 3 * self.timeout if "/Multiverse/" in case.method else self.timeout
        if watching:
            timeout = 1.5  # a valid watch waits for new scores until cancelled
        try:
            if case.kind == "unary":
                self.channel.unary_unary(case.method)(messages[0], metadata=md, timeout=timeout)
            elif case.kind == "server_stream":
                for _ in self.channel.unary_stream(case.method)(messages[0], metadata=md, timeout=timeout):
                    pass
            else:
                self.channel.stream_unary(case.method)(iter(messages), metadata=md, timeout=timeout)
            return Outcome("OK")
        except grpc.RpcError as exc:
            code, detail = exc.code(), exc.details() or ""
            if watching and code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return Outcome("OK", "watch stream open")
            undecodable = detail.startswith(DESERIALIZE)
            self.undecodable += undecodable
            bad_field, reason = _details(exc)
            return Outcome(code.name, detail, bad_field=bad_field, reason=reason, deserialize=undecodable)

    def _http(self, case: Case) -> Outcome:
        host, port = self.rpc_url.removeprefix("http://").rsplit(":", 1)
        request = case.raw_http or (
            f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(case.body)}\r\n"
            "Connection: close\r\n\r\n").encode() + case.body
        reply = b""
        try:
            with socket.create_connection((host, int(port)), timeout=self.timeout) as sock:
                sock.sendall(request)
                sock.shutdown(socket.SHUT_WR)
                while chunk := sock.recv(1 << 16):
                    reply += chunk
        except OSError as exc:
            if not reply:
                return Outcome("HTTP no response", f"{type(exc).__name__}: {exc}")
        head, _, body = reply.partition(b"\r\n\r\n")
        status = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if not status:
            return Outcome("HTTP no response", reply[:200].decode(errors="replace"))
        out = Outcome(f"HTTP {status.group(1).decode()}", body[:300].decode(errors="replace"))
        out.extra["jsonrpc_error"] = b'"error"' in body and b'"result"' not in body
        return out

    # the store's state, as the API shows it ----------------------------------------------------------------
    def fingerprint(self) -> tuple[Any, ...]:
        """Spaces, worlds, the fuzz worlds' heads and newest log entries, stored state blobs, spool files, and
        the chain's block number. Blobs that are not states (the rarity index, saved in the background) are left
        out, so that only what an input did shows. The calls go out together; their answers are awaited after."""
        md, stub = self._metadata("admin"), self.stub
        spaces = stub.ListSpaces.future(store_pb2.ListSpacesRequest(), metadata=md, timeout=30)
        first = stub.ListWorlds.future(store_pb2.ListWorldsRequest(page_size=1000), metadata=md, timeout=30)
        heads = [stub.Heads.future(store_pb2.HeadsRequest(world=w), metadata=md, timeout=30) for w in WORLDS]
        log = stub.Log.future(store_pb2.LogRequest(ref="fw", page_size=5), metadata=md, timeout=30)
        page = first.result()
        worlds = [w.SerializeToString(deterministic=True) for w in page.worlds]  # visibility and readers too
        while page.next_page_token:
            page = stub.ListWorlds(store_pb2.ListWorldsRequest(page_size=1000, page_token=page.next_page_token),
                                   metadata=md, timeout=30)
            worlds += [w.SerializeToString(deterministic=True) for w in page.worlds]
        head_maps = tuple(tuple(sorted(h.result().heads.items())) for h in heads)
        for world, head in zip(WORLDS, head_maps, strict=True):
            self.ctx.heads[world] = dict(head).get("main", "")
        spool = len(os.listdir(self.data / "spool")) if (self.data / "spool").exists() else 0
        return (tuple(s.name for s in spaces.result().spaces), tuple(worlds), head_maps,
                tuple(s.id for s in log.result().snapshots), self._state_blobs(), spool, self._block())

    def _state_blobs(self) -> int:
        """How many state files the blob store holds. Every blob is staged in blobs/tmp and renamed into place,
        so while that folder's mtime stays older than the last count, the count stands (no walk)."""
        root = self.data / "blobs"
        marks = tuple(os.stat(root / d).st_mtime_ns for d in ("tmp", "sha256"))
        now = time.time_ns()
        cached = getattr(self, "_blob_count", None)
        if cached and cached[0] == marks and max(marks) < cached[1] - 100_000_000:  # 0.1 s: coarse fs clocks
            return cached[2]
        count = 0
        for folder, _, files in os.walk(root / "sha256"):
            for name in files:
                if name not in self._blob_kinds:
                    with open(os.path.join(folder, name), "rb") as f:
                        self._blob_kinds[name] = b'"frames"' in f.read(4096)
                count += self._blob_kinds[name]
        self._blob_count = (marks, now, count)
        return count

    def _block(self) -> str:
        if not self.rpc_url:
            return ""
        case = Case("", JSONRPC, "", body=b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}')
        return self._http(case).detail


def _details(exc: grpc.RpcError) -> tuple[str | None, str]:
    """The first google.rpc.BadRequest field violation's field (None if there is none) and the ErrorInfo reason
    ("" if there is none) in the call's rich status."""
    try:
        status = rpc_status.from_call(exc)
    except ValueError:
        return None, ""
    field, reason = None, ""
    for packed in status.details if status else ():
        bad, info = error_details_pb2.BadRequest(), error_details_pb2.ErrorInfo()
        if packed.Is(bad.DESCRIPTOR) and packed.Unpack(bad) and bad.field_violations and field is None:
            field = bad.field_violations[0].field
        elif packed.Is(info.DESCRIPTOR) and packed.Unpack(info):
            reason = info.reason
    return field, reason
