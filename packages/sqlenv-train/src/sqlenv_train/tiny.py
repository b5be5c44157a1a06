"""A tiny Qwen3-style model and tokenizer, built locally: offline tests, CI and the notebook's smoke mode.

Nothing can download weights here, so :func:`build_tiny_model` makes a model from scratch:

* a byte-level BPE tokenizer trained with ``tokenizers`` on the text the model will read and
  write — the built-in pack's conversations (system prompt, tool schemas, questions, oracle tool
  calls and tool results) rendered with the Qwen3 chat template — so prompts stay short;
* Qwen3's special tokens and TRL's copy of the Qwen3 chat template (TRL recognises it, parses its
  tool calls and swaps in its prefix-preserving training template);
* a randomly initialised ``Qwen3ForCausalLM`` (2 layers, width 64 by default: ~0.4M parameters).

The build is deterministic (fixed corpus order and seed) and cached: the folder name carries a
hash of everything that goes into it, so a second call returns at once.

Needs the ``train`` extra (torch, transformers, tokenizers, trl).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlenv_train._deps import require

__all__ = ["TinyModelSpec", "build_tiny_model", "cache_dir", "chat_corpus"]

#: Qwen3's special tokens; the first two delimit turns, the rest are plain added tokens (as in Qwen3).
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
ADDED_TOKENS = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>")
_FORMAT_VERSION = 2


def cache_dir() -> Path:
    """Where built models are kept: SQLEnv's cache folder (``$SQLENV_CACHE_DIR``, else the user's cache).

    With the cache turned off (``SQLENV_CACHE_DIR=off``) models go to a folder under the system's
    temporary directory, so they are still built only once per machine boot.
    """
    from sqlenv_core.datasets.gold_cache import default_cache_dir

    return default_cache_dir() or Path(tempfile.gettempdir()) / "sqlenv-models"


@dataclass(frozen=True)
class TinyModelSpec:
    """The size of the tiny model. The defaults train a few GRPO steps in seconds on 2 CPU cores.

    Attributes:
        vocab_size: BPE vocabulary (special and added tokens included).
        hidden_size: model width.
        intermediate_size: MLP width.
        num_hidden_layers: transformer blocks.
        num_attention_heads: query heads.
        num_key_value_heads: key/value heads (grouped-query attention, as in Qwen3).
        max_position_embeddings: longest sequence.
        seed: initialisation seed.
        word_tokens: split text into words, punctuation and spaces before BPE, and keep each line
            of the fixed text (system prompt, tool schemas, the template's instructions) as one
            token. A name then tokenizes the same wherever it appears (in the question, the
            table list, a tool call, SQL), which a model needs to copy names it never saw; the
            default (``False``) lets merges span words, which compresses the built-in pack's
            text best but makes whole tool-call lines single tokens.
        letter_tokens: with ``word_tokens``, every letter is its own token (no merges inside words):
            a name the model never saw is then made of tokens it knows well, and copying it is
            letter-by-letter induction, the easiest copying there is for a small transformer.
            Sequences get about twice as long.
    """

    vocab_size: int = 4096
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 4096
    seed: int = 0
    word_tokens: bool = False
    letter_tokens: bool = False


def qwen3_chat_template() -> str:
    """TRL's copy of the Qwen3 chat template (so TRL recognises it and parses its tool calls)."""
    trl = require("trl")
    path = Path(trl.__file__).parent / "chat_templates" / "qwen3.jinja"
    return path.read_text(encoding="utf-8")


def chat_corpus(dataset_spec: str = "builtin") -> list[list[dict[str, Any]]]:
    """Oracle conversations over a dataset: what the tiny tokenizer is trained on.

    Each is system prompt, the start text, a DESCRIBE of the first table, the gold query and its
    result, the answer and the verdict — the shapes of text a model reads and writes in SQLEnv.
    """
    from sqlenv_train.sft import oracle_conversations

    return [c.messages for c in oracle_conversations(dataset_spec, describe_first=True)]


def _tool_schemas() -> list[dict[str, Any]]:
    from sqlenv_train.adapter import trl_tool_schemas

    return trl_tool_schemas()


def _key(spec: TinyModelSpec, template: str, corpus: list[list[dict[str, Any]]]) -> str:
    transformers = require("transformers")
    tokenizers = require("tokenizers")
    payload = json.dumps(
        {
            "format": _FORMAT_VERSION,
            "spec": asdict(spec),
            "template": template,
            "corpus": corpus,
            "tools": _tool_schemas(),
            "versions": [transformers.__version__, tokenizers.__version__],
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_tiny_model(
    out_dir: str | Path | None = None,
    spec: TinyModelSpec | None = None,
    *,
    dataset_spec: str = "builtin",
    force: bool = False,
) -> Path:
    """Build (or find in the cache) the tiny model and tokenizer; returns the folder to load them from.

    ``AutoModelForCausalLM.from_pretrained(path)`` and ``AutoTokenizer.from_pretrained(path)`` load
    the result, and every ``sqlenv-train`` command takes the path as ``--model``.

    Args:
        out_dir: where to write it (default: a folder under :func:`cache_dir` named by a hash of
            the spec, the corpus, the chat template and the library versions).
        spec: the model's size (default :class:`TinyModelSpec`).
        dataset_spec: the dataset whose conversations train the tokenizer.
        force: rebuild even when the folder is complete.
    """
    spec = spec or TinyModelSpec()
    template = qwen3_chat_template()
    corpus = chat_corpus(dataset_spec)
    target = Path(out_dir) if out_dir is not None else cache_dir() / f"tiny-qwen3-{_key(spec, template, corpus)}"
    marker = target / "sqlenv_tiny.json"
    if marker.is_file() and not force:
        return target
    torch = require("torch")
    transformers = require("transformers")
    tokenizer = _train_tokenizer(spec, template, corpus)
    config = transformers.Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.hidden_size // spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    torch.manual_seed(spec.seed)
    model = transformers.Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = [config.eos_token_id, config.pad_token_id]
    model.generation_config.pad_token_id = config.pad_token_id
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    parameters = sum(p.numel() for p in model.parameters())
    info = {"spec": asdict(spec), "parameters": parameters, "vocab_size": len(tokenizer), "dataset": dataset_spec}
    (tmp / "sqlenv_tiny.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    if target.exists():
        import shutil

        shutil.rmtree(target)
    tmp.rename(target)
    return target


def _train_tokenizer(spec: TinyModelSpec, template: str, corpus: list[list[dict[str, Any]]]) -> Any:
    tokenizers = require("tokenizers")
    transformers = require("transformers")
    tools = _tool_schemas()
    # Render the corpus with the chat template, as TRL will; a throwaway tokenizer carries the template.
    blank = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=None))
    render = transformers.PreTrainedTokenizerFast(tokenizer_object=blank, chat_template=template)
    texts: list[str] = []
    for messages in corpus:
        rendered = render.apply_chat_template(
            messages, tools=tools, tokenize=False, add_generation_prompt=False, enable_thinking=False
        )
        texts.append(str(rendered))
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=None))
    if spec.word_tokens:
        return _word_tokenizer(spec, template, texts, tools)
    # Split before runs of line breaks only (no GPT-style regex pre-split): merges may span spaces
    # and punctuation, so the template's fixed text and the tool schemas compress into few tokens
    # and prompts stay short; identical lines across the corpus are counted once, which keeps
    # training fast; and "\n\n" (after <think>) and "\n{..." (after <tool_call>) are different
    # tokens, so even a 2-layer model can tell where it is in a turn.
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.Sequence(
        [
            tokenizers.pre_tokenizers.Split(tokenizers.Regex("\n+"), behavior="merged_with_next"),
            tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = _bpe_trainer(tokenizers, spec)
    bpe.train_from_iterator(texts, trainer=trainer)
    # Qwen3 marks only <|endoftext|>, <|im_start|> and <|im_end|> special: decoding with
    # skip_special_tokens keeps "<tool_call>" text, so a malformed call stays visible.
    bpe.add_tokens([tokenizers.AddedToken(t, special=False, normalized=False) for t in ADDED_TOKENS])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=template,
        model_max_length=spec.max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )
    return tokenizer


def _bpe_trainer(tokenizers: Any, spec: TinyModelSpec) -> Any:
    """The BPE trainer both tokenizers use: ``spec``'s vocabulary, the special tokens, every byte."""
    return tokenizers.trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )


