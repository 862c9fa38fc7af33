"""Tokenizers: a pretrained one by name, or a small subword one trained on the training text.

Training from scratch needs a tokenizer that needs no download. Byte-level tokens make
sequences 5-7x longer (slow, and they collapsed in our CPU trials), so we train a BPE with
`tokenizers` on the run's own training text: seconds for the mini decathlon. Punctuation is
split off; digits are kept together by default, so frequent numbers (years, ages) are single
pieces that can be copied in one step (``split_digits=True`` splits them one by one).
"""
from __future__ import annotations

from typing import Callable, Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from decaqa.errors import CheckpointError, ConfigError, remote_code_refused

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"  # T5's ids 0, 1, 2: decoder_start_token_id = pad


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000,
                    split_digits: bool = False) -> PreTrainedTokenizerFast:
    """Train a T5-style BPE (pad=0, eos=1, unk=2, eos appended) on ``texts``."""
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = normalizers.NFKC()
    steps = [pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
             pre_tokenizers.Punctuation()]
    if split_digits:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, EOS, UNK],
                                  min_frequency=2, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}",
        special_tokens=[(EOS, tok.token_to_id(EOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS,
                                   unk_token=UNK, model_max_length=100_000)


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False
                   ) -> PreTrainedTokenizerBase:
    """A pretrained tokenizer (hub name or local folder / tokenizer.json); one that asks to
    run its own code is refused unless ``trust_remote_code``."""
    try:
        if name_or_path.endswith(".json"):
            return PreTrainedTokenizerFast(tokenizer_file=name_or_path, pad_token=PAD,
                                           eos_token=EOS, unk_token=UNK)
        return AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    except Exception as err:
        remote_code_refused(name_or_path, err)
        raise CheckpointError(f"Could not load a tokenizer from '{name_or_path}' "
                              f"({type(err).__name__}); give a hub name, a model folder with "
                              "tokenizer files, or a tokenizer.json.") from err


def build_tokenizer(model: str | None = None, tokenizer: str | None = None,
                    vocab_size: int = 4000, split_digits: bool = False,
                    texts: Callable[[], Iterable[str]] | None = None,
                    trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The run's tokenizer, built once: the one named, the pretrained model's own, or a BPE
    trained on ``texts()`` (the training split's inputs and answers) for a model from scratch.
    """
    if tokenizer:
        return load_tokenizer(tokenizer, trust_remote_code)
    if model:
        return load_tokenizer(model, trust_remote_code)
    if texts is None:
        raise ConfigError("A model from scratch trains its tokenizer on the training text; run "
                          "it with a decaqa data module (or give model.tokenizer).")
    return train_tokenizer(texts(), vocab_size, split_digits)


def to_string(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """The tokenizer as one string (fast tokenizers; None otherwise): how a checkpoint keeps
    it (`decaqa.store`)."""
    return tokenizer.backend_tokenizer.to_str() if tokenizer.is_fast else None


def from_string(saved: str) -> PreTrainedTokenizerBase:
    """The tokenizer `to_string` wrote, as it was: restored, never retrained."""
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(saved), pad_token=PAD,
                                   eos_token=EOS, unk_token=UNK, model_max_length=100_000)
