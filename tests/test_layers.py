"""The dependency rule (docs/architecture.md), checked over every module's imports with ``ast``.

``services -> multiverse -> merge_kernels``: merge_kernels imports nothing of ours; the domain (every
``multiverse`` module outside the edge subpackages ``client``, ``cli``, ``demo`` and the generated
``multiverse.v1``) imports neither gRPC, protobuf, the generated code, ``services`` nor an edge subpackage;
``services`` does not import merge_kernels (the crossing package is its way in); nothing imports ``services``
but ``services`` and the CLI (whose ``up`` starts the server). No import cycle between modules: an edge is
any ``import`` that runs when the module or one of its functions runs (function-local imports count: they
break a cycle only by luck of timing), except under ``if TYPE_CHECKING:``; nor between packages
(``multiverse.state``, ``multiverse.store``, ... each top-level module its own unit). Importing ``a.b.c`` also runs the
packages ``a.b`` and ``a``, so those are edges too, but for the importer's own enclosing packages (they are
always already being imported when it runs). No module outside generated code passes 400 lines.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("multiverse", "services", "merge_kernels")
SIZED = (*PACKAGES, "tests", "bench", "scripts", "migrations")  # trees under the line cap
EDGES = ("multiverse.client", "multiverse.cli", "multiverse.demo")
GENERATED = "multiverse.v1"
WIRE = ("grpc", "grpc_status", "grpc_health", "grpc_reflection", "google.protobuf", "google.rpc")
MAX_LINES = 400


def _under(name: str, prefixes: str | tuple[str, ...]) -> bool:
    """``name`` is one of ``prefixes`` or inside one of them (dotted)."""
    return any(name == p or name.startswith(p + ".") for p in ((prefixes,) if isinstance(prefixes, str) else prefixes))


def _generated(path: Path) -> bool:
    return path.parent.name == "v1" and "_pb2" in path.name


def tree_sources(root: Path = ROOT) -> dict[str, str]:
    """Every module of our packages by dotted name (a package as its ``__init__``'s name), with its source
    (a package's prefixed with an ``__init__`` line). A fresh dict each call; the reading is done once."""
    return dict(_read_tree(root))


@functools.cache
def _read_tree(root: Path) -> tuple[tuple[str, str], ...]:
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = ("__init__\n" if parts[-1] == "__init__" else "") + path.read_text()
    return tuple(found.items())


def _is_package(source: str) -> bool:
    return source.startswith("__init__\n")


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that runs, at module level or in a function; not those under TYPE_CHECKING."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node.test):
            yield from (i for n in node.orelse for i in _imports_in(n))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


def imported(name: str, source: str, known: Mapping[str, str]) -> set[str]:
    """The dotted names module ``name`` imports: ours resolved to the module (``from a import b`` is module
    ``a.b`` when that is one of ours), foreign ones as written. Our enclosing packages of each import are
    included but for ``name``'s own."""
    package = name if _is_package(source) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(source.removeprefix("__init__\n"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            found.add(target)
            if target.split(".")[0] in PACKAGES:
                parts = target.split(".")
                found.update(p for p in (".".join(parts[:i]) for i in range(1, len(parts)))
                             if p in known and not _under(package, p))
    found.discard(name)
    return found


def graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Each module's imports (ours and foreign) as dotted names."""
    return {name: imported(name, src, sources) for name, src in sources.items()}


def rule_breaks(sources: Mapping[str, str]) -> list[str]:
    """Every import that breaks the layer rule, one line each."""
    broken = []
    for name, targets in graph(sources).items():
        if _under(name, GENERATED):
            continue  # generated code imports itself, grpc and protobuf (scripts/gen_proto.py; a test keeps it fresh)
        domain = _under(name, "multiverse") and not _under(name, EDGES)
        for target in sorted(targets):
            why = ""
            if _under(name, "merge_kernels") and _under(target, ("multiverse", "services")):
                why = "merge_kernels imports nothing of ours"
            elif _under(target, "services") and not _under(name, ("services", "multiverse.cli")):
                why = "only services/ and the CLI (which starts the server) import services"
            elif _under(name, "services") and _under(target, "merge_kernels"):
                why = "services/ reaches merge_kernels through the domain (multiverse.crossing)"
            elif (domain or _under(name, "merge_kernels")) and _under(target, (*WIRE, GENERATED)):
                why = "the domain never imports gRPC, protobuf or the generated code (edges and services/ do)"
            elif domain and _under(target, EDGES):
                why = "the domain never imports the edge subpackages (client, cli, demo)"
            if why:
                broken.append(f"{name} imports {target}: {why}")
    return broken


def cycles(sources: Mapping[str, str]) -> list[list[str]]:
    """The strongly connected components of more than one module in our import graph."""
    return components({n: sorted(t for t in ts if t in sources) for n, ts in graph(sources).items()})


def package_of(name: str) -> str:
    """The unit of the package graph: ``multiverse.X`` for a module in or under ``multiverse.X`` (the
    subpackages and the top-level modules alike), else the top-level package."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "multiverse" else parts[0]


def package_cycles(sources: Mapping[str, str]) -> list[list[str]]:
    """The strongly connected components of more than one package (``package_of``) in the import graph."""
    edges: dict[str, set[str]] = {}
    for name, targets in graph(sources).items():
        edges.setdefault(package_of(name), set()).update(
            package_of(t) for t in targets if t in sources and package_of(t) != package_of(name))
    return components({n: sorted(ts) for n, ts in edges.items()})


def components(edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one node, each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, rest = work[-1]
            nxt = next(rest, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for name in sorted(edges):
        if name not in index:
            visit(name)
    return sorted(found)


def long_modules(root: Path = ROOT) -> list[str]:
    """Modules (generated code aside) over MAX_LINES lines."""
    return [f"{p.relative_to(root)}: {n} lines" for tree in SIZED for p in sorted((root / tree).rglob("*.py"))
            if not _generated(p) and (n := len(p.read_text().splitlines())) > MAX_LINES]


def test_the_tree_keeps_the_layer_rule():
    assert rule_breaks(tree_sources()) == []


def test_no_import_cycles():
    assert cycles(tree_sources()) == []


def test_no_cycles_between_packages():
    # stricter than modules: state, store, metadata, rarity, crossing, market... form a layered graph
    assert package_cycles(tree_sources()) == []


def test_no_module_passes_400_lines():
    assert long_modules() == []


# A synthetic module added to the real tree: each must be caught, naming the module and what it imports.
FORBIDDEN = [
    ("multiverse.store.bad", "import grpc\n", "grpc"),
    ("multiverse.state.bad", "from google.protobuf import any_pb2\n", "google.protobuf"),
    ("multiverse.rarity.bad", "def f():\n    from multiverse.v1 import rarity_pb2\n", "multiverse.v1.rarity_pb2"),
    ("multiverse.crossing.bad", "from multiverse.client import Client\n", "multiverse.client"),
    ("multiverse.market.bad", "import services.errors\n", "services.errors"),
    ("multiverse.bad", "from multiverse.demo import sim\n", "multiverse.demo.sim"),
    ("merge_kernels.bad", "from multiverse import errors\n", "multiverse.errors"),
    ("merge_kernels.bad", "import grpc\n", "grpc"),
    ("services.bad", "import merge_kernels as mk\n", "merge_kernels"),
    ("services.bad", "from merge_kernels.registry import list_operators\n", "merge_kernels.registry"),
]


@pytest.mark.parametrize(("name", "source", "target"), FORBIDDEN)
def test_a_forbidden_import_fails_the_rule(name, source, target):
    sources = {**tree_sources(), name: source}
    assert [b for b in rule_breaks(sources) if b.startswith(f"{name} imports {target}:")]


ALLOWED = [
    ("multiverse.store.fine", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import grpc\n"),
    ("multiverse.client.fine", "import grpc\nfrom multiverse.v1 import store_pb2\nfrom multiverse import records\n"),
    ("multiverse.cli.fine", "def up():\n    from services.server import build_server\n"),
    ("services.fine", "import grpc\nfrom multiverse.crossing import list_operators\n"),
]


@pytest.mark.parametrize(("name", "source"), ALLOWED)
def test_allowed_imports_pass_the_rule(name, source):
    assert [b for b in rule_breaks({**tree_sources(), name: source}) if b.startswith(name)] == []


def test_a_cycle_through_a_function_local_import_is_found():
    sources = {
        "multiverse.x": "from multiverse import y\n",
        "multiverse.y": "def late():\n    from multiverse.x import thing\n",
        "multiverse.z": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from multiverse.x import thing\n",
        "multiverse": "__init__\n",
    }
    assert cycles(sources) == [["multiverse.x", "multiverse.y"]]
    assert cycles({**sources, "multiverse.y": ""}) == []
    assert package_cycles({**sources, "multiverse.x": "from multiverse.y import thing\n"}) == [
        ["multiverse.x", "multiverse.y"]]


def test_a_cycle_through_a_package_init_is_found():
    # pkg/__init__ re-exports pkg.a; pkg.a imports other.b; other.b imports pkg.c: running other.b runs pkg/__init__
    sources = {
        "multiverse": "__init__\n",
        "multiverse.pkg": "__init__\nfrom multiverse.pkg.a import A\n",
        "multiverse.pkg.a": "from multiverse.other.b import B\n",
        "multiverse.pkg.c": "",
        "multiverse.other": "__init__\n",
        "multiverse.other.b": "from multiverse.pkg.c import C\n",
    }
    assert cycles(sources) == [["multiverse.other.b", "multiverse.pkg", "multiverse.pkg.a"]]
