"""`multiverse sim` against a real service: saves every few ticks, valid players, resumes its head."""

import json

import pytest
import torch

from multiverse import errors
from multiverse.cli import main
from multiverse.state.format import decode_state
from multiverse.tileworld import SPACE_NAME, space_spec


def test_sim_command_plays_and_saves_through_the_client(stack, capsys):
    rc = main(["--grpc", stack.address, "--key", stack.admin_key, "sim", "--server", "carol", "--ticks", "20",
               "--save-every", "8", "--seed", "4"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("saved carol snapshot") == 3  # ticks 8, 16 and the last 4
    history = list(stack.admin.log("carol"))
    assert [s.frame_count for s in history] == [4, 8, 8] and all(s.player_count == 4 for s in history)
    assert stack.admin.get_world("carol").owner == "carol"
    space = stack.admin.get_space(SPACE_NAME)
    assert tuple(space.frame_shape) == space_spec()["frame_shape"] and space.decoder == SPACE_NAME
    assert json.loads(space.reference_json)["tile_accuracy"] >= 0.9

    _, data = stack.admin.load_snapshot(history[1].id)
    tensors, info = decode_state(data)
    assert tensors["frames"].shape == (8, 8, 8, 8) and tensors["frames"].dtype == torch.float32
    assert tensors["players"].shape == (4, 16) and bool(torch.isfinite(tensors["players"]).all())
    assert all({"Pos", "Health", "Inventory"} <= p["stats"].keys() for p in info.players)


def test_a_server_key_resumes_its_world_and_may_not_write_others(stack, capsys):
    token = stack.admin.create_api_key("dora").token
    args = ["--grpc", stack.address, "--key", token, "sim", "--ticks", "8"]
    assert main(args + ["--server", "dora"]) == 1  # the space is not registered and a server key may not register it
    assert "admin key" in capsys.readouterr().err
    assert main(["--grpc", stack.address, "--key", stack.admin_key, "sim", "--server", "erin", "--ticks", "8"]) == 0
    assert main(args + ["--server", "dora"]) == 0
    assert main(args + ["--server", "dora"]) == 0
    out = capsys.readouterr().out
    assert "resuming world dora" in out
    history = list(stack.admin.log("dora"))
    assert len(history) == 2 and history[0].parents == [history[1].id]
    with pytest.raises(errors.AlreadyExists, match="taken"):  # erin's world is private: dora sees only a taken name
        from multiverse.client import Client
        from multiverse.demo.sim import SimConfig, run_sim

        with Client(stack.address, token) as dora:
            run_sim(dora, SimConfig(server="dora", world="erin", ticks=8), log=lambda _: None)


def test_bad_settings_name_the_flag(stack, capsys):
    base = ["--grpc", stack.address, "--key", stack.admin_key, "sim", "--server", "fay"]
    assert main(base + ["--save-every", "0"]) == 1
    assert "--save-every" in capsys.readouterr().err
    assert main(base + ["--players", "2", "--strange", "3"]) == 1
    assert "--strange from 0 to --players (2)" in capsys.readouterr().err
