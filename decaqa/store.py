"""The run's files: the one owner of what a checkpoint holds beside Lightning's own keys and of
an export folder (``runs/<name>/model`` or ``runs/<name>/adapters``), both reading and writing.

* **decaqa.json** is `ExportInfo`, a typed dataclass with a format version: what answering
  needs besides the weights (input format, limits, batching, per-task caps, precision,
  decoding) and, for an adapters folder, the adapters and their base. Version 1 is the file
  the releases before this module wrote (no ``format_version`` key); it reads as it is.
* **A checkpoint** is Lightning's, plus decaqa's keys (`TOKENIZER`, `INFO`, `ADAPTERS`,
  `RNG`), written by `fill_checkpoint` and read by the ``checkpoint_*`` functions below; it
  is read as data only (`read_checkpoint`: ``weights_only=True``).
* **Loading** a model to answer (`load`): an export folder, any HF seq2seq model, a ``.ckpt``,
  or adapters over their base, as a `Loaded` (network, tokenizer, info, adapters). The network
  is assembled by `decaqa.network.build_network`, the one builder.

Needs neither Lightning nor `datasets`, so ``decaqa.load`` stays light.
"""
from __future__ import annotations

import functools
import json
import pickle
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from decaqa.errors import CheckpointError, ConfigError
from decaqa.example import DEFAULT_FORMAT

FORMAT_VERSION = 2         # 1: the files written before this module (no format_version key)
EXPORT_FILE = "decaqa.json"

# decaqa's keys in a Lightning checkpoint
TOKENIZER = "decaqa_tokenizer"   # the run's tokenizer, serialised (fast tokenizers)
INFO = "decaqa_info"             # ExportInfo's fields: what answering needs
ADAPTERS = "decaqa_adapters"     # the adapters' settings and tasks (the weights are theirs alone)
RNG = "decaqa_rng"               # every rank's random state, for an exact resume

# answering's defaults, for a model that records none (any HF seq2seq model)
MAX_SOURCE_TOKENS = 512
MAX_NEW_TOKENS = 64
NUM_BEAMS = 1
EVAL_BATCH_SIZE = 64
PRECISION = "32-true"


@dataclass
class Generation:
    """Decoding settings: the default answer cap (a task's own cap overrides it), the default
    beams, and the tasks answered with beams of their own (``task_beams``)."""

    max_new_tokens: int = MAX_NEW_TOKENS
    num_beams: int = NUM_BEAMS
    task_beams: dict[str, int] = field(default_factory=dict)

    def with_beams(self, num_beams: int | None) -> "Generation":
        """These settings with every task answered with ``num_beams`` beams, tasks with beams
        of their own included (``--num-beams N`` of evaluate, ask and serve); None: as they
        are."""
        check_num_beams(num_beams)
        return self if num_beams is None else Generation(self.max_new_tokens, num_beams, {})


def check_beams(widths: Mapping[str, Any]) -> None:
    """Every beam width (``{setting: width}``: a run's ``model.num_beams`` and
    ``model.task_beams``, ``--num-beams``, a loaded model's own) is a whole number of at least 1;
    else one sentence naming each bad one."""
    bad = [f"{k} = {b!r}" for k, b in widths.items()
           if isinstance(b, bool) or not isinstance(b, int) or b < 1]
    if bad:
        raise ConfigError(f"{', '.join(bad)}: beams are whole numbers of at least 1 (1: "
                          "greedy).")


def check_task_beams(task_beams: Mapping[str, int] | None, tasks_dir: Any = None,
                     known: Any = (), setting: str = "model.task_beams",
                     by: str = "decaqa") -> None:
    """Every task ``task_beams`` names is one decaqa knows (built in, or in ``tasks_dir``) or
    one of ``known`` (a loaded model's own): a misspelt name would otherwise be answered
    greedily without a word. A known task a run does not train is allowed, so one config
    serves subsets of its tasks. ``setting`` and ``by`` word the sentence."""
    from decaqa.errors import TaskError
    from decaqa.tasks import get_task

    for name in [n for n in task_beams or {} if n not in set(known)]:
        try:
            get_task(name, tasks_dir)
        except TaskError as err:
            raise ConfigError(f"{setting} names a task {by} does not know: {err}") from None


def check_num_beams(num_beams: int | None) -> None:
    """``--num-beams N``: None (the run's own decoding) or a whole number of at least 1."""
    if num_beams is not None:
        check_beams({"--num-beams": num_beams})


