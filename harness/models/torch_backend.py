"""The torch/transformers backend: a causal LM loaded by ``AutoModelForCausalLM`` from local files.

Imported only when a torch model is loaded (it imports torch and transformers at import time).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.models.base import ModelLoadError, Quantization, check_ids, check_mask, special_ids
from harness.models.folder import ModelFolder, check_tokenizer_fits

__all__ = ["TorchModel", "load_torch"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Weights absent from the checkpoint are initialised by transformers; a fixed seed makes the
# same folder always give the same model (and the same negative-control evidence).
_INIT_SEED = 0


def _torch_dtype(folder: ModelFolder, dtype: str) -> torch.dtype:
    if dtype not in _DTYPES:
        msg = f"dtype {dtype!r} for {folder.path} is not one of {', '.join(_DTYPES)}"
        raise ModelLoadError(msg)
    return _DTYPES[dtype]


def _load_module(folder: ModelFolder, untie: bool, dtype: str) -> tuple[Any, list[str]]:
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": _torch_dtype(folder, dtype),
                              "output_loading_info": True}
    if untie:
        kwargs["tie_word_embeddings"] = False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_INIT_SEED)
        try:
            loaded: Any = AutoModelForCausalLM.from_pretrained(folder.path, **kwargs)
        except (RuntimeError, ValueError, OSError, KeyError) as exc:
            msg = (f"{folder.path}: transformers could not load the model from "
                   f"{', '.join(w.path.name for w in folder.weights)} with config.json: {exc}; "
                   f"check that the config and the weights were saved together")
            raise ModelLoadError(msg) from exc
    module, info = loaded
    module.eval()
    return module, sorted(info.get("missing_keys", []))


def _load_tokenizer(folder: ModelFolder) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder.path, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise folder.tokenizer_error(exc) from exc


def _tied_in_config(folder: ModelFolder) -> bool:
    value = folder.config.get("tie_word_embeddings")
    if isinstance(value, bool):
        return value
    from transformers import AutoConfig

    return bool(AutoConfig.from_pretrained(folder.path, local_files_only=True).tie_word_embeddings)


class TorchModel:
    """A live transformers causal LM (eval mode, on CPU) behind the ``LiveModel`` protocol."""

    backend = "torch"
    quantization: Quantization | None = None

    def __init__(self, folder: ModelFolder, module: Any, tokenizer: Any,
                 missing_keys: Sequence[str] = ()) -> None:
        self.folder = folder
        self.path = folder.path
        self.config = folder.config
        self.module: Any = module  # a transformers PreTrainedModel
        self.tokenizer = tokenizer
        self.missing_keys = tuple(missing_keys)
        weight = self._embedding().weight
        self.vocab_size = int(weight.shape[0])
        self.tokenizer_vocab_size = len(tokenizer)
        self.eos_id, self.bos_id = special_ids(tokenizer, self.config)
        self.dtype = str(weight.dtype).removeprefix("torch.")
        self.tied_in_config = _tied_in_config(folder)
        check_tokenizer_fits(folder, self.tokenizer_vocab_size, self.vocab_size)

    def __repr__(self) -> str:
        return f"TorchModel({str(self.path)!r}, vocab_size={self.vocab_size}, dtype={self.dtype})"

    def _embedding(self) -> nn.Embedding:
        emb: nn.Embedding = self.module.get_input_embeddings()
        return emb

    def _head_weight(self) -> torch.Tensor:
        head = self.module.get_output_embeddings()
        weight: torch.Tensor = (head if head is not None else self._embedding()).weight
        return weight

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        text: str = self.tokenizer.decode(list(ids))
        return text

    def _forward(self, ids: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(check_ids(ids, self.vocab_size))
        logits: torch.Tensor = self.module(input_ids=x, use_cache=False).logits
        return logits

    def logits(self, ids: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out: np.ndarray = self._forward(ids).float().numpy()
        return out

    def token_nll(self, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        keep = check_mask(mask, np.asarray(ids).shape)
        with torch.inference_mode():
            logits = self._forward(ids)[:, :-1].float()
            target = torch.from_numpy(np.asarray(ids, dtype=np.int64)[:, 1:, None])
            nll = torch.logsumexp(logits, dim=-1) - logits.gather(-1, target).squeeze(-1)
            out: np.ndarray = nll.double().numpy()
        return np.where(keep, out, 0.0)

    def _blocks(self) -> nn.ModuleList:
        inner = getattr(self.module, "model", None)
        layers = getattr(inner, "layers", None)
        if isinstance(layers, nn.ModuleList):
            return layers
        wanted = self.config.get("num_hidden_layers")
        for _, sub in self.module.named_modules():
            if isinstance(sub, nn.ModuleList) and len(sub) == wanted:
                return sub
        msg = f"{self.path}: cannot find the decoder blocks of {type(self.module).__name__}"
        raise ModelLoadError(msg)

    def hidden_states(self, ids: np.ndarray) -> list[np.ndarray]:
        captured: list[torch.Tensor] = []
        with _recording(self._blocks(), captured), torch.inference_mode():
            self._forward(ids)
        return [t.float().numpy() for t in captured]

    def input_embedding(self) -> np.ndarray:
        out: np.ndarray = self._embedding().weight.detach().float().numpy().copy()
        return out

    def output_projection(self) -> np.ndarray:
        out: np.ndarray = self._head_weight().detach().float().numpy().copy()
        return out

    def head_shares_storage(self) -> bool:
        emb, head = self._embedding().weight, self._head_weight()
        return head is emb or head.data_ptr() == emb.data_ptr()

    def generate_greedy(self, ids: Sequence[int], n: int, use_cache: bool = True) -> list[int]:
        prompt = check_ids(np.asarray([list(ids)]), self.vocab_size)
        with torch.inference_mode():
            if use_cache:
                return self._greedy_cached(torch.from_numpy(prompt), n)
            return self._greedy_full(prompt, n)

    def _greedy_cached(self, prompt: torch.Tensor, n: int) -> list[int]:
        out: list[int] = []
        res = self.module(input_ids=prompt, use_cache=True)
        while len(out) < n:
            out.append(int(res.logits[0, -1].argmax()))
            if len(out) < n:
                step = torch.tensor([[out[-1]]])
                res = self.module(input_ids=step, past_key_values=res.past_key_values,
                                  use_cache=True)
        return out

    def _greedy_full(self, prompt: np.ndarray, n: int) -> list[int]:
        seq = prompt[0].tolist()
        for _ in range(n):
            seq.append(int(self._forward(np.asarray([seq]))[0, -1].argmax()))
        new: list[int] = seq[prompt.shape[1]:]
        return new

    def files(self) -> list[Path]:
        return self.folder.files()


@contextmanager
def _recording(blocks: nn.ModuleList, captured: list[torch.Tensor]) -> Iterator[None]:
    """Record the first block's input (the embeddings output) and every block's output."""

    def before(_: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        captured.append(args[0] if args else kwargs["hidden_states"])

    def after(_: nn.Module, __: Any, output: Any) -> None:
        captured.append(output[0] if isinstance(output, tuple) else output)

    handles = [blocks[0].register_forward_pre_hook(before, with_kwargs=True)]
    handles += [block.register_forward_hook(after) for block in blocks]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def load_torch(folder: ModelFolder, *, untie: bool = False, dtype: str = "float32") -> TorchModel:
    """Load a checked folder with transformers, float32 on CPU unless ``dtype`` says otherwise."""
    module, missing = _load_module(folder, untie, dtype)
    return TorchModel(folder, module, _load_tokenizer(folder), missing)
