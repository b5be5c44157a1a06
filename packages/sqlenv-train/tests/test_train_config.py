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