def generation_of(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """A run's decoding settings from its hyperparameters (`Seq2SeqQA`'s, live or read from a
    checkpoint; an older run without one of them gets its default): what decaqa.json's
    ``generation`` and the provenance record."""
    return {"max_new_tokens": hparams.get("max_new_tokens", MAX_NEW_TOKENS),
            "num_beams": hparams.get("num_beams", NUM_BEAMS),
            "task_beams": dict(hparams.get("task_beams") or {})}


@dataclass
class ExportInfo:
    """decaqa.json: what answering needs beside the weights, as the run recorded it.

    tasks: per task ``{metrics, question, paraphrases, choices, max_new_tokens, trained, ...}``
        (`decaqa.data.TaskDataModule.task_info`).
    adapter, base, base_fingerprint: an adapters folder's adapters
        (`decaqa.adapters.Adapters.info`), the base they go over (a full local path, or a hub
        name) and that base's `fingerprint` (its weights' hash; None for a hub name).
    extra: keys this release does not know (written by a later one), kept as they were.
    """

    input_format: str = DEFAULT_FORMAT
    max_source_tokens: int = MAX_SOURCE_TOKENS
    eval_batch_size: int = EVAL_BATCH_SIZE
    eval_max_tokens: int | None = None
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    precision: str = PRECISION
    generation: Generation = field(default_factory=Generation)
    decaqa_version: str | None = None
    adapter: dict[str, Any] | None = None
    base: str | None = None
    base_fingerprint: str | None = None
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "decaqa.json") -> "ExportInfo":
        """From a decaqa.json's mapping (version 1, without the key, included)."""
        data = dict(data)
        version = int(data.pop("format_version", 1))
        if version > FORMAT_VERSION:
            raise CheckpointError(f"{where} is format {version}, written by a newer decaqa than "
                                  f"this one (format {FORMAT_VERSION}); upgrade decaqa "
                                  "(pip install -U decaqa).")
        known = {f.name for f in fields(cls)} - {"extra", "format_version"}
        values = {k: data.pop(k) for k in list(data) if k in known}
        if isinstance(values.get("generation"), Mapping):
            gen = values["generation"]
            values["generation"] = Generation(
                int(gen.get("max_new_tokens", MAX_NEW_TOKENS)),
                int(gen.get("num_beams", NUM_BEAMS)),
                {str(t): int(b) for t, b in (gen.get("task_beams") or {}).items()})
        for key in ("max_source_tokens", "eval_batch_size"):
            if values.get(key) is not None:
                values[key] = int(values[key])
        values = {k: v for k, v in values.items() if v is not None or k in ("eval_max_tokens",)}
        return cls(**values, format_version=version, extra=data)

    def to_dict(self) -> dict[str, Any]:
        """The mapping decaqa.json holds (the current format version)."""
        out = asdict(self)
        out.pop("extra")
        out["format_version"] = FORMAT_VERSION
        if self.adapter is None:
            out.pop("adapter"), out.pop("base"), out.pop("base_fingerprint")
        return {**out, **self.extra}

    @classmethod
    def read(cls, folder: str | Path) -> "ExportInfo":
        """A folder's decaqa.json, or the defaults for a folder decaqa did not write."""
        file = Path(folder) / EXPORT_FILE
        if not file.exists():
            return cls()
        try:
            data = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{file} is not valid JSON ({type(err).__name__}); export "
                                  "the run again.") from err
        return cls.from_dict(data, str(file))

    def write(self, folder: str | Path) -> Path:
        file = Path(folder) / EXPORT_FILE
        file.write_text(json.dumps(self.to_dict(), indent=2))
        return file

    # -- facts answering asks of it --------------------------------------------------------
    @property
    def trained_tasks(self) -> list[str]:
        """The tasks the model was trained on (not those only validated)."""
        return [n for n, t in self.tasks.items() if t.get("trained", True)]

    @property
    def caps(self) -> dict[str, int]:
        """Each task's answer cap, where the run recorded one."""
        return {n: int(t["max_new_tokens"]) for n, t in self.tasks.items()
                if t.get("max_new_tokens")}

    def task_of(self, question: str) -> str | None:
        """The task whose question (canonical or a paraphrase, its ``{slots}`` matching any
        text; case and spacing aside) ``question`` is, or None: for no task's, and for one
        that two tasks share (a guess there would pick an adapter and a cap silently)."""
        said = _plain(question)
        found = {name for name, t in self.tasks.items()
                 for q in [t.get("question"), *(t.get("paraphrases") or [])]
                 if q and _question_pattern(q).fullmatch(said)}
        return found.pop() if len(found) == 1 else None


