"""SQLEnv as a verifiers (v1) environment: ``vf-eval sqlenv-verifiers``.

The taskset turns any SQLEnv dataset spec into tasks; every rollout gets its own tool server
holding one SQLEnv episode (in-process, or a session on a SQLEnv server), whose four tools the
model calls natively; the reward is the return SQLEnv paid, step by step.
"""

from sqlenv_verifiers.taskset import SQLEnvHarness, SQLEnvTaskset

__all__ = ["SQLEnvHarness", "SQLEnvTaskset"]
