"""GRPO at a realistic size on a GPU: step time, GPU memory, and the environment's share of rollout time.

The model is built locally from a Qwen3-0.6B-sized config (28 layers, width 1024, 16 query and 8
key/value heads, Qwen3's 151,936-token vocabulary; ~0.6B parameters) with random weights: nothing
is downloaded. It uses the tiny model's tokenizer (ids beyond it are never produced after the warm
start), gets a short warm start on oracle episodes so that rollouts call tools, then runs GRPO over
in-process SQLEnv environments exactly as ``train()`` does. Reported, as one JSON object:

* ``seconds_per_step`` (mean over the timed steps, after one warm-up step);
* ``peak_gpu_memory_gib`` (``torch.cuda.max_memory_allocated``);
* ``env_share_of_rollout``: time inside SQLEnv tool calls / time in TRL's rollout (generation and
  tool calls), the goal being under 5%.

    python bench/gpu_grpo_check.py                   # on a GPU machine (bf16)
    python bench/gpu_grpo_check.py --tiny --steps 2  # CPU smoke check of the script itself

Writes the JSON to ``$OUT/gpu_grpo_check.json`` when ``$OUT`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model on CPU: checks the script runs")
    parser.add_argument("--steps", type=int, default=6, help="GRPO steps (the first one is not timed)")
    parser.add_argument("--sft-steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16, help="completions per step")
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--max-completion-length", type=int, default=1024)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--use-vllm", action="store_true", help="generate with vLLM (colocate)")
    parser.add_argument("--out", default=os.environ.get("OUT", ""))
    args = parser.parse_args()
    if args.tiny:
        args.batch_size, args.num_generations, args.max_completion_length = 4, 4, 256

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    import transformers
    import trl
    from datasets import Dataset as HFDataset

    from sqlenv_core import load
    from sqlenv_train import SQLEnvFactory, SQLEnvRewards, prompt_rows
    from sqlenv_train.sft import oracle_conversations, run_sft, sft_rows
    from sqlenv_train.tiny import build_tiny_model

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        raise SystemExit("no GPU here: run with --tiny to check the script on CPU")
    tokenizer = transformers.AutoTokenizer.from_pretrained(build_tiny_model())
    size = (
        {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 16, "vocab_size": len(tokenizer)}
        if args.tiny
        else {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 16,
              "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936}
    )  # fmt: skip
    config = transformers.Qwen3Config(
        **size,
        max_position_embeddings=40960,
        rope_theta=1_000_000,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    dtype = torch.bfloat16 if cuda else torch.float32
    model = transformers.Qwen3ForCausalLM(config).to(dtype)
    if cuda:
        model = model.to("cuda")
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    parameters = sum(p.numel() for p in model.parameters())

    data = load("builtin:train?difficulty=easy")
    started = time.perf_counter()
    sft = run_sft(model, tokenizer, sft_rows(oracle_conversations(data)), max_steps=args.sft_steps,
                  learning_rate=3e-4 if not args.tiny else 3e-3, batch_size=16, show_progress=False)  # fmt: skip
    sft_seconds = time.perf_counter() - started

    factory = SQLEnvFactory(data, step_budget=8)
    # The rollout log has a line per rollout: TRL resets (and so replaces) each environment's record.
    rollout_log = Path(tempfile.mkdtemp(prefix="sqlenv-gpu-check-")) / "rollouts.jsonl"
    rewards = SQLEnvRewards(rollout_log, max_completion_length=args.max_completion_length, transcript=False)
    grpo_args = trl.GRPOConfig(
        output_dir="/tmp/sqlenv-gpu-check", max_steps=args.steps, per_device_train_batch_size=args.batch_size,
        num_generations=args.num_generations, max_completion_length=args.max_completion_length,
        max_tool_calling_iterations=args.max_turns, learning_rate=1e-6, beta=0.0, temperature=1.0,
        chat_template_kwargs={"enable_thinking": False}, reward_weights=list(rewards.default_weights),
        logging_steps=1, report_to="none", save_strategy="no", bf16=cuda, use_cpu=not cuda, disable_tqdm=True,
        activation_checkpointing=False, use_vllm=args.use_vllm, vllm_mode="colocate",
    )  # fmt: skip

    class TimedTrainer(trl.GRPOTrainer):  # type: ignore[misc]
        """Times TRL's rollout (generation plus tool calls) and each optimiser step."""

        rollout_seconds: float = 0.0
        step_seconds: list[float]

        def _generate(self, prompts: Any) -> Any:
            begun = time.perf_counter()
            try:
                return super()._generate(prompts)
            finally:
                self.rollout_seconds += time.perf_counter() - begun

        def training_step(self, *a: Any, **k: Any) -> Any:
            begun = time.perf_counter()
            try:
                return super().training_step(*a, **k)
            finally:
                if cuda:
                    torch.cuda.synchronize()
                self.step_seconds.append(time.perf_counter() - begun)

    trainer = TimedTrainer(
        model=model, args=grpo_args, train_dataset=HFDataset.from_list(prompt_rows(data, repeat=4, shuffle_seed=0)),
        reward_funcs=rewards.functions, processing_class=tokenizer, environment_factory=factory,
    )  # fmt: skip
    trainer.step_seconds = []
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    env_seconds = sum(env.tool_seconds for env in factory.instances)
    timed = trainer.step_seconds[1:] or trainer.step_seconds
    log = [entry for entry in trainer.state.log_history if "reward" in entry]
    lines = rollout_log.read_text().splitlines() if rollout_log.exists() else []
    rollouts = [json.loads(line) for line in lines if line.strip()]
    result = {
        "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "parameters": parameters,
        "dtype": str(dtype),
        "batch_size": args.batch_size,
        "num_generations": args.num_generations,
        "max_completion_length": args.max_completion_length,
        "sft_steps": args.sft_steps,
        "sft_seconds": round(sft_seconds, 2),
        "sft_last_loss": round(sft["last_loss"], 4),
        "grpo_steps": len(trainer.step_seconds),
        "seconds_per_step": round(sum(timed) / len(timed), 3),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "rollout_seconds": round(trainer.rollout_seconds, 3),
        "env_seconds": round(env_seconds, 3),
        "env_share_of_rollout": round(env_seconds / trainer.rollout_seconds, 4) if trainer.rollout_seconds else None,
        "rollouts": len(rollouts),
        "tool_calls": sum(int(r["tool_calls"]) for r in rollouts),
        "mean_completion_length": round(
            sum(float(e.get("completions/mean_length", 0)) for e in log) / max(len(log), 1), 1
        ),
        "rates": rewards.rates(),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_grpo_check.json").write_text(text)


if __name__ == "__main__":
    main()
