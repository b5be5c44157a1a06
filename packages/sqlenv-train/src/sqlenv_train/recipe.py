"""A training recipe that fits the GPU: full fine-tune or LoRA, dtype, batch and completion length.

:func:`recipe_for` is a pure function of the card (name, memory, compute capability), so the choice
is tested without a GPU and tabulated in docs/training.md; :func:`detect_gpu` reads the card with
torch, and :func:`recipe_for_this_machine` puts the two together (the notebook's GPU branch).

* **dtype**: bfloat16 only where the card has it natively (compute capability 8.0 or more:
  A100, L4, H100, RTX 30xx/40xx). Below that (T4 is 7.5, V100 7.0) ``torch.cuda.is_bf16_supported()``
  may still say True, by emulation, which is slow; those cards get float16 mixed precision (the
  weights stay float32 where they are trained).
* **memory**: an estimate, not a measurement (no GPU was at hand when it was written; see
  docs/training.md). Per trained parameter: 8 bytes for a bf16 full fine-tune (weights, gradients,
  AdamW's two moments), 16 for fp16 mixed precision (float32 master weights and moments); LoRA
  keeps the frozen weights (2 bytes each in bf16; 4 in float32 under fp16 mixed precision, which
  also keeps the warm start, a full fine-tune, stable) plus about 1 GB of adapters, optimiser and
  buffers. Per completion token in flight: about 1.5 MB for a Qwen3-0.6B-sized model (the logits
  and their float32 log-softmax over 151,936 tokens, ~0.9 MB, and the layers' activations). The
  CUDA context and the allocator's slack take 1.5 GB and 10% of the card. It covers the GRPO
  step; the warm start's batches are smaller.
* **choice**: the first candidate that fits, in this order of preference: longer completions first
  (multi-turn rollouts that run out of tokens end without an answer), then a full fine-tune over
  LoRA, then 8 completions per step over 4 (with more accumulation, so that an update still sees
  32 completions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["GPU", "Recipe", "detect_gpu", "estimate_memory_gb", "recipe_for", "recipe_for_this_machine"]

#: Parameters of the default model (Qwen3-0.6B), in billions.
DEFAULT_PARAMS_B = 0.6
#: Memory per completion token in flight, in GB, for a Qwen3-0.6B-sized model (see the module docstring).
GB_PER_TOKEN = 1.5e-3
_CONTEXT_GB = 1.5
_SLACK = 0.10
_LORA_EXTRA_GB = 1.0
#: Completions per optimiser update that every recipe keeps (batch x accumulation).
COMPLETIONS_PER_UPDATE = 32


@dataclass(frozen=True)
class GPU:
    """A card: its name, memory in GB and CUDA compute capability (major, minor)."""

    name: str
    memory_gb: float
    capability: tuple[int, int]


@dataclass(frozen=True)
class Recipe:
    """What :func:`recipe_for` chose, and why (``overrides()`` gives the ``TrainConfig`` settings)."""

    lora: bool
    dtype: str  # "bf16", "fp16" or "fp32"
    batch_size: int
    num_generations: int
    gradient_accumulation_steps: int
    max_completion_length: int
    estimated_memory_gb: float
    reason: str

    def overrides(self) -> dict[str, Any]:
        """The ``TrainConfig`` fields this recipe sets: ``TrainConfig(**recipe.overrides(), ...)``."""
        return {
            "lora": self.lora,
            "bf16": self.dtype == "bf16",
            "fp16": self.dtype == "fp16",
            "batch_size": self.batch_size,
            "num_generations": self.num_generations,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "max_completion_length": self.max_completion_length,
        }


def dtype_for(capability: tuple[int, int]) -> str:
    """``bf16`` at compute capability 8.0 or more (native bfloat16), else ``fp16``; ``fp32`` before 6.0."""
    if capability >= (8, 0):
        return "bf16"
    return "fp16" if capability >= (6, 0) else "fp32"


def estimate_memory_gb(
    *, lora: bool, dtype: str, batch_size: int, max_completion_length: int, params_b: float = DEFAULT_PARAMS_B
) -> float:
    """Peak GPU memory of a GRPO step, estimated as the module docstring says (GB)."""
    if lora:
        static = params_b * (2.0 if dtype == "bf16" else 4.0) + _LORA_EXTRA_GB
    else:
        static = params_b * {"bf16": 8.0, "fp16": 16.0, "fp32": 16.0}[dtype]
    activations = batch_size * max_completion_length * GB_PER_TOKEN * (2.0 if dtype == "fp32" else 1.0)
    return round(static + activations, 1)


def recipe_for(
    name: str, memory_gb: float, capability: tuple[int, int], *, params_b: float = DEFAULT_PARAMS_B
) -> Recipe:
    """The recipe for a card with ``memory_gb`` of memory and compute ``capability`` (see the module docstring).

    Example:
        >>> recipe_for("Tesla T4", 15.0, (7, 5)).dtype
        'fp16'
        >>> recipe_for("NVIDIA A100-SXM4-40GB", 40.0, (8, 0)).lora
        False
    """
    dtype = dtype_for(capability)
    usable = memory_gb * (1 - _SLACK) - _CONTEXT_GB
    for length in (2048, 1536, 1024, 768, 512):
        for batch in (8, 4):
            for lora in (False, True):
                need = estimate_memory_gb(
                    lora=lora, dtype=dtype, batch_size=batch, max_completion_length=length, params_b=params_b
                )
                if need <= usable:
                    return Recipe(
                        lora=lora,
                        dtype=dtype,
                        batch_size=batch,
                        num_generations=batch,
                        gradient_accumulation_steps=COMPLETIONS_PER_UPDATE // batch,
                        max_completion_length=length,
                        estimated_memory_gb=need,
                        reason=(
                            f"{name}: {memory_gb:.0f} GB, compute capability {capability[0]}.{capability[1]} -> "
                            f"{'LoRA' if lora else 'full fine-tune'} in {dtype}, {batch} completions of up to "
                            f"{length} tokens per step (estimated {need:.1f} of {usable:.1f} GB usable)"
                        ),
                    )
    raise ValueError(
        f"{name} ({memory_gb:.0f} GB) is too small for a {params_b}B model even with LoRA, 4 completions "
        "of 512 tokens: use a smaller model or a larger card"
    )


def detect_gpu() -> GPU | None:
    """The first CUDA device as torch sees it (``None`` without one, or without torch)."""
    import importlib

    try:
        torch: Any = importlib.import_module("torch")
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props: Any = torch.cuda.get_device_properties(0)
    return GPU(str(props.name), float(props.total_memory) / 1e9, (int(props.major), int(props.minor)))


def recipe_for_this_machine(*, params_b: float = DEFAULT_PARAMS_B) -> Recipe | None:
    """:func:`recipe_for` the GPU here (``None`` on a machine without one)."""
    gpu = detect_gpu()
    return None if gpu is None else recipe_for(gpu.name, gpu.memory_gb, gpu.capability, params_b=params_b)
