"""Matching a checkpoint's key names to a model's: wrappers' prefixes and tied weights."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

PREFIXES = ("module.", "_orig_mod.")
"""Prefixes of wrappers stripped from every key: DataParallel/DDP and torch.compile."""


def strip_prefixes(key: str) -> str:
    """``key`` without the wrappers' :data:`PREFIXES`, however many are stacked.

    >>> strip_prefixes("module._orig_mod.fc.weight")
    'fc.weight'
    """
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                changed = True
    return key


def restore_tied(model: nn.Module, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Fill the names of tied parameters missing from ``state`` from their partner.

    A model whose modules share one parameter (an LM head tied to the input
    embedding) lists it under every name in its state dict, but Hugging Face's
    ``save_pretrained`` stores it once.

    >>> import torch
    >>> m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    >>> m[1].weight = m[0].weight
    >>> sorted(restore_tied(m, {"0.weight": torch.ones(2, 2)}))
    ['0.weight', '1.weight']
    """
    names_of: dict[int, list[str]] = {}
    for name, t in model.state_dict(keep_vars=True).items():
        names_of.setdefault(id(t), []).append(name)
    out = dict(state)
    for names in names_of.values():
        stored = [n for n in names if n in out]
        for n in names if stored else []:
            out.setdefault(n, out[stored[0]])
    return out


def match_prefix(model: nn.Module, state: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    """``state`` with the one leading key component stripped that makes it fit ``model``.

    When ``state`` already holds every key of the model it is returned as it is.
    Otherwise each first dotted component ``p`` of its keys is tried: the entries under
    ``p.`` with the prefix removed are returned when they are exactly the model's keys
    (tied copies aside); other entries (a Lightning module's loss or metrics) are left
    out. Without such a ``p`` the state is returned unchanged, for
    :func:`check_state_fits` to name what does not fit.

    >>> import torch
    >>> lin = nn.Linear(2, 1)
    >>> state = {"model.weight": torch.zeros(1, 2), "model.bias": torch.zeros(1),
    ...          "loss.pos_weight": torch.ones(1)}
    >>> sorted(match_prefix(lin, state))
    ['bias', 'weight']
    """
    expected = set(model.state_dict())
    if expected <= set(state):
        return state
    for prefix in sorted({k.split(".", 1)[0] for k in state if "." in k}):
        inner = {k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(prefix + ".")}
        tied = set(restore_tied(model, inner))
        if set(inner) <= expected and expected <= tied:
            return inner
    return state
