"""Registering the copying model types (decaqa.registration): after `import decaqa` the Auto
classes load a copying model, whichever is imported first, and `import decaqa` stays light."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from decaqa.example import format_input
from decaqa.network import NetworkSettings, build_network
from decaqa.tokenizer import train_tokenizer

T5 = {"d_model": 32, "d_ff": 64, "num_layers": 1, "num_decoder_layers": 1, "num_heads": 2,
      "d_kv": 16}


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer([format_input("Who founded Bousti Bank?",
                                         "Krir Shak founded Bousti Bank in 1986.")] * 30, 200)


def model_for(tok, arch: str, copy: str | None, seed: int = 0):
    torch.manual_seed(seed)
    return build_network(NetworkSettings(None, T5, copy), tok).eval()


@pytest.mark.parametrize("first", ["decaqa", "transformers"])
def test_auto_class_loads_it_after_import_decaqa(tok, tmp_path: Path, first: str) -> None:
    """In a fresh interpreter, whichever is imported first: `import decaqa` is all it takes
    for AutoModelForSeq2SeqLM, and `import decaqa` alone imports no torch."""
    model = model_for(tok, "t5", "context", seed=6)
    model.save_pretrained(tmp_path)
    imports = ("import decaqa\nlight = 'torch' not in sys.modules\n"
               "from transformers import AutoModelForSeq2SeqLM\n")
    if first == "transformers":
        imports = ("from transformers import AutoModelForSeq2SeqLM\nimport decaqa\n"
                   "light = True\n")
    code = (f"import sys\n{imports}"
            f"m = AutoModelForSeq2SeqLM.from_pretrained({str(tmp_path)!r})\n"
            "print(type(m).__name__, light)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["CopyT5ForConditionalGeneration", "True"]


def test_every_module_that_imports_transformers_imports_first() -> None:
    """Whichever decaqa module a program imports first, it imports. The registration above
    runs decaqa.copying in the middle of whatever first imports transformers' Auto classes,
    so a module-level import of, say, decaqa.network in decaqa.copying finds it half made
    when decaqa.network is imported first. The modules that import transformers as they load
    are the ones that can set it off: each in a fresh interpreter, two at a time."""
    root = Path(__file__).resolve().parents[1] / "decaqa"
    names = sorted(f"decaqa.{p.stem}" for p in root.glob("*.py")
                   if any(line.startswith(("from transformers", "import transformers"))
                          for line in p.read_text().splitlines()))
    assert "decaqa.network" in names and "decaqa.copying" in names
    procs = []
    for group in (names[i::2] for i in range(2)):
        code = ("import subprocess, sys\n"
                f"bad = [m for m in {group!r} if subprocess.run([sys.executable, '-c', "
                "'import ' + m], capture_output=True).returncode]\nprint(' '.join(bad))")
        procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                      text=True))
    failed = [m for p in procs for m in p.communicate(timeout=600)[0].split()]
    assert failed == [], f"{failed}: import it in a fresh interpreter to see why"