def _plain(text: str) -> str:
    return " ".join(str(text).split()).casefold()


@functools.lru_cache(maxsize=1024)
def _question_pattern(question: str) -> re.Pattern[str]:
    """A task's question as a pattern: its words as they are, each ``{slot}`` any text."""
    parts = re.split(r"\{[A-Za-z_]\w*\}", _plain(question))
    return re.compile(".+?".join(re.escape(part) for part in parts), re.DOTALL)


# -- checkpoints ---------------------------------------------------------------------------------
def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint as data only (``weights_only=True``: tensors and plain containers,
    never an unpickled object, so a payload hidden in the file cannot run); one clear
    sentence for a missing, corrupt, truncated or unsafe file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist; check the path (runs/<name>/"
                              "checkpoints/best.ckpt).")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        # weights_only refuses a pickled object by naming its GLOBAL; anything else is bytes
        # that are not a whole checkpoint
        if isinstance(err, pickle.UnpicklingError) and "GLOBAL" in str(err):
            raise CheckpointError(f"Checkpoint {path} holds Python objects, not only data (weights, "
                                  "numbers, strings); decaqa does not unpickle those, as they can "
                                  "run code: use a checkpoint written by decaqa fit.") from err
        raise CheckpointError(f"Checkpoint {path} is corrupt or truncated ({type(err).__name__}); "
                              "use another checkpoint (e.g. last.ckpt) or re-run training.") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict); give a .ckpt "
                              "written by decaqa fit.")
    return ckpt


def fill_checkpoint(checkpoint: dict[str, Any], tokenizer: PreTrainedTokenizerBase | None,
                    info: ExportInfo, adapters: Any = None,
                    adapter_state: Mapping[str, torch.Tensor] | None = None,
                    rng: list[Any] | None = None) -> None:
    """Add decaqa's keys to a checkpoint Lightning is saving: the tokenizer, the answering
    facts, with adapters their record and their weights alone (the frozen base is named by
    the hyperparameters, not written again), and every rank's random state."""
    from decaqa.tokenizer import to_string

    saved = to_string(tokenizer) if tokenizer is not None else None
    if saved is not None:
        checkpoint[TOKENIZER] = saved
    checkpoint[INFO] = info.to_dict()
    if adapters is not None:
        checkpoint["state_dict"] = dict(adapter_state or {})
        checkpoint[ADAPTERS] = adapters.info()
    if rng is not None:
        checkpoint[RNG] = rng


def checkpoint_info(ckpt: Mapping[str, Any]) -> ExportInfo:
    """The answering facts a checkpoint holds (older ones: the decoding from the hparams)."""
    hp = ckpt.get("hyper_parameters", {})
    saved = dict(ckpt.get(INFO) or {})
    saved.setdefault("generation", generation_of(hp))
    return ExportInfo.from_dict(saved, "the checkpoint's decaqa_info")


def checkpoint_tokenizer(ckpt: Mapping[str, Any]) -> PreTrainedTokenizerBase:
    """The tokenizer a checkpoint was trained with: restored, never rebuilt or retrained."""
    from decaqa.tokenizer import from_string, load_tokenizer

    if TOKENIZER in ckpt:
        return from_string(ckpt[TOKENIZER])
    hp = ckpt.get("hyper_parameters", {})
    if hp.get("tokenizer") or hp.get("model"):
        return load_tokenizer(hp.get("tokenizer") or hp["model"],
                              bool(hp.get("trust_remote_code")))
    raise CheckpointError("This checkpoint holds no tokenizer and names no pretrained one; use a "
                          "checkpoint written by decaqa fit.")


def checkpoint_adapters(ckpt: Mapping[str, Any]) -> Any:
    """The adapters a checkpoint's run trained (`decaqa.adapters.Adapters`), or None."""
    saved = ckpt.get(ADAPTERS)
    if not saved:
        return None
    from decaqa.adapters import Adapters

    return Adapters.from_info(saved)


def checkpoint_rng(ckpt: Mapping[str, Any], rank: int = 0) -> dict[str, Any] | None:
    """This rank's random state when the checkpoint was taken (None if it holds none)."""
    states = ckpt.get(RNG)
    if not states:
        return None
    return states[rank] if rank < len(states) else states[0]


