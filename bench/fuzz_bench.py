"""Fuzz a running server as its users would: malformed state files (framing, header JSON, tensors, metadata,
player records), hostile field values and raw protobuf bytes on every gRPC method, and hostile JSON-RPC bodies on
the wallet port, generated from one seed (bench/fuzz_*.py).

For each input it records the status and counts, per family of input:
- crashes: the process died (it is started again on the same data, and the run goes on);
- internal / unknown: INTERNAL or UNKNOWN from our code (gRPC's own "Exception deserializing request" apart, as
  deserialize_errors), HTTP 500 or no HTTP answer on the wallet port;
- refusals_without_field: an INVALID_ARGUMENT without a google.rpc.BadRequest field, or a RESOURCE_EXHAUSTED made by
  gRPC rather than the server's error mapping (no google.rpc.ErrorInfo: an oversized status hid the real error);
- state_changes_from_rejected: a refused input changed the store (fingerprint before and after, through the API:
  spaces, worlds, heads, the fuzz world's log; and the stored state files, spool files, the chain's height);
- timeouts (a call that ran past 20 s), unavailable (the connection stopped taking calls after this input), and
  accepted_unreadable (a state file accepted that safetensors, the format's own reader, refuses).
At the end the server is stopped and started again on the fuzzed data. Failing inputs go to
<workdir>/findings.jsonl, their bytes under <workdir>/findings/, every input to <workdir>/inputs.tsv.

    .venv/bin/python bench/fuzz_bench.py [--count 10000] [--seed 1] [--max-crashes 200] [--workdir DIR]

Last line: JSON {inputs, crashes, internal, unknown, deserialize_errors, state_changes_from_rejected,
refusals_without_field, timeouts, unavailable, accepted_unreadable, restart_ok, by_family, statuses, seconds, ...}.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_case import SAVE, Case, Outcome  # noqa: E402
from fuzz_jsonrpc import jsonrpc_case  # noqa: E402
from fuzz_states import GENERATORS as STATE_GENERATORS  # noqa: E402
from fuzz_target import Target  # noqa: E402
from fuzz_wire import GENERATORS as WIRE_GENERATORS  # noqa: E402

from multiverse.state.format import decode_state  # noqa: E402

GENERATORS = {**STATE_GENERATORS, **WIRE_GENERATORS, "jsonrpc": jsonrpc_case}
WEIGHTS = {"safetensors": 12, "header": 12, "tensors": 5, "metadata": 8, "players": 10, "proto_raw": 22, "fields": 21,
           "jsonrpc": 10}
FAILURES = ("crashes", "internal", "unknown", "state_changes_from_rejected", "refusals_without_field", "timeouts",
            "unavailable", "accepted_unreadable")


def cases(rng: random.Random, count: int) -> Iterator[Case]:
    """``count`` inputs drawn from ``rng``: a family by WEIGHTS, then a case of it (built lazily, when sent)."""
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    for _ in range(count):
        yield GENERATORS[rng.choices(names, weights)[0]](rng)


def _unreadable(case: Case, out: Outcome) -> bool:
    """Whether an accepted state file is one the format's own reader (safetensors, via decode_state) refuses:
    the validator and the readers disagree, and the store now holds a state nobody can load."""
    state = case.files.get("state.safetensors") if case.method == SAVE else None
    if state is None:
        return False
    try:
        decode_state(state)
    except Exception as exc:  # noqa: BLE001 - any refusal by the reader is the finding
        out.detail = f"accepted, but decode_state refuses it: {type(exc).__name__}: {str(exc)[:200]}"
        return True
    return False


def classify(out: Outcome) -> str | None:
    """The failure an outcome shows (one of FAILURES, or deserialize_errors), or None."""
    if out.crashed:
        return "crashes"
    if "refused_after" in out.extra:  # the server stopped taking calls on the connection after this input
        return "unavailable"
    if out.deserialize:
        return "deserialize_errors"
    if out.code in ("INTERNAL", "HTTP 500", "HTTP no response"):
        return "internal"
    if out.code == "UNKNOWN":
        return "unknown"
    if out.code == "INVALID_ARGUMENT" and not out.bad_field:
        return "refusals_without_field"
    if out.code == "RESOURCE_EXHAUSTED" and not out.reason:  # gRPC's own (an oversized status), not a quota of ours
        return "refusals_without_field"
    if out.code == "DEADLINE_EXCEEDED":
        return "timeouts"
    if out.code == "UNAVAILABLE":
        return "unavailable"
    return None


def cause(server_log: str) -> str:
    """The last error the server logged (the exception line of its last traceback, or a fatal signal)."""
    fatal = re.search(r"Fatal Python error: .*", server_log) or re.search(r"exit code -?\d+$", server_log)
    if fatal:
        return fatal.group(0)
    errors = [ln.strip() for ln in server_log.splitlines() if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b.*", ln)]
    errors = [e for e in errors if "DecodeError" not in e]  # gRPC's own "Exception deserializing" noise
    return errors[-1][:300] if errors else ""


def run(count: int, seed: int, workdir: Path, *, max_crashes: int = 200, log: Any = None,
        server_root: Path | None = None) -> dict[str, Any]:
    """Fuzz a fresh server in ``workdir`` with ``count`` inputs from ``seed``; returns the summary."""
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    started = time.monotonic()
    rng = random.Random(seed)
    totals: Counter = Counter()
    families: dict[str, Counter] = defaultdict(Counter)
    statuses: Counter = Counter()
    findings_path = workdir / "findings.jsonl"
    target = Target(workdir, **({"server_root": server_root} if server_root else {})).start()
    trace = open(workdir / "inputs.tsv", "w")  # noqa: SIM115 - one line per input, closed below
    aborted = ""
    try:
        target.setup()
        before = target.fingerprint()
        done = 0
        for i, case in enumerate(cases(rng, count)):
            family = case.family
            notes: list[str] = []
            out = target.call(case, notes)
            done += 1
            if out.code == "DEADLINE_EXCEEDED" or (out.deserialize and case.kind == "client_stream"):
                # The client has its answer but the handler may still run (it ran out of time, or gRPC refused a
                # later message of the stream): let what it does show now, not at the next input.
                time.sleep(2 if out.code == "DEADLINE_EXCEEDED" else 0.5)
            after, server_log, aborted = _settle(target, out, before, i)
            failure = classify(out)
            trace.write(f"{i}\t{family}\t{case.method}\t{case.auth}\t{out.code}\t{out.seconds:.3f}\t{case.note[:150]}\n")
            trace.flush()
            changed = not out.ok and after != before
            statuses[out.code] += 1
            fam = families[family]
            fam["inputs"] += 1
            fam["accepted"] += out.ok
            unreadable = out.ok and _unreadable(case, out)
            kinds = [k for k in (failure, "state_changes_from_rejected" if changed else None,
                                 "accepted_unreadable" if unreadable else None) if k]
            for kind in kinds:
                totals[kind] += 1
                fam[kind] += 1
            if any(k in FAILURES for k in kinds):
                _record(findings_path, workdir, i, case, notes, out, kinds, cause(server_log), before, after)
            before = after
            if aborted or totals["crashes"] >= max_crashes:
                aborted = aborted or f"stopped after {max_crashes} crashes"
                break
            if (i + 1) % 500 == 0:
                say(f"{i + 1} inputs, {dict(totals)}, {time.monotonic() - started:.0f} s")
        restart = {"restart_ok": False} if aborted.startswith("the server did not start") else {} if aborted else \
            _restart(target, before)
    finally:
        target.stop()
        trace.close()
    summary = {
        "inputs": done, "crashes": totals["crashes"], "internal": totals["internal"], "unknown": totals["unknown"],
        "deserialize_errors": totals["deserialize_errors"],
        "state_changes_from_rejected": totals["state_changes_from_rejected"],
        "refusals_without_field": totals["refusals_without_field"], "timeouts": totals["timeouts"],
        "unavailable": totals["unavailable"], "accepted_unreadable": totals["accepted_unreadable"],
        "accepted": sum(f["accepted"] for f in families.values()),
        **restart,
        "by_family": {k: {"inputs": v["inputs"], "accepted": v["accepted"],
                          **{f: v[f] for f in (*FAILURES, "deserialize_errors")}} for k, v in sorted(families.items())}, "statuses": dict(statuses),
        "seed": seed, "seconds": round(time.monotonic() - started, 1), "findings": str(findings_path),
    }
    if aborted:
        summary["aborted"] = aborted
    return summary


def _settle(target: Target, out: Outcome, before: tuple, i: int) -> tuple[tuple, str, str]:
    """After an input: the store's fingerprint, the server's output meanwhile, and why the run must stop ("" if
    it need not). A server that died (on the call or just after answering) is started again on the same data."""
    after = None if out.crashed else _fingerprint(target, out)
    server_log = target.new_log()
    if after is not None:
        return after, server_log, ""
    out.crashed, out.code = True, "CRASH"
    target.kill()
    server_log += target.new_log() + f"\nexit code {target.proc.returncode}"
    try:
        target.start()
        target.sign_in()
        return target.fingerprint(), server_log, ""
    except RuntimeError as exc:
        return before, server_log, f"the server did not start again after input {i}: {str(exc)[-600:]}"


def _fingerprint(target: Target, out: Outcome) -> tuple | None:
    """The store's fingerprint, or None when the server is gone. A live server that refuses it gets one more try
    on a new connection, and the input is marked: its connection stopped taking calls."""
    try:
        return target.fingerprint()
    except grpc.RpcError as exc:
        if not target.alive():
            target.kill()
            return None
        out.extra["refused_after"] = f"{exc.code().name}: {exc.details()}"
        out.detail += (f" [then every call on the connection: {out.extra['refused_after']}; it had carried"
                       f" {target.undecodable} requests that could not be deserialized]")
        target.reconnect()
        return target.fingerprint()


def _restart(target: Target, last: tuple) -> dict[str, Any]:
    """Stop the fuzzed server (SIGTERM) and start it again on the same data: does it serve, with the same state?"""
    t0 = time.monotonic()
    target.stop()
    try:
        target.start()
    except RuntimeError as exc:
        return {"restart_ok": False, "restart_error": str(exc)[-600:]}
    same = target.fingerprint()[:5] == last[:5]  # the chain's height and the spool aside
    return {"restart_ok": True, "restart_seconds": round(time.monotonic() - t0, 1), "restart_same_state": same}


def _record(path: Path, workdir: Path, i: int, case: Case, notes: list[str], out: Outcome, kinds: list[str],
            server_error: str, before: tuple, after: tuple) -> None:
    """One failing input: what was sent (its bytes under findings/<i>-<family>/), what came back, why."""
    folder = workdir / "findings" / f"{i:05d}-{case.family}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in case.files.items():
        (folder / name).write_bytes(data)
    if case.body is not None or case.raw_http is not None:
        (folder / "http.bin").write_bytes(case.raw_http or case.body or b"")
    parts = ("spaces", "worlds", "heads", "log", "state_blobs", "spool", "chain")
    entry = {
        "i": i, "kinds": kinds, "family": case.family, "method": case.method, "auth": case.auth,
        "note": "; ".join([case.note, *notes]), "code": out.code, "detail": out.detail[:400], "field": out.bad_field,
        "server_error": server_error, "files": str(folder),
        "changed": [p for p, a, b in zip(parts, before, after, strict=True) if a != b],
    }
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def distinct(findings_path: Path) -> list[dict[str, Any]]:
    """Failing inputs grouped by (kind, family, method, server error or status detail), with counts."""
    groups: dict[tuple, dict[str, Any]] = {}
    if not findings_path.exists():
        return []
    for line in findings_path.read_text().splitlines():
        e = json.loads(line)
        why = e["server_error"] or re.sub(r"[0-9a-f]{8,}|\d+", "#", e["detail"])[:120]
        for kind in e["kinds"]:
            key = (kind, e["family"], e["method"].rsplit("/", 1)[-1], e["code"], why)
            g = groups.setdefault(key, {"kind": kind, "family": e["family"], "method": e["method"], "code": e["code"],
                                        "why": why, "count": 0, "first": e})
            g["count"] += 1
    return sorted(groups.values(), key=lambda g: (g["kind"], -g["count"]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-crashes", type=int, default=200, help="stop after this many crashes (each costs a restart)")
    p.add_argument("--workdir", type=Path, default=None, help="keep the data, server log and findings here")
    p.add_argument("--server-root", type=Path, default=None, help="run the server from this checkout (default: this one)")
    a = p.parse_args(argv)
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    summary = run(a.count, a.seed, workdir, max_crashes=a.max_crashes, server_root=a.server_root)
    for g in distinct(Path(summary["findings"])):
        first = g["first"]
        print(f"{g['count']:5d} x {g['kind']:<28} {g['family']:<12} {g['method'].rsplit('/', 1)[-1]:<16} {g['code']:<18}"
              f" {g['why'][:100]}\n        e.g. #{first['i']} [{first['auth']}] {first['note'][:220]}", file=sys.stderr)
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
