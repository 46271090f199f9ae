"""Reading deploy/: the rendered Kubernetes objects (``kubectl kustomize``), the compose file, the Dockerfile, and the
settings a Multiverse container would start with, checked by the real parsers (``multiverse.options``, the CLI's,
``Settings.from_env``) rather than by a copy of their rules.

Provenance of tests/deploy/schemas/: ``compose-spec.json`` is the Compose specification's JSON schema
(compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0) byte for byte as docker-compose 1.29.2 ships it
(compose/config/compose_spec.json in its PyPI wheel); newer revisions only add fields. ``kubernetes.json`` is a
subset of the Kubernetes OpenAPI definitions, written for the fields deploy/k8s uses (its $comment says how).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.support.need import missing

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMAS = Path(__file__).with_name("schemas")
OVERLAY = DEPLOY / "k8s" / "overlays" / "example"
IMAGE = "multiverse"  # the image's name in the base and the compose file (the overlay renames it)
WORKLOADS = ("Deployment", "StatefulSet", "Job")
# The topology issue 18 asks for: replicas of each `serve --services` list.
TOPOLOGY = {("store",): 2, ("multiverse",): 2, ("rarity",): 2, ("market",): 2, ("http",): 1}


def kustomize(path: Path = OVERLAY) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize path`` renders (kubectl missing: skip, or fail under CI=true)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        missing("kubectl", "install kubectl (apt-get install kubectl, or the binary from the Kubernetes release)")
    done = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"kubectl kustomize {path.relative_to(ROOT)} failed:\n{done.stderr}"
    return [o for o in yaml.load_all(done.stdout, Loader=Yaml12Loader) if o]


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's core scalars, as Kubernetes reads its objects: ``0x70997970...`` and
    ``on`` are text, not a hexadecimal number and a boolean (YAML 1.1's readings)."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in (("tag:yaml.org,2002:int", r"^[-+]?[0-9]+$", "-+0123456789"),
                               ("tag:yaml.org,2002:bool", r"^(?:true|false)$", "tf")):
    Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers (and init containers) of a workload's pod template; [] for other kinds."""
    if obj["kind"] not in WORKLOADS:
        return []
    spec = obj["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    return obj["spec"]["template"].get("metadata", {}).get("labels", {})


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def data_of(obj: dict[str, Any]) -> dict[str, str]:
    """A ConfigMap's or Secret's keys and (decoded) values."""
    found = dict(obj.get("data") or {})
    if obj["kind"] == "Secret":
        found = {k: base64.b64decode(v.replace("\n", "")).decode() for k, v in found.items()}
    return {**found, **(obj.get("stringData") or {})}


def effective_env(container: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, str]:
    """The environment a container starts with: its envFrom sources in order (a later one wins), then env."""
    maps, secrets = by_kind(objects, "ConfigMap"), by_kind(objects, "Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        pool = maps if "configMapRef" in source else secrets
        assert ref["name"] in pool, f"{container['name']}: envFrom names {ref['name']}, which is not rendered"
        env.update({source.get("prefix", "") + k: v for k, v in data_of(pool[ref["name"]]).items()})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        source = var["valueFrom"]
        ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
        pool = secrets if "secretKeyRef" in source else maps
        assert ref["name"] in pool, f"{container['name']}: {var['name']} reads {ref['name']}, which is not rendered"
        data = data_of(pool[ref["name"]])
        assert ref["key"] in data, f"{container['name']}: {var['name']} reads key {ref['key']} of {ref['name']}, " \
                                   f"which has only {sorted(data)}"
        env[var["name"]] = data[ref["key"]]
    return env


def health_names() -> set[str]:
    """The full name of every gRPC service in proto/ (what a grpc probe may ask about), and "" (the server)."""
    names = {""}
    for proto in (ROOT / "proto").rglob("*.proto"):
        text = proto.read_text()
        package = re.search(r"^package\s+([\w.]+)\s*;", text, re.M)
        names |= {f"{package.group(1)}.{s}" if package else s for s in re.findall(r"^service\s+(\w+)", text, re.M)}
    return names


SERVED = {"store": "multiverse.v1.Store", "multiverse": "multiverse.v1.Multiverse", "rarity": "multiverse.v1.Rarity",
          "market": "multiverse.v1.Market"}


def serve_args(argv: list[str]) -> Any:
    """``argv`` (``multiverse ...``) parsed by the real CLI parser: argparse's namespace, or an AssertionError."""
    from multiverse.cli.main import _parser

    assert argv[:1] == ["multiverse"], f"{argv}: the command is `multiverse ...`"
    try:
        return _parser().parse_args(argv[1:])
    except SystemExit:
        raise AssertionError(f"`{' '.join(argv)}` does not parse with multiverse's CLI (see its error above)") from None


def check_settings(where: str, env: dict[str, str], argv: list[str] | None) -> Any:
    """The Settings a Multiverse process with ``env`` and ``argv`` would start with, checked: every MULTIVERSE_*
    name is a row of multiverse/options.py and parses; the metadata is PostgreSQL, the blobs an S3 bucket (never
    a pod's own SQLite file or directory); a process that opens the market reaches a node (rpc) and attaches to
    given contracts (never an in-process chain, never a deployment of its own)."""
    from sqlalchemy.engine import make_url

    from multiverse import options
    from multiverse.blobs import open_blob_store
    from multiverse.config import Settings

    unknown = sorted(k for k in env if k.startswith("MULTIVERSE_") and k not in options.BY_ENV)
    assert not unknown, f"{where}: {unknown} are no settings (multiverse/options.py names them all)"
    for name, raw in env.items():
        assert isinstance(raw, str), f"{where}: {name} is {raw!r}, not text (quote it in YAML)"
    flags = vars(serve_args(argv)) if argv else None
    settings = Settings.from_env(env=env, flags=flags)
    assert make_url(settings.database_url).drivername == "postgresql+psycopg", f"{where}: metadata is not PostgreSQL"
    assert settings.blobs_url.startswith("s3://"), f"{where}: blobs are not in S3: {settings.blobs_url}"
    open_blob_store(settings.blobs_url, access_key=settings.s3_access_key or None,
                    secret_key=settings.s3_secret_key or None)  # parses the URL; no I/O
    assert settings.s3_access_key and settings.s3_secret_key, f"{where}: no S3 keys"
    if argv is None or {"market", "http"} & set(settings.services):
        market = settings.market
        assert market is not None, f"{where}: the market is off but this process opens it"
        assert market.chain.kind == "rpc" and market.chain.rpc_url, f"{where}: would run an in-process chain"
        assert market.chain.token and market.chain.exchange, f"{where}: would deploy contracts of its own"
        assert market.chain.chain_id, f"{where}: no chain id to check the node against"
    return settings


def dockerfile(path: Path = DEPLOY / "Dockerfile") -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    joined, found = "", []
    for line in path.read_text().splitlines():
        if not joined and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            joined += line.rstrip()[:-1] + " "
            continue
        joined += line
        word, _, rest = joined.strip().partition(" ")
        found.append((word.upper(), rest.strip()))
        joined = ""
    return found


def walk_strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from walk_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_strings(value)