def checkpoint_callback_state(ckpt: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """A callback's saved state (Lightning keys it by the callback's class name)."""
    return dict(((ckpt or {}).get("callbacks") or {}).get(name) or {})


@dataclass
class Loaded:
    """A model ready to answer: the network, its tokenizer, what answering needs, and its
    adapters (None without)."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    info: ExportInfo
    adapters: Any = None


def load_checkpoint(path: str | Path) -> Loaded:
    """Rebuild the network from a Lightning checkpoint (weights, hparams, tokenizer), with
    its adapters over the base it names when the run trained adapters."""
    from decaqa.network import NetworkSettings, build_network, load_weights

    ckpt = read_checkpoint(path)
    info = checkpoint_info(ckpt)
    tokenizer = checkpoint_tokenizer(ckpt)
    adapters = checkpoint_adapters(ckpt)
    settings = NetworkSettings.of(ckpt.get("hyper_parameters", {}), info.input_format)
    model = build_network(settings, tokenizer, adapters)
    load_weights(model, ckpt["state_dict"], adapters)
    return Loaded(model, tokenizer, info, adapters)


# -- export folders ------------------------------------------------------------------------------
def write_export(folder: str | Path, model: PreTrainedModel,
                 tokenizer: PreTrainedTokenizerBase, info: ExportInfo, adapters: Any = None,
                 base: str | None = None) -> Path:
    """A HuggingFace-format model any `transformers` user can load, plus decaqa.json; with
    adapters, the adapters alone (one folder each) and the base they need: a local base by
    its full path, a hub name as it is."""
    from decaqa.quiet import transformer_bars

    transformer_bars()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if adapters is None:
        model.save_pretrained(folder)
    else:
        adapters.save(model, folder)
        where = Path(base) if base else None
        info.adapter = adapters.info()
        info.base = str(where.resolve()) if where is not None and where.exists() else base
        info.base_fingerprint = fingerprint(where) if where is not None else None
    tokenizer.save_pretrained(folder)
    info.write(folder)
    return folder


def check_model_path(path: Path) -> None:
    """Fail early, in one sentence, on a path that cannot be a model."""
    looks_local = path.is_absolute() or len(path.parts) > 2 or str(path).startswith(".")
    hint = "give a folder written by decaqa fit (runs/<name>/model), a .ckpt file or a hub name"
    if not path.exists() and looks_local:
        raise CheckpointError(f"Model path {path} does not exist; {hint}.")
    if path.is_dir() and not (path / "config.json").exists():
        raise CheckpointError(f"{path} is not a model folder (it has no config.json); {hint}.")
    if path.is_file():
        raise CheckpointError(f"{path} is a file, not a model folder; {hint}.")


def model_info(path: str | Path) -> ExportInfo:
    """A model's answering facts alone (a folder's decaqa.json, or a ``.ckpt``'s)."""
    path = Path(path)
    return checkpoint_info(read_checkpoint(path)) if path.suffix == ".ckpt" else ExportInfo.read(path)


def load_tokenizer_of(path: str | Path) -> tuple[PreTrainedTokenizerBase, ExportInfo]:
    """A model's tokenizer and answering facts alone, without its weights (a folder or a
    ``.ckpt``): what checking data against a run needs."""
    from decaqa.tokenizer import load_tokenizer

    path = Path(path)
    if path.suffix == ".ckpt":
        ckpt = read_checkpoint(path)
        return checkpoint_tokenizer(ckpt), checkpoint_info(ckpt)
    check_model_path(path)
    return load_tokenizer(str(path)), ExportInfo.read(path)


WEIGHT_FILES = ("*.safetensors", "*.bin")  # what a model folder's weights are written in


def fingerprint(path: str | Path) -> str | None:
    """A local base's identity: sha256 over its weight files' bytes (a folder's safetensors or
    bin files, in name order, or a .ckpt file), the first 16 hex digits; None where ``path``
    is not a local model (a hub name: its name identifies it)."""
    import hashlib

    path = Path(path)
    files = ([path] if path.is_file() else
             sorted(f for pattern in WEIGHT_FILES for f in path.glob(pattern)) if path.is_dir()
             else [])
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0")
        with open(file, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def adapters_base(folder: Path, info: ExportInfo, base: str | Path | None,
                  other_base: bool) -> Path:
    """The base an adapters folder goes over: ``base`` if given, else the one it recorded.
    A recorded base that is gone, or a base whose weights are not the ones the adapters were
    trained over (unless ``other_base``), is one sentence naming the base and how to give it."""
    recorded = info.base or "(none recorded)"
    where = Path(base) if base is not None else Path(info.base or "")
    how = (f"give the base with decaqa.load(BASE, adapters='{folder}') or --base BASE on the "
           "command")
    if base is None and info.base and not where.exists() and (
            where.is_absolute() or len(where.parts) > 2 or str(where).startswith(".")):
        raise CheckpointError(f"The adapters in {folder} were trained over the base {recorded} "
                              f"(fingerprint {info.base_fingerprint or 'not recorded'}), which "
                              f"is not there; {how}.")
    if info.base_fingerprint and not other_base and where.exists():
        found = fingerprint(where)
        if found is not None and found != info.base_fingerprint:
            raise CheckpointError(
                f"{where} is not the base the adapters in {folder} were trained over (its "
                f"fingerprint is {found}, theirs {info.base_fingerprint}, from {recorded}); "
                "give that base, or pass other_base=True (--allow-other-base) to use this one "
                "on purpose.")
    return where


def resolve(path: str | Path, adapters: str | Path | None = None,
            base: str | Path | None = None, other_base: bool = False
            ) -> tuple[Path, Path | None]:
    """What `load` loads: the model (or base) and the adapters folder over it, if any. An
    adapters folder given as ``path`` goes over ``base``, else the base it recorded; either
    way a base whose fingerprint differs from the one the adapters recorded is refused
    unless ``other_base``."""
    path = Path(path)
    own = ExportInfo.read(path) if adapters is None and path.is_dir() else None
    if own is not None and own.adapter is not None:  # an adapters folder, over its base
        return adapters_base(path, own, base, other_base), path
    if adapters is not None:
        adapters_base(Path(adapters), ExportInfo.read(adapters), path, other_base)
        return path, Path(adapters)
    return path, None


def with_base_tasks(info: ExportInfo, base_info: ExportInfo, base_tasks: list[str]
                    ) -> ExportInfo:
    """An adapters run's answering facts, with the base's tasks that no adapter answers
    added (answered by the base, at its caps)."""
    for task in base_tasks:
        info.tasks.setdefault(task, {**base_info.tasks[task], "trained": False,
                                     "answered_by": "base"})
    return info


def answering_info(path: str | Path, adapters: str | Path | None = None,
                   base: str | Path | None = None, other_base: bool = False) -> ExportInfo:
    """The answering facts `load` would give (tasks, caps, questions, adapters), read without
    loading any weights: what a server checks requests against before the model is up."""
    from decaqa.adapters import Adapters

    path, folder = resolve(path, adapters, base, other_base)
    if path.suffix != ".ckpt":
        check_model_path(path)
    base_info = model_info(path) if path.exists() else ExportInfo()
    if folder is None:
        return base_info
    info = ExportInfo.read(folder)
    return with_base_tasks(info, base_info,
                           Adapters.read(folder, base_info.trained_tasks).base_tasks)


def load(path: str | Path, trust_remote_code: bool = False,
         adapters: str | Path | None = None, base: str | Path | None = None,
         other_base: bool = False) -> Loaded:
    """An export folder (runs/<name>/model), any HF seq2seq model, or a .ckpt; with
    ``adapters`` (runs/<name>/adapters), those over the base ``path`` (`resolve`). With
    adapters, a task they were not trained on but the base was is answered by the base (its
    cap included); `Loaded.info` stays the adapters' run's."""
    from decaqa.network import load_pretrained
    from decaqa.quiet import quiet
    from decaqa.tokenizer import load_tokenizer

    quiet()  # keep stdout/stderr to the answer and real messages
    path, folder = resolve(path, adapters, base, other_base)
    if path.suffix == ".ckpt":
        loaded = load_checkpoint(path)
    else:
        check_model_path(path)
        loaded = Loaded(load_pretrained(str(path), trust_remote_code=trust_remote_code),
                        load_tokenizer(str(path), trust_remote_code), ExportInfo.read(path))
    if folder is not None:
        from decaqa.adapters import Adapters

        adapted = Adapters.read(folder, loaded.info.trained_tasks)
        loaded.model = adapted.load(loaded.model, folder)
        loaded.adapters = adapted
        loaded.info = with_base_tasks(ExportInfo.read(folder), loaded.info, adapted.base_tasks)
    return loaded
