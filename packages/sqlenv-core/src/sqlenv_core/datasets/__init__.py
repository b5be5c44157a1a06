"""Datasets: questions, databases and gold answers from the built-in pack, Spider, BIRD or a folder."""

from sqlenv_core.datasets.base import Dataset, DatasetError, Question, SkippedQuestion
from sqlenv_core.datasets.bird import load_bird
from sqlenv_core.datasets.builtin import builtin
from sqlenv_core.datasets.directory import load_dir
from sqlenv_core.datasets.gold_cache import GoldCache
from sqlenv_core.datasets.spec import load, parse_spec
from sqlenv_core.datasets.spider import load_spider

__all__ = [
    "Dataset",
    "DatasetError",
    "GoldCache",
    "Question",
    "SkippedQuestion",
    "builtin",
    "load",
    "load_bird",
    "load_dir",
    "load_spider",
    "parse_spec",
]
