"""The sqlenv-train command line, run in-process through main() and once as a real subprocess."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sqlenv_core.datasets import builtin
from sqlenv_train.cli import main
from sqlenv_train.sft import read_sft_data
from sqlenv_train.testing import ScriptedChatServer

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
HAS_TRAIN_STACK = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "trl"))


def test_eval_random_and_oracle_then_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for policy in ("random", "oracle"):
        code = main(
            [
                "eval",
                "--policy",
                policy,
                "--dataset",
                "builtin:eval",
                "--limit",
                "12",
                "--out",
                str(tmp_path / f"{policy}.json"),
                "--no-progress",
            ]
        )
        assert code == 0
    out = capsys.readouterr().out
    assert "oracle on builtin:eval (split eval): solved 12/12 (100.0%, 95% CI 75.8%–100.0%)" in out
    report = json.loads((tmp_path / "oracle.json").read_text())
    assert report["summary"]["solve_rate"] == 1.0 and report["summary"]["episodes"] == 12
    for key in ("by_difficulty", "by_database", "action_mix", "usage", "metadata", "episodes"):
        assert key in report
    assert report["metadata"]["dataset"] == "builtin:eval" and report["metadata"]["policy"] == "oracle"
    assert report["metadata"]["split"] == "eval"
    args = ["report", str(tmp_path / "random.json"), str(tmp_path / "oracle.json"), "--out-dir", str(tmp_path / "cmp")]
    if not HAS_MATPLOTLIB:
        args.append("--no-plots")
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "| oracle | builtin | eval | 12 | 100.0% | 75.8%–100.0% |" in table
    assert (tmp_path / "cmp" / "comparison.md").read_text().startswith("| policy | dataset | split | episodes |")
    assert "different datasets" not in table  # both on builtin:eval
    assert (tmp_path / "cmp" / "report.html").read_text().count('<section class="episode"') == 12
    if HAS_MATPLOTLIB:
        for png in ("solve_rate.png", "by_difficulty.png", "steps.png"):
            assert (tmp_path / "cmp" / png).read_bytes()[:4] == b"\x89PNG"


def test_eval_openai_policy_through_a_loopback_endpoint(tmp_path: Path) -> None:
    pack = builtin("eval")
    with ScriptedChatServer(pack) as server:
        code = main(
            [
                "eval",
                "--policy",
                "openai",
                "--base-url",
                server.base_url,
                "--model",
                "scripted",
                "--limit",
                "5",
                "--out",
                str(tmp_path / "llm.json"),
                "--no-progress",
            ]
        )
    assert code == 0
    report = json.loads((tmp_path / "llm.json").read_text())
    assert report["policy"] == "openai:scripted" and report["summary"]["solve_rate"] == 1.0
    assert report["usage"]["model_calls"] == 10 and report["metadata"]["endpoint"] == server.base_url


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "--policy", "random", "--dataset", "nope:x", "--out", "r.json"], "unknown dataset kind 'nope'"),
        (["eval", "--policy", "openai", "--model", "m", "--out", "r.json"], "--policy openai needs --base-url"),
        (["eval", "--policy", "hf", "--out", "r.json"], "--policy hf needs --model"),
        (["eval", "--policy", "oracle", "--limit", "0", "--out", "r.json"], "--limit must be at least 1"),
        (["report", "missing.json"], "cannot read missing.json"),
        (["sft-data", "--limit", "0", "--out", "w.jsonl"], "--limit must be at least 1, got 0"),
        (["sft-data", "--limit", "-1", "--out", "w.jsonl"], "--limit must be at least 1, got -1"),
        (["train", "--steps", "0", "--dry-run"], "steps must be at least 1"),
        (["train", "--config", "nowhere.toml"], "cannot read the config file nowhere.toml"),
    ],
)
def test_mistakes_get_one_clear_line_and_status_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_train_config_errors_are_all_listed_before_anything_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "recipe.toml"
    config.write_text(
        '[train]\nmodel = "tiny"\nnum_generations = 3\nbatch_size = 4\ndataset = "builtin:nope"\nlearning_rate = -1.0\n'
    )
    assert main(["train", "--config", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "batch_size x gradient_accumulation_steps (16) must be a multiple of num_generations (3)" in err
    assert "dataset: unknown built-in split 'nope'" in err
    assert "learning_rate must be a positive number" in err
    if not HAS_TRAIN_STACK:
        # In the checkout (these tests run from it) the advice is the uv command that works here.
        assert "torch, transformers, trl not installed: in this checkout" in err
        assert "uv run --package sqlenv-train --extra train" in err and "uv run nox -s smoke_train" in err


def test_config_type_errors_are_listed_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "recipe.toml"
    config.write_text('[train]\neval_limit = "5"\nbase_url = 5\nreward_weights = ["1", 0.5, 0.2]\n')
    assert main(["train", "--config", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for message in ("eval_limit must be int", "base_url must be str", "reward_weights must be a list of numbers"):
        assert message in err


def test_report_without_matplotlib_points_to_no_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlenv_train.report
    from sqlenv_train._deps import MissingDependencyError

    def missing(module: str) -> object:
        raise MissingDependencyError(f"{module} is not installed: pip install 'sqlenv-train[plots]'")

    monkeypatch.setattr(sqlenv_train.report, "require", missing)
    out = tmp_path / "r.json"
    assert main(["eval", "--policy", "oracle", "--limit", "2", "--out", str(out), "--no-progress"]) == 0
    assert main(["report", str(out), "--out-dir", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "sqlenv-train[plots]" in err and "--no-plots" in err


def test_unknown_config_keys_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "recipe.toml"
    config.write_text("[train]\nlearning_rat = 1e-5\n")
    assert main(["train", "--config", str(config), "--dry-run"]) == 2
    assert "unknown setting learning_rat; known: " in capsys.readouterr().err


def test_sft_data_exports_successful_oracle_episodes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "warm.jsonl"
    assert main(["sft-data", "--dataset", "builtin:train", "--limit", "20", "--out", str(out), "--describe-first"]) == 0
    assert "20 of 20 episodes written" in capsys.readouterr().out
    rows = read_sft_data(out)
    assert len(rows) == 20
    roles = [m["role"] for m in rows[0]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "tool", "assistant"]
    calls = [
        json.loads(m["tool_calls"][0]["function"]["arguments"]) for m in rows[0]["messages"] if m.get("tool_calls")
    ]
    assert list(calls[0]) == ["table"] and list(calls[1]) == ["sql"] and list(calls[2]) == ["answer"]
    assert rows[0]["chat_template_kwargs"] == {"enable_thinking": False}
    assert json.loads(rows[0]["tools"])[0]["function"]["name"] == "describe"


def test_the_console_script_runs_as_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sqlenv_train",
            "eval",
            "--policy",
            "oracle",
            "--limit",
            "3",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["summary"]["episodes"] == 3


def test_every_train_config_field_is_a_flag_that_sets_it() -> None:
    import argparse
    import dataclasses

    from sqlenv_train.cli import build_parser, train_overrides
    from sqlenv_train.training import TrainConfig

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    train_parser = sub.choices["train"]
    dests = {a.dest for a in train_parser._actions}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields <= dests, f"TrainConfig fields without a flag: {sorted(fields - dests)}"
    # A value unlike each default, given on the command line, comes back as that setting.
    import typing

    hints = typing.get_type_hints(TrainConfig)
    argv: list[str] = ["train"]
    expected: dict[str, object] = {}
    for f in dataclasses.fields(TrainConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        flag = "--" + f.name.replace("_", "-")
        if bool in (hints[f.name], *typing.get_args(hints[f.name])):
            argv.append(flag if not default else "--no-" + flag[2:])
            expected[f.name] = not default
        elif isinstance(default, list):
            argv += [flag, "0.25", "2", "3"]
            expected[f.name] = [0.25, 2.0, 3.0]
        elif isinstance(default, float):
            argv += [flag, "0.125"]
            expected[f.name] = 0.125
        elif isinstance(default, int):
            argv += [flag, str(default + 3)]
            expected[f.name] = default + 3
        elif default is None and int in typing.get_args(hints[f.name]):
            argv += [flag, "7"]
            expected[f.name] = 7
        else:
            argv += [flag, "x-" + f.name]
            expected[f.name] = "x-" + f.name
    assert train_overrides(parser.parse_args(argv)) == expected
    # `none` unsets an optional setting; an unset flag leaves the setting alone.
    none = train_overrides(parser.parse_args(["train", "--eval-dataset", "none", "--save-steps", "None"]))
    assert none == {"eval_dataset": None, "save_steps": None}
    assert train_overrides(parser.parse_args(["train"])) == {}
    assert train_overrides(parser.parse_args(["train", "--no-progress"])) == {"show_progress": False}


def test_a_none_flag_overrides_the_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "recipe.toml"
    config.write_text('[train]\nmodel = "tiny"\neval_limit = 5\nsave_steps = 10\n')
    code = main(["train", "--config", str(config), "--eval-limit", "none", "--steps", "12", "--dry-run"])
    out = capsys.readouterr()
    if code == 2:  # no training stack here: validation names it; the flags were still parsed
        assert "not installed" in out.err
        return
    shown = json.loads(out.out)
    assert shown["eval_limit"] is None and shown["save_steps"] == 10 and shown["steps"] == 12
