"""The recipe that fits the card: a pure function of name, memory and compute capability."""

from __future__ import annotations

import dataclasses

import pytest

from sqlenv_train.recipe import COMPLETIONS_PER_UPDATE, dtype_for, estimate_memory_gb, recipe_for
from sqlenv_train.training import TrainConfig

# What torch reports for each card (total memory in GB, compute capability): the table of docs/training.md.
CARDS = {
    "Tesla T4": (15.6, (7, 5)),
    "NVIDIA L4": (23.0, (8, 9)),
    "NVIDIA A100-SXM4-40GB": (42.4, (8, 0)),
    "NVIDIA A100-SXM4-80GB": (85.0, (8, 0)),
    "NVIDIA H100 80GB HBM3": (85.0, (9, 0)),
}


def test_bf16_only_where_the_card_has_it_natively() -> None:
    assert dtype_for((7, 5)) == "fp16"  # T4: torch.cuda.is_bf16_supported() may say True, by emulation
    assert dtype_for((7, 0)) == "fp16"
    assert dtype_for((8, 0)) == "bf16" and dtype_for((8, 9)) == "bf16" and dtype_for((9, 0)) == "bf16"
    assert dtype_for((5, 2)) == "fp32"


@pytest.mark.parametrize("name", CARDS)
def test_every_card_gets_a_recipe_within_its_memory(name: str) -> None:
    memory, capability = CARDS[name]
    recipe = recipe_for(name, memory, capability)
    assert recipe.estimated_memory_gb <= memory * 0.9 - 1.5
    assert recipe.batch_size * recipe.gradient_accumulation_steps == COMPLETIONS_PER_UPDATE
    assert recipe.dtype == dtype_for(capability)
    # The recipe is a valid configuration (every setting it gives is a TrainConfig field).
    config = TrainConfig(**recipe.overrides())
    assert config._setting_problems() == []  # pyright: ignore[reportPrivateUsage]
    assert set(recipe.overrides()) <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_the_free_colab_t4_gets_lora_in_fp16_and_big_cards_a_full_fine_tune() -> None:
    t4 = recipe_for("Tesla T4", *CARDS["Tesla T4"])
    assert t4.lora and t4.dtype == "fp16" and not t4.overrides()["bf16"] and t4.overrides()["fp16"]
    # The notebook's old GPU branch (full fine-tune, 8 x 2048 tokens) does not fit a T4.
    assert estimate_memory_gb(lora=False, dtype="fp16", batch_size=8, max_completion_length=2048) > 16
    for name in ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"):
        big = recipe_for(name, *CARDS[name])
        assert not big.lora and big.dtype == "bf16"
        assert (big.batch_size, big.max_completion_length) == (8, 2048)


def test_more_memory_never_gets_a_smaller_recipe() -> None:
    previous = (0, 0, False)
    for memory in range(10, 90, 2):
        r = recipe_for("card", float(memory), (8, 0))
        rank = (r.max_completion_length, r.batch_size, not r.lora)
        assert rank >= previous
        previous = rank


def test_a_card_too_small_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="too small"):
        recipe_for("tiny card", 4.0, (7, 5))


def test_the_table_in_docs_training_md_is_what_the_function_says() -> None:
    from pathlib import Path

    docs = Path(__file__).resolve().parents[3] / "docs" / "training.md"
    section = docs.read_text().split("## A recipe that fits the card", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    names = dict(zip(["T4 (Colab free)", "L4", "A100 40 GB", "A100 80 GB", "H100 80 GB"], CARDS, strict=True))
    assert len(rows) == len(names)
    for row in rows:
        label, memory, capability, training, dtype, batches, length, peak = [
            c.strip() for c in row.strip("|").split("|")
        ]
        recipe = recipe_for(names[label], float(memory), tuple(int(p) for p in capability.split(".")))  # type: ignore[arg-type]
        assert (memory, capability) == (f"{CARDS[names[label]][0]:g}", "{}.{}".format(*CARDS[names[label]][1]))
        assert training == ("LoRA" if recipe.lora else "full fine-tune") and dtype == recipe.dtype
        assert batches == f"{recipe.batch_size} x {recipe.gradient_accumulation_steps}"
        assert int(length) == recipe.max_completion_length and float(peak) == recipe.estimated_memory_gb
