"""deploy/ cannot rot: the example overlay renders (``kubectl kustomize``) and every object fits its Kubernetes
schema; the compose file fits the Compose specification's; and what a schema cannot see is cross-checked: Services
select pods and ports that exist, probes ask real ports and real gRPC services, every Secret or ConfigMap key a
container reads is there, every MULTIVERSE_* variable is a real setting that parses, every command parses with
the CLI, and no process would fall back to SQLite, a local blob directory or an in-process chain. The Dockerfile
installs the lock with its hashes and runs ``multiverse serve``."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess

import jsonschema_rs
import pytest

from tests.deploy.manifests import (
    DEPLOY, IMAGE, OVERLAY, ROOT, SERVED, TOPOLOGY, by_kind, check_settings, compose, containers, dockerfile,
    effective_env, health_names, kustomize, pod_labels, schema, walk_strings,
)


@pytest.fixture(scope="module")
def objects():
    return kustomize(OVERLAY)


def _ours(container) -> bool:
    return container["image"].rsplit("/", 1)[-1].split(":")[0] == IMAGE


def test_every_rendered_object_fits_its_schema(objects):
    k8s = schema("kubernetes.json")
    kinds = {o["kind"] for o in objects}
    unchecked = kinds - set(k8s["definitions"])
    assert not unchecked, f"no schema for {sorted(unchecked)}: add it to tests/deploy/schemas/kubernetes.json"
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "Secret", "Job"} <= kinds
    problems = []
    for obj in objects:
        check = jsonschema_rs.validator_for({"definitions": k8s["definitions"], "$ref": f"#/definitions/{obj['kind']}"})
        problems += [f"{obj['kind']}/{obj['metadata']['name']}: {e.message} at {list(e.instance_path)}"
                     for e in check.iter_errors(obj)]
    assert not problems, "\n".join(problems)
    assert {o["metadata"].get("namespace") for o in objects} == {"multiverse-example"}


def test_the_schema_catches_a_misspelt_field(objects):
    """The schema is strict where it matters: a typo in a probe or a container is an error, not ignored."""
    k8s = schema("kubernetes.json")
    check = jsonschema_rs.validator_for({"definitions": k8s["definitions"], "$ref": "#/definitions/Deployment"})
    store = json.loads(json.dumps(by_kind(objects, "Deployment")["store"]))
    container = store["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["grpc"]["servce"] = container["readinessProbe"]["grpc"].pop("service")
    assert not check.is_valid(store)
    del container["readinessProbe"]["grpc"]
    assert not check.is_valid(store)  # a probe without a handler


def test_the_topology_is_the_issues(objects):
    serving = {}
    for obj in by_kind(objects, "Deployment").values():
        for c in containers(obj):
            if _ours(c):
                args = c["command"]
                services = tuple(args[args.index("--services") + 1].split(","))
                serving[services] = serving.get(services, 0) + obj["spec"]["replicas"]
    for services, replicas in TOPOLOGY.items():
        assert serving.get(services, 0) >= replicas, f"{services}: {serving.get(services, 0)} replicas, want {replicas}"
    assert set(by_kind(objects, "StatefulSet")) == {"postgres", "minio"}
    assert "chain" in by_kind(objects, "Deployment") and "multiverse-setup" in by_kind(objects, "Job")


def test_services_select_pods_and_ports_that_exist(objects):
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    for service in by_kind(objects, "Service").values():
        selector = service["spec"].get("selector") or {}
        assert selector, f"Service {service['metadata']['name']} selects nothing"
        chosen = [w for w in workloads if selector.items() <= pod_labels(w).items()]
        assert chosen, f"Service {service['metadata']['name']} selects no workload's pods ({selector})"
        for w in chosen:
            ports = [p for c in containers(w) for p in c.get("ports", [])]
            for port in service["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                assert any(target in (p.get("name"), p["containerPort"]) for p in ports), \
                    f"Service {service['metadata']['name']} targets port {target!r}, not one of {w['metadata']['name']}'s"
    for w in workloads:  # a workload selects its own pods
        assert w["spec"]["selector"]["matchLabels"].items() <= pod_labels(w).items(), w["metadata"]["name"]


def test_probes_ask_container_ports_and_real_grpc_services(objects):
    names, probed = health_names(), 0
    for obj in objects:
        for c in containers(obj):
            ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(kind)
                if probe is None:
                    continue
                probed += 1
                handler = next(probe[h] for h in ("grpc", "httpGet", "tcpSocket", "exec") if h in probe)
                if "port" in handler:
                    assert handler["port"] in ports, f"{c['name']} {kind} probes port {handler['port']!r}, not {ports}"
                if "grpc" in probe:
                    assert handler["service"] in names, f"{c['name']} {kind}: no gRPC service {handler['service']!r}"
            if _ours(c) and obj["kind"] == "Deployment":
                args = c["command"]
                services = args[args.index("--services") + 1].split(",")
                assert "readinessProbe" in c and "livenessProbe" in c, f"{c['name']} is not probed"
                grpc = c["readinessProbe"].get("grpc")
                if grpc is not None:  # readiness asks about a service this process serves
                    assert grpc["service"] in {SERVED[s] for s in services if s in SERVED}, c["name"]
                else:
                    assert services == ["http"] and c["readinessProbe"]["httpGet"]["path"] == "/api/spaces"
    assert probed >= 15


def test_every_multiverse_container_starts_with_real_settings(objects):
    """Every key a container reads exists; every MULTIVERSE_* name is a setting and parses; each command parses
    with the CLI; metadata in PostgreSQL, blobs in S3, the market on the node's contracts."""
    from multiverse import options

    for obj in objects:
        if obj["kind"] in ("ConfigMap", "Secret"):
            unknown = {k for k in obj.get("data", {}) if k.startswith("MULTIVERSE_")} - set(options.BY_ENV)
            assert not unknown, f"{obj['kind']} {obj['metadata']['name']}: {sorted(unknown)} are no settings"
        for c in containers(obj):
            env = effective_env(c, objects)  # asserts every referenced object and key exists
            if not _ours(c):
                continue
            where = f"{obj['kind']}/{obj['metadata']['name']}"
            argv = c["command"] + c.get("args", [])
            if argv[:2] == ["python", "/app/deploy/setup.py"]:
                check_settings(where, env, None)
            else:
                check_settings(where, env, argv)


