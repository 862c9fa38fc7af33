"""decaqa: every NLP task as a (context, question, answer) triple, one model for all of them."""
from decaqa.errors import CheckpointError, ConfigError, DataError, DecaqaError, TaskError
from decaqa.example import QAExample
from decaqa.metrics import register_metric
from decaqa.registration import install as _install_model_types
from decaqa.tasks import Task, get_task, registry

__version__ = "0.1.0"

_install_model_types()  # AutoModelForSeq2SeqLM loads decaqa's copying models (decaqa.copying)
__all__ = ["CheckpointError", "ConfigError", "DataError", "DecaqaError", "QAExample", "Task",
           "TaskError", "get_task", "load", "register_metric", "registry",
           "__version__"]


def load(path: str, device: str | None = None, trust_remote_code: bool = False,
         adapters: str | None = None, base: str | None = None, other_base: bool = False,
         num_beams: int | None = None):
    """Load a trained model for asking: ``decaqa.load("runs/quickstart/model").ask(q, c)``;
    with ``adapters="runs/x/adapters"``, over the base ``path``, each task its own adapter
    and a task without one the base (`decaqa.qa.load`: ``base``, ``other_base``);
    ``num_beams``: every task answered with that many beams (1: greedy), not the run's own."""
    from decaqa.qa import load as _load  # torch and transformers only when asked for

    return _load(path, device, trust_remote_code, adapters, base, other_base, num_beams)
