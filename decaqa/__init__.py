"""decaqa: every NLP task as a (context, question, answer) triple, one model for all of them."""
from decaqa.example import QAExample
from decaqa.tasks import Task, TaskError, get_task, registry

__version__ = "0.1.0"
__all__ = ["QAExample", "Task", "TaskError", "get_task", "registry", "__version__"]
