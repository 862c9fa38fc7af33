"""decaqa's errors (decaqa.errors): one family of four kinds in their own module, and the
refusal of a model that asks to run its own code."""
from __future__ import annotations

from conftest import ROOT


def test_errors_are_one_family_in_their_own_module():
    """Four kinds, one base; raising one needs no import of the task registry."""
    import decaqa
    from decaqa import errors

    kinds = [errors.TaskError, errors.DataError, errors.ConfigError, errors.CheckpointError]
    assert all(issubclass(k, errors.DecaqaError) and issubclass(k, ValueError) for k in kinds)
    assert decaqa.TaskError is errors.TaskError
    for module in ("model", "metrics", "network", "sampling", "budget", "tokenizer", "results"):
        source = (ROOT / "decaqa" / f"{module}.py").read_text()
        assert "from decaqa.tasks import" not in source, module
