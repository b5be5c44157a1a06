"""SQLEnv training and evaluation: GRPO with TRL, baseline and model policies, evaluation reports.

``import sqlenv_train`` never imports torch: the baselines, the evaluation harness, the TRL
environment adapter, the reward functions and :class:`LLMPolicy` are plain Python. Training
(:func:`train`), :class:`HFPolicy` and the tiny local model need the ``train`` extra
(``pip install "sqlenv-train[train]"``) and import it on first use, not when their modules load.
"""

from __future__ import annotations

from sqlenv_train.adapter import RolloutRecord, ServerCapacityError, SQLEnvFactory, SQLEnvToolEnvironment, prompt_rows
from sqlenv_train.chat import ChatPolicy
from sqlenv_train.evaluate import EpisodeRecord, EvalReport, evaluate, wilson_interval
from sqlenv_train.hf import HFPolicy
from sqlenv_train.llm import LLMError, LLMPolicy
from sqlenv_train.policies import OraclePolicy, Policy, RandomPolicy
from sqlenv_train.rewards import SQLEnvRewards
from sqlenv_train.sft import ScriptedOraclePolicy, episode_conversations, oracle_conversations, write_sft_data
from sqlenv_train.tiny import build_tiny_model
from sqlenv_train.training import ConfigError, TrainConfig, TrainResult, load_config, train

__version__ = "0.1.0"

__all__ = [
    "ChatPolicy",
    "ConfigError",
    "EpisodeRecord",
    "EvalReport",
    "HFPolicy",
    "LLMError",
    "LLMPolicy",
    "OraclePolicy",
    "Policy",
    "RandomPolicy",
    "RolloutRecord",
    "SQLEnvFactory",
    "SQLEnvRewards",
    "SQLEnvToolEnvironment",
    "ScriptedOraclePolicy",
    "ServerCapacityError",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "build_tiny_model",
    "episode_conversations",
    "evaluate",
    "load_config",
    "oracle_conversations",
    "prompt_rows",
    "train",
    "wilson_interval",
    "write_sft_data",
]
