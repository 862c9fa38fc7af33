"""Specialists over one frozen model: parameter-efficient adapters, routed by task.

A task can get its own *specialist* without a model of its own: the base stays frozen and a
small adapter is trained per task, so ten tasks cost one model plus ten small files. Or one
adapter serves the whole mixture (``shared``), or a small inventory of skills is shared by all
tasks and combined per task by a learned router (``routed``: peft's Poly, the blend of
specialist and generalist).

Methods (``model.adapter.method``):

* through `peft`: ``lora``, ``ia3``, ``prefix`` (prefix tuning), ``prompt`` (prompt tuning),
  ``ln_tuning``; and Poly for the ``routed`` mode;
* ours, because peft has no such method and AdapterHub's ``adapters`` pins transformers 4:
  ``bitfit`` (train only the bias terms: each adapter is its own copy of every bias),
  ``houlsby`` (a bottleneck ``x + up(gelu(down(x)))`` after every attention and feed-forward
  block, ``up`` zero at first, so a fresh adapter leaves the model as it was) and
  ``adapterbias`` (a token-dependent shift ``x + v * a(x)`` on the feed-forward output, ``v``
  zero at first). Each is a module put in place of the layer it adapts, holding one set of
  weights per adapter and using the active one.

`Adapters` is the run's record of them: which adapter answers which task (a task the adapters
were not trained on but the base was is answered by the base, `BASE`, as peft's ``__base__``
does in a mixed batch; a task neither knows is one sentence), how a batch is
routed (LoRA mixes tasks in one batch with peft's per-row ``adapter_names``, Poly with its
``task_ids``; the others answer a batch of one task at a time), which parameters are the
adapters' (the only ones a checkpoint or an export keeps: the frozen base is never written
again), and how they are saved and loaded.

Each method is one entry of `METHOD_TABLE` (a peft config or an injector of our banks, and
whether its rows may mix in a batch): a new method is one entry and the code it names.
"""
from __future__ import annotations

import contextlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator, KeysView, Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from decaqa.errors import CheckpointError, ConfigError, DataError

MODES = ("shared", "per_task", "routed")
BASE = "__base__"  # the frozen base itself, no adapter (peft's name for it in adapter_names)
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"

# the modules each method adapts, by architecture (transformers' names)
TARGETS = {
    "lora": {"t5": ["q", "v"], "bart": ["q_proj", "v_proj"]},
    "ia3": {"t5": ["k", "v", "wo"], "bart": ["k_proj", "v_proj", "fc2"]},
    "ia3_feedforward": {"t5": ["wo"], "bart": ["fc2"]},
    "houlsby": {"t5": ["o", "wo"], "bart": ["out_proj", "fc2"]},
    "adapterbias": {"t5": ["wo"], "bart": ["fc2"]},
    # peft's own table, given explicitly: peft knows t5 and bart, not decaqa's copying types
    "ln_tuning": {"t5": ["layer_norm", "final_layer_norm"],
                  "bart": ["self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm"]},
}


@dataclass
class AdapterSettings:
    """``model.adapter`` in a config; every field has a default.

    method: lora | ia3 | prefix | prompt | ln_tuning | bitfit | houlsby | adapterbias.
    mode: ``per_task`` (one adapter per task, trained on its own task), ``shared`` (one on
        the whole mixture) or ``routed`` (Poly: ``skills`` LoRA skills shared by the tasks,
        mixed per task by a learned router; LoRA only).
    r, alpha, dropout: LoRA's (and Poly's) rank, scaling and dropout.
    virtual_tokens: prefix and prompt tuning's number of virtual tokens.
    bottleneck: Houlsby's inner size.
    skills: Poly's inventory of skills (routed mode).
    target_modules: the modules adapted (default: by architecture, see ``TARGETS``).
    """

    method: str = "lora"
    mode: str = "per_task"
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    virtual_tokens: int = 20
    bottleneck: int = 16
    skills: int = 4
    target_modules: list[str] | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"Unknown adapter method '{self.method}'; use one of "
                              f"{', '.join(METHODS)}.")
        if self.mode not in MODES:
            raise ConfigError(f"Unknown adapter mode '{self.mode}'; use one of "
                              f"{', '.join(MODES)}.")
        if self.mode == "routed" and self.method != "lora":
            raise ConfigError(f"The routed mode mixes LoRA skills (peft's Poly); use method "
                              f"lora with it, not {self.method}.")
        for key in ("r", "virtual_tokens", "bottleneck", "skills"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.adapter.{key} must be at least 1, got "
                                  f"{getattr(self, key)}.")

    def check_beams(self, widths: Mapping[str, int]) -> None:
        """A routed (Poly) adapter answers greedily, as peft's Poly does not follow beam
        search: a width above 1 in ``widths`` (``{setting: beams}``) is one sentence, said
        before a run trains rather than when it first validates."""
        wide = [f"{k} = {b}" for k, b in widths.items() if b > 1]
        if self.mode == "routed" and wide:
            raise ConfigError(f"A routed (Poly) adapter answers greedily: peft's Poly does not "
                              f"follow beam search, and {', '.join(wide)} asks for beams; set "
                              "model.num_beams to 1 and model.task_beams to null.")

    @classmethod
    def of(cls, value: Any) -> "AdapterSettings | None":
        """From a config's mapping (unknown keys are one sentence), or None."""
        if value is None or isinstance(value, AdapterSettings):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"model.adapter must be a mapping such as {{method: lora, mode: "
                              f"per_task}}, not {value!r}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ConfigError(f"model.adapter has unknown keys {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known))}.")
        return cls(**value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- our methods: modules that hold one set of weights per adapter ----------------------------
class Bank(nn.Module):
    """A layer of the base with one set of adapter weights per adapter name; ``active``
    names the set in use (`BASE`: none, the base layer as it was)."""

    def __init__(self, layer: nn.Module, names: Sequence[str]):
        super().__init__()
        self.layer = layer
        self.active = names[0]

    @property
    def weight(self) -> torch.Tensor:
        """The adapted layer's weight: T5's feed-forward reads ``wo.weight`` for its dtype."""
        return self.layer.weight


class BiasBank(Bank):
    """BitFit: the layer with each adapter's own copy of its bias (the base's stays frozen)."""

    def __init__(self, layer: nn.Module, names: Sequence[str]):
        super().__init__(layer, names)
        self.biases = nn.ParameterDict({n: nn.Parameter(layer.bias.detach().clone())
                                        for n in names})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.active == BASE:
            return self.layer(x)
        bias = self.biases[self.active]
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, self.layer.weight, bias)
        return F.layer_norm(x, self.layer.normalized_shape, self.layer.weight, bias,
                            self.layer.eps)


class Bottleneck(nn.Module):
    """Houlsby's adapter: ``up(gelu(down(x)))``, with ``up`` zero so it adds nothing at first."""

    def __init__(self, d_model: int, size: int):
        super().__init__()
        self.down = nn.Linear(d_model, size)
        self.up = nn.Linear(size, d_model)
        nn.init.normal_(self.down.weight, std=1.0 / math.sqrt(d_model))
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(F.gelu(self.down(x)))


class HoulsbyBank(Bank):
    """A sublayer's output projection followed by the active bottleneck, with a residual."""

    def __init__(self, layer: nn.Linear, names: Sequence[str], size: int):
        super().__init__(layer, names)
        self.adapters = nn.ModuleDict({n: Bottleneck(layer.out_features, size) for n in names})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x)
        return y if self.active == BASE else y + self.adapters[self.active](y)


class Shift(nn.Module):
    """AdapterBias: one vector ``v`` times a per-token scalar ``a(x)`` (a linear layer)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.v = nn.Parameter(torch.zeros(d_model))
        self.alpha = nn.Linear(d_model, 1)
        nn.init.normal_(self.alpha.weight, std=1.0 / math.sqrt(d_model))
        nn.init.zeros_(self.alpha.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha(x) * self.v


class ShiftBank(Bank):
    """The feed-forward output plus the active token-dependent shift."""

    def __init__(self, layer: nn.Linear, names: Sequence[str]):
        super().__init__(layer, names)
        self.shifts = nn.ModuleDict({n: Shift(layer.out_features) for n in names})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x)
        return y if self.active == BASE else y + self.shifts[self.active](y)


def _held(bank: Bank) -> dict[str, nn.Parameter | nn.Module]:
    """A bank's weights, by adapter name."""
    held = getattr(bank, "biases", None) or getattr(bank, "adapters", None) or bank.shifts
    return dict(held.items())


def _family(model: nn.Module) -> str:
    """t5 or bart: the naming family of the base's modules."""
    model_type = getattr(getattr(model, "config", None), "model_type", "")
    for family in ("t5", "bart"):
        if model_type == family or model_type.endswith(f"-{family}") or (
                family == "t5" and model_type == "mt5") or (
                family == "bart" and model_type in ("mbart", "pegasus", "marian")):
            return family
    raise ConfigError(f"Adapters know the modules of t5 and bart models, not '{model_type}'; "
                      "give model.adapter.target_modules.")


def _targets(model: nn.Module, settings: AdapterSettings, key: str) -> list[str]:
    return list(settings.target_modules or TARGETS[key][_family(model)])


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def _bitfit_layers(model: nn.Module, settings: AdapterSettings, names: Sequence[str]) -> None:
    """BitFit: every linear and layer-norm bias gets one copy per adapter."""
    chosen = [(n, m) for n, m in model.named_modules()
              if isinstance(m, (nn.Linear, nn.LayerNorm))
              and getattr(m, "bias", None) is not None and m is not model.get_output_embeddings()]
    if not chosen:
        raise ConfigError(f"This {model.config.model_type} model has no bias terms (T5 "
                          "uses none), so BitFit has nothing to train; use ln_tuning or "
                          "ia3 instead, or a model with biases such as bart.")
    for n, m in chosen:
        _replace(model, n, BiasBank(m, names))


def _banks_on_targets(make: Any) -> Any:
    """An injector that puts ``make(layer, names, settings)`` in place of each target layer."""
    def inject(model: nn.Module, settings: AdapterSettings, names: Sequence[str]) -> None:
        wanted = set(_targets(model, settings, settings.method))
        chosen = [(n, m) for n, m in model.named_modules()
                  if isinstance(m, nn.Linear) and n.rpartition(".")[2] in wanted]
        if not chosen:
            raise ConfigError(f"No module of this model is named {', '.join(sorted(wanted))}; "
                              "give model.adapter.target_modules.")
        for n, m in chosen:
            _replace(model, n, make(m, names, settings))
    return inject


# -- peft's methods -----------------------------------------------------------------------------
def _peft_kind():
    import peft

    return peft, peft.TaskType.SEQ_2_SEQ_LM


def _lora_config(model: nn.Module, settings: AdapterSettings, tasks: Sequence[str]):
    peft, kind = _peft_kind()
    if settings.mode == "routed":  # Poly: LoRA skills shared by the tasks, mixed per task
        return peft.PolyConfig(task_type=kind, r=settings.r, n_tasks=len(tasks),
                               n_skills=settings.skills, n_splits=1,
                               target_modules=_targets(model, settings, "lora"))
    return peft.LoraConfig(task_type=kind, r=settings.r, lora_alpha=settings.alpha,
                           lora_dropout=settings.dropout,
                           target_modules=_targets(model, settings, "lora"))


def _ia3_config(model: nn.Module, settings: AdapterSettings, tasks: Sequence[str]):
    peft, kind = _peft_kind()
    return peft.IA3Config(task_type=kind, target_modules=_targets(model, settings, "ia3"),
                          feedforward_modules=TARGETS["ia3_feedforward"][_family(model)])


def _prefix_config(model: nn.Module, settings: AdapterSettings, tasks: Sequence[str]):
    """peft sizes a prefix's keys as d_model / heads; a T5 whose heads are d_kv wide
    otherwise (the quickstart's: 8 heads of 24 over d_model 128) needs heads x d_kv, or the
    prefix cannot join the attention's keys (tested on the quickstart's shape)."""
    peft, kind = _peft_kind()
    config = getattr(model, "config", None)
    sizes = {}
    if getattr(config, "d_kv", None) and config.num_heads * config.d_kv != config.d_model:
        sizes = {"token_dim": config.num_heads * config.d_kv,
                 "num_attention_heads": config.num_heads}
    return peft.PrefixTuningConfig(task_type=kind, num_virtual_tokens=settings.virtual_tokens,
                                   **sizes)


def _prompt_config(model: nn.Module, settings: AdapterSettings, tasks: Sequence[str]):
    if getattr(getattr(model, "config", None), "copy", None):
        raise ConfigError("Prompt tuning feeds the encoder embeddings without their token ids, "
                          "which the copy head needs to point at source tokens; use prefix "
                          "tuning (it keeps the ids) or a base without the copy head.")
    peft, kind = _peft_kind()
    return peft.PromptTuningConfig(task_type=kind, num_virtual_tokens=settings.virtual_tokens)


def _ln_tuning_config(model: nn.Module, settings: AdapterSettings, tasks: Sequence[str]):
    peft, kind = _peft_kind()
    return peft.LNTuningConfig(task_type=kind, target_modules=_targets(model, settings,
                                                                       "ln_tuning"))


def _prefix_reaches_generate(model: nn.Module) -> None:
    """Make ``generate`` see the prefix. peft hands the prefix to the first decoding step as
    ``past_key_values``; transformers 5 renamed that argument ``cache`` and, given both, keeps
    the (empty) ``cache``, so the prefix was silently dropped when answering (tested: a
    prefix-tuned model answered like its base). The prefix now goes in as the step's cache;
    later steps use the cache that step returns, prefix included."""
    prepare = model.prepare_inputs_for_generation

    def prepare_with_prefix(*args: Any, **kwargs: Any) -> dict[str, Any]:
        inputs = prepare(*args, **kwargs)
        if inputs.get("past_key_values") is not None and "cache" in inputs:
            inputs["cache"] = inputs.pop("past_key_values")
        return inputs

    model.prepare_inputs_for_generation = prepare_with_prefix


# -- the methods: one entry each --------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """One adapter method: how it is attached and how its rows are routed. Saving is the same
    for every method (`Adapters.save`: the weights each adapter owns, one folder each).

    peft_config: ``(model, settings, tasks) -> peft config`` for a method of peft's;
    inject: ``(model, settings, names) -> None``, putting our banks in place, for ours;
    mixes_rows: a batch may mix tasks, routed row by row (peft's ``adapter_names``);
    after: a fix applied to the adapted model (``(model) -> None``).
    """

    peft_config: Callable[..., Any] | None = None
    inject: Callable[..., None] | None = None
    mixes_rows: bool = False
    after: Callable[[nn.Module], None] | None = None


METHOD_TABLE: dict[str, Method] = {
    "lora": Method(peft_config=_lora_config, mixes_rows=True),
    "ia3": Method(peft_config=_ia3_config),
    "prefix": Method(peft_config=_prefix_config, after=_prefix_reaches_generate),
    "prompt": Method(peft_config=_prompt_config),
    "ln_tuning": Method(peft_config=_ln_tuning_config),
    "bitfit": Method(inject=_bitfit_layers),
    "houlsby": Method(inject=_banks_on_targets(
        lambda layer, names, s: HoulsbyBank(layer, names, s.bottleneck))),
    "adapterbias": Method(inject=_banks_on_targets(lambda layer, names, s: ShiftBank(layer, names))),
}
METHODS = tuple(METHOD_TABLE)


class Adapters:
    """The adapters of one run: names, routing, their parameters, saving and loading."""

    def __init__(self, settings: AdapterSettings, tasks: Sequence[str],
                 base_tasks: Sequence[str] = ()):
        self.settings = settings
        self.tasks = list(dict.fromkeys(tasks))
        # the tasks the frozen base was trained on: those without an adapter go to the base
        self.base_tasks = [t for t in dict.fromkeys(base_tasks) if t not in self.tasks]
        self.owner: dict[str, str] = {}  # adapter parameter name -> the adapter it is part of

    @property
    def method(self) -> Method:
        """The method's entry in `METHOD_TABLE`."""
        return METHOD_TABLE[self.settings.method]

    @classmethod
    def from_info(cls, info: dict[str, Any], base_tasks: Sequence[str] = ()) -> "Adapters":
        """The adapters `info` describes (as a checkpoint or an adapter's config holds it),
        over a base trained on ``base_tasks``."""
        return cls(AdapterSettings(**info["settings"]), info["tasks"], base_tasks)

    # -- which adapter answers which task ----------------------------------------------------
    @property
    def names(self) -> list[str]:
        if self.settings.mode == "per_task":
            return list(self.tasks)
        return [self.settings.mode]  # "shared" or "routed"

    def adapter_for(self, task: str | None) -> str:
        """The adapter that answers ``task``: its own (or the shared or routed one) for a task
        the adapters were trained on; `BASE` for a task only the base knows, and for no task
        (except with a shared adapter, which answers everything); a task neither knows is one
        sentence."""
        if task in self.tasks or (task is None and self.settings.mode == "shared"):
            return task if self.settings.mode == "per_task" else self.names[0]
        if task is None or task in self.base_tasks:
            return BASE
        known = f"adapters here: {', '.join(self.tasks)}"
        if self.base_tasks:
            known += f"; the base answers {', '.join(self.base_tasks)}"
        raise DataError(f"No adapter for task '{task}', and the base was not trained on it "
                        f"({known}): ask with one of them, or train an adapter for it.")

    def answered_by(self, task: str | None) -> str:
        """Who answers ``task``, in words for results: ``adapter <name>`` or ``base``."""
        name = self.adapter_for(task)
        return "base" if name == BASE else f"adapter {name}"

    def batch_key(self, task: str | None) -> str | None:
        """Rows with different keys never share a batch: None where peft routes row by row
        (LoRA's adapter_names, which takes the base too; Poly's task_ids), else the adapter's
        name (`BASE` for the base's rows)."""
        name = self.adapter_for(task)
        if self.method.mixes_rows and self.settings.mode == "per_task":
            return None
        if self.settings.mode == "routed" and name != BASE:
            return None
        return name

    @contextlib.contextmanager
    def route(self, model: nn.Module, tasks: Sequence[str | None],
              beams: int = 1) -> Iterator[dict[str, Any]]:
        """Answer (or train on) rows of ``tasks``: sets the adapter in use and yields what
        the forward or ``generate`` call needs besides its inputs."""
        names = [self.adapter_for(t) for t in tasks]
        if len(set(names)) > 1:
            if self.batch_key(tasks[0]) is not None or model.training or \
                    self.settings.mode == "routed":
                raise DataError("A batch mixes tasks whose adapters cannot share it; train "
                                "with one task per batch (data.batching.mixed: false).")
            yield {"adapter_names": names}  # LoRA, answering: peft routes each row (or base)
            return
        if names[0] == BASE:
            with self.base_only(model):
                yield {}
            return
        if self.settings.mode == "routed":
            self.settings.check_beams({"num_beams": beams})
            index = torch.tensor([self.tasks.index(t) for t in tasks],
                                 device=next(model.parameters()).device)
            yield {"task_ids": index}
            return
        self.activate(model, names[0])
        yield {}

    @contextlib.contextmanager
    def base_only(self, model: nn.Module) -> Iterator[None]:
        """The frozen base alone, every adapter off (peft's ``disable_adapter``; our banks
        pass the base layer through)."""
        if self.method.peft_config is not None:
            with model.disable_adapter():
                yield
            return
        banks = [m for m in model.modules() if isinstance(m, Bank)]
        was = [b.active for b in banks]
        for bank in banks:
            bank.active = BASE
        try:
            yield
        finally:
            for bank, name in zip(banks, was):
                bank.active = name

    def activate(self, model: nn.Module, name: str) -> None:
        """Put adapter ``name`` in use (and make only its weights trainable)."""
        if self.method.peft_config is not None:
            if getattr(model, "active_adapter", None) != name:
                model.set_adapter(name)
            return
        for module in model.modules():
            if isinstance(module, Bank):
                module.active = name

    # -- building ------------------------------------------------------------------------------
    def attach(self, model: nn.Module) -> nn.Module:
        """Freeze ``model`` and give it these adapters (fresh); returns the adapted model."""
        for p in model.parameters():
            p.requires_grad_(False)
        seen = {id(p) for p in model.parameters()}  # the base's
        owner: dict[int, str] = {}
        names = self.names
        if self.method.peft_config is not None:
            import peft

            config = self.method.peft_config(model, self.settings, self.tasks)
            for k, name in enumerate(names):  # each adapter's weights: the new ones
                if k == 0:
                    model = peft.get_peft_model(model, config, adapter_name=name)
                else:
                    model.add_adapter(name, config)
                for p in model.parameters():
                    if id(p) not in seen:
                        owner[id(p)] = name
                        seen.add(id(p))
        else:
            self.method.inject(model, self.settings, names)
            for bank in (m for m in model.modules() if isinstance(m, Bank)):
                for name, held in _held(bank).items():
                    for p in ([held] if isinstance(held, nn.Parameter) else held.parameters()):
                        owner[id(p)] = name
        if self.method.after is not None:
            self.method.after(model)
        self.owner = {n: owner[id(p)] for n, p in model.named_parameters() if id(p) in owner}
        for n, p in model.named_parameters():  # every adapter trains, only the active gets
            p.requires_grad_(n in self.owner)  # gradients; the base is frozen
        self.activate(model, names[0])
        return model

    @property
    def keys(self) -> KeysView[str]:
        """The adapters' parameter names in the adapted model."""
        return self.owner.keys()

    def counts(self, model: nn.Module) -> dict[str, int]:
        """Parameters: the adapters' (all of them, and one adapter's) and the frozen base's."""
        adapters = sum(p.numel() for n, p in model.named_parameters() if n in self.keys)
        base = sum(p.numel() for n, p in model.named_parameters() if n not in self.keys)
        return {"adapter_params": adapters, "per_adapter_params": adapters // len(self.names),
                "base_params": base}

    def state(self, model: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
        """The adapters' weights alone (what checkpoints and exports keep)."""
        return {prefix + n: p.detach() for n, p in model.named_parameters() if n in self.keys}

    # -- saving and loading --------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {"settings": self.settings.to_dict(), "tasks": self.tasks, "names": self.names}

    def save(self, model: nn.Module, folder: str | Path) -> list[Path]:
        """One folder per adapter, each with its config and its weights (safetensors)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        state = self.state(model)
        written = []
        for name in self.names:
            sub = folder / name
            sub.mkdir(parents=True, exist_ok=True)
            weights = {k: v.contiguous().cpu() for k, v in state.items()
                       if self.owner[k] == name}
            save_file(weights, sub / WEIGHTS_FILE)
            (sub / CONFIG_FILE).write_text(json.dumps({**self.info(), "name": name}, indent=2))
            written.append(sub)
        return written

    def load(self, model: nn.Module, folder: str | Path) -> nn.Module:
        """Attach fresh adapters to the base ``model`` and fill them from ``folder``."""
        from safetensors.torch import load_file

        folder = Path(folder)
        model = self.attach(model)
        state: dict[str, torch.Tensor] = {}
        for name in self.names:
            file = folder / name / WEIGHTS_FILE
            if not file.exists():
                raise CheckpointError(f"Adapter folder {folder} has no weights for '{name}' "
                                      f"({file} is missing); export the run again.")
            state.update(load_file(str(file)))
        missing = self.keys - set(state)
        if missing:
            raise CheckpointError(f"Adapter folder {folder} does not match its config "
                                  f"({len(missing)} weights missing, e.g. {sorted(missing)[0]}); "
                                  "export the run again.")
        model.load_state_dict(state, strict=False)
        return model

    def add(self, model: nn.Module, folder: str | Path, name: str) -> None:
        """Put one more per-task adapter, ``folder/name`` as a run saved it, into ``model``
        while it holds these (a server taking a new task without a restart): peft's
        ``add_adapter`` with these adapters' config, then its weights."""
        from safetensors.torch import load_file

        if self.method.peft_config is None or self.settings.mode != "per_task":
            raise ConfigError(f"Only per-task adapters of a peft method (lora, ia3, prefix, "
                              f"prompt, ln_tuning) can be added one at a time, not "
                              f"{self.settings.method} in {self.settings.mode} mode.")
        if name in self.tasks:
            raise ConfigError(f"There is an adapter '{name}' already; give the new one "
                              "another name.")
        file = Path(folder) / name / WEIGHTS_FILE
        if not file.exists():
            raise CheckpointError(f"{file} does not exist; give the folder that holds "
                                  f"{name}/{WEIGHTS_FILE}.")
        seen = {id(p) for p in model.parameters()}
        model.add_adapter(name, model.peft_config[self.names[0]])
        new = [n for n, p in model.named_parameters() if id(p) not in seen]
        state = load_file(str(file))
        missing = set(new) - set(state)
        if missing:
            model.delete_adapter(name)
            raise CheckpointError(f"{file} does not hold a {self.settings.method} adapter "
                                  f"like these ({len(missing)} weights missing, e.g. "
                                  f"{sorted(missing)[0]}).")
        model.load_state_dict({k: state[k] for k in new}, strict=False)
        for n, p in model.named_parameters():
            if n in new:
                p.requires_grad_(False)
                self.owner[n] = name
        self.tasks.append(name)
        self.base_tasks = [t for t in self.base_tasks if t != name]

    @classmethod
    def read(cls, folder: str | Path, base_tasks: Sequence[str] = ()) -> "Adapters":
        """The adapters described in an export folder (any adapter's config), over a base
        trained on ``base_tasks``."""
        folder = Path(folder)
        configs = sorted(folder.glob(f"*/{CONFIG_FILE}"))
        if not configs:
            raise CheckpointError(f"{folder} holds no adapters (no */{CONFIG_FILE}); give the "
                                  "adapters folder a run wrote (runs/<name>/adapters).")
        return cls.from_info(json.loads(configs[0].read_text()), base_tasks)


def file_bytes(*paths: str | Path) -> int:
    """Bytes on disk of files and folders (recursively), as measured from the files."""
    total = 0
    for path in map(Path, paths):
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total


__all__ = ["AdapterSettings", "Adapters", "BASE", "METHODS", "MODES", "file_bytes"]
