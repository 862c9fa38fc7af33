"""Make transformers' Auto classes know decaqa's copying model types, without making
``import decaqa`` import torch and transformers.

The copying models (`decaqa.copying`) have registered model types, so that after
``import decaqa`` ``AutoModelForSeq2SeqLM.from_pretrained(path)`` loads one. Registering them
means importing torch and two transformers architectures (about 3 s), which a light
``import decaqa`` (listing tasks, showing triples) should not pay. So registration waits for
the moment transformers' model Auto classes are first imported, by anyone: a finder on
``sys.meta_path`` lets that import run, then registers. If they are imported already,
registration happens at once. transformers has no hook for this, so these lines are ours.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

AUTO_MODELS = "transformers.models.auto.modeling_auto"


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of `AUTO_MODELS` so that, once that module
    has run, decaqa's copying types are registered."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001 - the finder protocol
        if name != AUTO_MODELS:
            return None
        sys.meta_path.remove(self)  # once; and so the real finders answer below
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):  # noqa: ANN001
            run(module)
            register()

        spec.loader.exec_module = exec_module
        return spec


def register() -> None:
    loading = sys.modules.get("decaqa.copying")
    if loading is not None and not hasattr(loading, "register"):
        return  # decaqa.copying is importing transformers right now; it registers at its end
    from decaqa.copying import register as _register

    _register()


def install() -> None:
    """Register now if transformers' Auto models are loaded, else when they first are."""
    if AUTO_MODELS in sys.modules:
        register()
    elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