def test_images_are_pinned(objects):
    for obj in objects:
        for c in containers(obj):
            name, _, tag = c["image"].rpartition(":")
            assert name and tag and tag != "latest", f"{c['name']}: pin {c['image']} to a version"


def test_compose_fits_the_compose_spec():
    spec = compose()
    errors = [f"{e.message} at {list(e.instance_path)}"
              for e in jsonschema_rs.validator_for(schema("compose-spec.json")).iter_errors(spec)]
    assert not errors, "\n".join(errors)
    services = spec["services"]
    for name, service in services.items():
        needs = service.get("depends_on", {})
        assert set(needs) <= set(services), f"{name} depends on {set(needs) - set(services)}, which are no services"


def test_compose_services_start_with_real_settings():
    services, names = compose()["services"], health_names()
    serving = {}
    for name, service in services.items():
        if service.get("image", "").split(":")[0] != IMAGE:
            assert ":" in service["image"] and not service["image"].endswith(":latest"), f"{name}: pin its image"
            continue
        argv = service["command"]
        env = service["environment"]
        if argv[:2] == ["python", "/app/deploy/setup.py"]:
            check_settings(f"compose {name}", env, None)
            continue
        settings = check_settings(f"compose {name}", env, argv)
        replicas = service.get("deploy", {}).get("replicas", 1)
        serving[settings.services] = serving.get(settings.services, 0) + replicas
        check = service["healthcheck"]["test"]
        assert check[:3] == ["CMD", "python", "/app/deploy/healthcheck.py"], f"{name}: no health check"
        if check[3] == "grpc":
            assert check[5] in names and check[5] in {SERVED[s] for s in settings.services if s in SERVED}, name
        host_ports = [p.split(":")[0] for p in service.get("ports", [])]
        if host_ports and "-" in host_ports[0]:  # one host port per replica
            low, high = map(int, host_ports[0].split("-"))
            assert high - low + 1 == replicas, f"{name}: {replicas} replicas but ports {host_ports[0]}"
        assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully", name
    for services, replicas in TOPOLOGY.items():
        assert serving.get(services, 0) >= replicas, f"compose {services}: {serving.get(services, 0)} replicas"


def test_docker_compose_config_accepts_it():
    """Where the compose plugin is installed, Docker's own check (interpolation, merge keys, the newest spec)."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here (Debian's docker has no compose plugin); "
                    "the schema check above covers the file")
    done = subprocess.run([docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_image_installs_the_lock_with_hashes_and_serves():
    steps = dockerfile()
    runs = [args for word, args in steps if word == "RUN"]
    install = next((r for r in runs if "-r requirements.lock" in r), "")
    assert "--require-hashes" in install and "--no-deps" in install, "install requirements.lock with its hashes"
    makefile_torch = next(w for w in (ROOT / "Makefile").read_text().split() if w.startswith("torch=="))
    assert makefile_torch in install, f"the image's torch is not the Makefile's {makefile_torch}"
    copied = [args.split() for word, args in steps if word == "COPY"]
    assert copied[0][0] == "requirements.lock", "copy the lock first, alone: its layer is cached until it changes"
    for *sources, _target in copied:
        for source in sources:
            assert any((ROOT).glob(source.rstrip("/"))), f"COPY {source}: no such path in the repository"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for *sources, _target in copied:  # the context holds what is copied
        for source in sources:
            assert any(p.startswith("!") and fnmatch.fnmatch(source.rstrip("/") + "/x", p[1:]) or p[1:] ==
                       source.rstrip("/") for p in ignore), f"Dockerfile.dockerignore leaves out {source}"
    needed = {s.removeprefix("/app/") for s in walk_strings(compose()) if s.startswith("/app/deploy/")}
    assert needed <= {s for *sources, _ in copied for s in sources}, f"the image lacks {needed}"
    cmd = json.loads(next(args for word, args in steps if word == "CMD"))
    assert not any(word == "ENTRYPOINT" for word, _ in steps)
    assert cmd[:2] == ["multiverse", "serve"]
    env = dict(part.split("=", 1) for word, args in steps if word == "ENV" for part in args.split())
    check_settings("Dockerfile", {**{k: v for k, v in env.items() if k.startswith("MULTIVERSE_")},
                                  **compose()["services"]["market"]["environment"]}, cmd)
