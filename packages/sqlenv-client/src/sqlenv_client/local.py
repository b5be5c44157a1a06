"""In-process transports: the same frames, answered by a :class:`SQLEnvironment` in this process.

Frames are answered by :func:`sqlenv_core.wire.handle_frame`, the handler the server's routes use
too, so a request means the same thing in-process and over the network. Pass one to a client as
``transport=`` (``SQLEnvClient.local(...)`` does exactly that).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal

from sqlenv_core.wire import Frame, handle_frame

if TYPE_CHECKING:
    from sqlenv_core.datasets import Dataset
    from sqlenv_core.environment import SQLEnvironment

__all__ = ["AsyncLocalTransport", "LocalTransport"]


class LocalTransport:
    """Runs episodes on an in-process environment; never touches the network.

    Args:
        dataset: a :class:`~sqlenv_core.datasets.Dataset` or a spec for :func:`sqlenv_core.load`.
        step_budget: exploring actions allowed per episode.
        reward: the reward profile, ``"dense"`` or ``"sparse"``.
        reveal_rewards: ``"step"`` or ``"episode"`` (see :class:`~sqlenv_core.environment.SQLEnvironment`).
    """

    def __init__(
        self,
        dataset: Dataset | str = "builtin",
        *,
        step_budget: int = 15,
        reward: str = "dense",
        reveal_rewards: Literal["step", "episode"] = "step",
    ) -> None:
        # The engine is imported only here: a client that talks to a server never loads it.
        from sqlenv_core.environment import SQLEnvironment

        self.env: SQLEnvironment = SQLEnvironment(
            dataset, step_budget=step_budget, reward=reward, reveal_rewards=reveal_rewards
        )

    def exchange(self, message: Frame) -> Frame:
        """Answer one frame as the server would."""
        return handle_frame(self.env, message)

    def close(self) -> None:
        """Release the environment's database connection (it reopens on the next reset)."""
        self.env.close()


class AsyncLocalTransport:
    """The in-process environment for the async client, run on one worker thread.

    The event loop never blocks on SQLite; one thread, always the same, because SQLite
    connections belong to the thread that opened them. Takes the same arguments as
    :class:`LocalTransport` (or an existing one).
    """

    def __init__(
        self,
        dataset: Dataset | str | LocalTransport = "builtin",
        *,
        step_budget: int = 15,
        reward: str = "dense",
        reveal_rewards: Literal["step", "episode"] = "step",
    ) -> None:
        self.local = (
            dataset
            if isinstance(dataset, LocalTransport)
            else LocalTransport(dataset, step_budget=step_budget, reward=reward, reveal_rewards=reveal_rewards)
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlenv-local")

    async def exchange(self, message: Frame) -> Frame:
        """Answer one frame on the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.local.exchange, message)

    async def aclose(self) -> None:
        """Release the environment and the worker thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.local.close)
        self._executor.shutdown(wait=True)