def _fixed_lines(texts: list[str]) -> list[str]:
    """Lines (with their leading line breaks) of the system turn longer than 24 characters, common to every text."""
    import re

    common: set[str] | None = None
    for text in texts:
        system = text.split("<|im_end|>", 1)[0]
        lines = {m.group(0) for m in re.finditer(r"\n*[^\n]+", system) if len(m.group(0)) > 24}
        common = lines if common is None else common & lines
    return sorted(common or (), key=lambda line: (-len(line), line))


def _word_tokenizer(spec: TinyModelSpec, template: str, texts: list[str], tools: list[dict[str, Any]]) -> Any:
    """BPE within words; the fixed text of every conversation (system prompt, tool schemas) as added tokens."""
    del tools  # already rendered into ``texts``
    tokenizers = require("tokenizers")
    transformers = require("transformers")
    fixed = _fixed_lines(texts)
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=None))
    words = r"[A-Za-z]|[0-9]|[^A-Za-z0-9\s]+|\s+" if spec.letter_tokens else r"[A-Za-z]+|[0-9]|[^A-Za-z0-9\s]+|\s+"
    # Words (letters, digits, underscore), runs of punctuation, and whitespace are separate pieces:
    # "shops" is the same token(s) after "Tables: ", inside a JSON string and after FROM.
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.Sequence(
        [
            tokenizers.pre_tokenizers.Split(tokenizers.Regex(words), behavior="isolated"),
            tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = _bpe_trainer(tokenizers, spec)
    # The fixed lines become added tokens below: leave them out of the BPE statistics.
    stripped = list(texts)
    for line in fixed:
        stripped = [text.replace(line, "\n") for text in stripped]
    bpe.train_from_iterator(stripped, trainer=trainer)
    added = [*ADDED_TOKENS, *fixed]
    bpe.add_tokens([tokenizers.AddedToken(t, special=False, normalized=False) for t in added])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=template,
        model_max_length=spec.max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )
