"""The in-process transport: the same frames, answered by a :class:`SQLEnvironment` in this process."""

from __future__ import annotations

from sqlenv_core.datasets import Dataset
from sqlenv_core.environment import SQLEnvironment
from sqlenv_core.wire import Frame, handle_frame


class LocalTransport:
    """Runs episodes on an in-process environment; never touches the network.

    Frames are answered by :func:`sqlenv_core.wire.handle_frame`, the handler the server's routes
    use too, so a request means the same thing in-process and over the network.
    """

    def __init__(self, dataset: Dataset | str, *, step_budget: int, reward: str) -> None:
        self.env = SQLEnvironment(dataset, step_budget=step_budget, reward=reward)

    def exchange(self, message: Frame) -> Frame:
        """Answer one frame as the server would."""
        return handle_frame(self.env, message)

    def close(self) -> None:
        """Release the environment's database connection."""
        self.env.close()
