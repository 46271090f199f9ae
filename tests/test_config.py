"""One settings object, each setting spelled once (issue 14 item 5): the table of options drives the env parsing,
the flags and the README's table; `up` listens on --listen, client commands connect with --grpc; nothing reads
the environment at import."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from merge_kernels import fused
from multiverse import options
from multiverse.cli.main import _parser
from multiverse.config import ClientSettings, Settings, markdown_table
from multiverse.errors import InvalidArgument

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- settings table[^\n]*-->\n(.*?)\n<!-- end of settings table -->", readme, re.S)
    assert found, "README.md lost its settings table markers"
    assert found.group(1) == markdown_table(), "README's table is stale: paste multiverse.config.markdown_table()"


def test_each_variable_and_flag_is_spelled_once():
    envs = [o.env for o in options.OPTIONS]
    flags = [o.flag for o in options.OPTIONS if o.flag]
    assert len(envs) == len(set(envs)) and len(flags) == len(set(flags))
    assert all(e.startswith("MULTIVERSE_") for e in envs)
    # no module outside the table spells a MULTIVERSE_ variable as a string to read
    spelled = {}
    for path in (ROOT / "multiverse").rglob("*.py"):
        # rpc_gate names its switch in the hint of the error a disabled dev method gets
        if path.name in ("options.py", "rpc_gate.py") or "v1" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"MULTIVERSE_\w+", node.value):
                spelled.setdefault(node.value, []).append(str(path.relative_to(ROOT)))
    assert not spelled, f"settings read outside multiverse/options.py: {spelled}"


def test_every_row_reaches_its_field():
    # a value for every row builds, and lands where the row says
    settings = Settings.from_env({"MULTIVERSE_WORKERS": "24", "MULTIVERSE_MAX_HEADER_BYTES": "12345",
                                  "MULTIVERSE_RARITY_EXACT_LIMIT": "500", "MULTIVERSE_MARKET_MIN_TIER": "epic",
                                  "MULTIVERSE_MARKET_SIGNIN_DOMAIN": "gallery.example",
                                  "MULTIVERSE_CHAIN_ROYALTY_BPS": "250", "MULTIVERSE_FUSED": "off",
                                  "MULTIVERSE_LISTEN": "0.0.0.0:1"})
    assert (settings.workers, settings.limits.max_header_bytes, settings.grpc_addr) == (24, 12345, "0.0.0.0:1")
    assert settings.rarity is not None and settings.rarity.index.exact_limit == 500
    assert settings.market is not None and settings.market.market.min_tier == "epic"
    assert settings.market.market.signin.domain == "gallery.example" and settings.market.chain.royalty_bps == 250
    assert settings.fused is False
    assert Settings.from_env({"MULTIVERSE_MARKET": "off"}).market is None
    assert Settings.from_env({}) == Settings.from_env({"MULTIVERSE_MARKET": "on"})


@pytest.mark.parametrize("env, named", [
    ({"MULTIVERSE_WORKERS": "many"}, "MULTIVERSE_WORKERS"),
    ({"MULTIVERSE_RARITY_EXACT_LIMIT": "-3"}, "MULTIVERSE_RARITY_EXACT_LIMIT"),
    ({"MULTIVERSE_FUSED": "maybe"}, "MULTIVERSE_FUSED"),
    ({"MULTIVERSE_MARKET": "perhaps"}, "MULTIVERSE_MARKET"),
])
def test_a_bad_value_names_its_variable(env, named):
    with pytest.raises(InvalidArgument) as err:
        Settings.from_env(env)
    assert err.value.field == named


def test_flags_over_variables_and_up_listens_on_listen(tmp_path, capsys):
    env = {"MULTIVERSE_LISTEN": "127.0.0.1:7000", "MULTIVERSE_GRPC": "elsewhere:1"}
    up = _parser().parse_args(["up", "--listen", "127.0.0.1:7001", "--data", str(tmp_path)])
    settings = Settings.from_env(env, flags=vars(up))
    assert settings.grpc_addr == "127.0.0.1:7001" and settings.data_dir == tmp_path
    assert Settings.from_env(env, flags=vars(_parser().parse_args(["up"]))).grpc_addr == "127.0.0.1:7000"
    # --grpc is where client commands connect, before or after the command
    for argv in (["--grpc", "h:2", "whoami"], ["whoami", "--grpc", "h:2"]):
        assert ClientSettings.from_env(env, flags=vars(_parser().parse_args(argv))).grpc == "h:2"
    assert ClientSettings.from_env(env, flags=vars(_parser().parse_args(["whoami"]))).grpc == "elsewhere:1"
    assert ClientSettings.from_env({}, flags=vars(_parser().parse_args(["whoami"]))).grpc == "localhost:50051"


def test_nothing_reads_the_environment_at_import():
    # MK_FUSED used to switch the fused loops off at import; the switch is now a setting applied at start-up
    code = "import os; os.environ['MK_FUSED'] = '0'; from merge_kernels import fused; print(fused._enabled)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "True"
    for path in [*(ROOT / "merge_kernels").rglob("*.py"), *(ROOT / "multiverse").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: functions may read what the edge passes them
            for sub in ast.walk(node):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    break
                if isinstance(sub, ast.Attribute) and sub.attr in ("environ", "getenv"):
                    raise AssertionError(f"{path.relative_to(ROOT)} reads the environment at import")


def test_fused_switch():
    import torch

    x = torch.zeros(4)
    try:
        fused.enable(False)
        assert not fused.active(x)
    finally:
        fused.enable(True)
    assert fused.active(x) == (fused.numba is not None)
