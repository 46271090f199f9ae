"""Regenerate the committed gRPC/protobuf code: proto/multiverse/v1/*.proto -> multiverse/v1/*_pb2*.py(i).

The proto tree mirrors the Python import path (package multiverse.v1 lives in proto/multiverse/v1), so the
generated imports (`from multiverse.v1 import common_pb2`) need no patching. tests/test_proto_fresh.py fails
when the committed files differ from what this script produces. Run: `make proto`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto"


def generate(out: Path) -> list[Path]:
    """Write the generated modules under ``out`` (out/multiverse/v1/...) and return their paths."""
    import grpc_tools
    from grpc_tools import protoc  # grpcio-tools is a test/dev dependency

    sources = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "multiverse" / "v1").glob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    (out / "multiverse" / "v1").mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *sources]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {sources}")
    return sorted((out / "multiverse" / "v1").glob("*_pb2*.py*"))


def main() -> None:
    written = generate(ROOT)
    init = ROOT / "multiverse" / "v1" / "__init__.py"
    if not init.exists():
        init.write_text('"""Generated protobuf and gRPC modules (see scripts/gen_proto.py). Do not edit."""\n')
    for path in written:
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
