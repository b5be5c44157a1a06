from __future__ import annotations

import json
from pathlib import Path

import pytest

from sqlenv_train import ConfigError, TrainConfig, load_config


def test_toml_table_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "recipe.toml"
    path.write_text('[train]\nmodel = "tiny"\nsteps = 7\nlearning_rate = 1e-5\nreward_weights = [1.0, 0.0, 0.5]\n')
    config = load_config(path, steps=9, seed=None)
    assert (config.model, config.steps, config.learning_rate, config.reward_weights) == (
        "tiny",
        9,
        1e-5,
        [1.0, 0.0, 0.5],
    )
    assert config.seed == TrainConfig().seed  # a None override (an unset flag) keeps the file or the default


def test_json_file_and_integers_for_floats(tmp_path: Path) -> None:
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"learning_rate": 1, "lora": True}))
    config = load_config(path)
    assert config.learning_rate == 1 and config.lora is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps = 'ten'\n", "steps must be int, got 'ten'"),
        ("lora = 1\n", "lora must be bool, got 1"),
        ("steps = \n", "not valid TOML"),
        ("stepz = 3\n", "unknown setting stepz; known: "),
    ],
)
def test_bad_files_are_named_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_smoke_is_valid_apart_from_the_training_stack() -> None:
    config = TrainConfig.smoke()
    problems = config._setting_problems()  # pyright: ignore[reportPrivateUsage]
    assert problems == []
    assert config.model == "tiny" and config.batch_size % config.num_generations == 0


def test_settings_whose_default_is_none_are_type_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('eval_limit = "5"\nbase_url = 5\nreward_weights = ["1", 0.5, 0.2]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith("invalid training configuration:\n  - ")
    assert "eval_limit must be int, got '5'" in message
    assert "base_url must be str, got 5" in message
    assert "reward_weights must be a list of numbers, got ['1', 0.5, 0.2]" in message


def test_none_is_accepted_only_where_the_type_allows_it(tmp_path: Path) -> None:
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"eval_limit": None, "base_url": None, "bf16": None, "reward_weights": [1, 0, 0.5]}))
    assert load_config(path).eval_limit is None
    path.write_text(json.dumps({"steps": None}))
    with pytest.raises(ConfigError, match="steps must be int, got None"):
        load_config(path)


def test_validate_reports_wrong_types_instead_of_crashing() -> None:
    config = TrainConfig(eval_limit="5")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="eval_limit must be int, got '5'"):
        config.validate()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base_url": "ftp://host"}, "base_url must start with http://, https://, ws:// or wss://"),
        ({"steps": 2, "logging_steps": 5}, r"logging_steps \(5\) must be at most steps \(2\)"),
        ({"eval_dataset": None, "eval_steps": 2}, "eval_steps needs an eval_dataset"),
        ({"eval_steps": 0}, "eval_steps must be at least 1, got 0"),
        ({"max_questions": 0}, "max_questions must be at least 1, got 0"),
        ({"sft_max_length": 8}, "sft_max_length must be at least 32, got 8"),
        ({"loss_type": "ppo"}, "loss_type must be one of dapo, grpo, dr_grpo"),
        ({"scale_rewards": "yes"}, "scale_rewards must be one of group, batch, none"),
    ],
)
def test_setting_problems_are_named(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.smoke(**overrides).validate()


def test_smoke_trains_and_evaluates_on_different_splits_and_is_bounded() -> None:
    config = TrainConfig.smoke()
    assert config.dataset.startswith("builtin:train") and config.eval_dataset is not None
    assert config.eval_dataset.startswith("builtin:eval")  # held-out databases, never the training questions
    # Whatever dataset --smoke is given, the warm start and the sequences stay small.
    big = TrainConfig.smoke(dataset="spider:/data/spider?split=dev")
    assert big.max_questions is not None and big.max_questions <= 64
    assert big.sft_max_length is not None and big.sft_max_length <= 1024
    assert big.max_completion_length <= 512 and big.eval_limit is not None and big.eval_limit <= 6


def test_a_websocket_base_url_is_accepted() -> None:
    config = TrainConfig.smoke(base_url="wss://example.org")
    assert not any("base_url" in p for p in config._input_problems())  # pyright: ignore[reportPrivateUsage]


def test_default_reward_weights_are_the_reward_functions_defaults() -> None:
    from sqlenv_train.rewards import SQLEnvRewards

    assert TrainConfig().reward_weights == list(SQLEnvRewards.default_weights)


def test_smoke_without_a_held_out_split_evaluates_nothing_during_grpo() -> None:
    assert TrainConfig.smoke().eval_steps == 2
    assert TrainConfig.smoke(eval_dataset=None).eval_steps is None  # nothing to evaluate on: no error either
