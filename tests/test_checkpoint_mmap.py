from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from landscape.checkpoint_mmap import FINITE_SLICE, all_finite, open_checkpoint_lazily
from landscape.errors import LandscapeError


@pytest.mark.parametrize("where", [0, FINITE_SLICE - 1, FINITE_SLICE, 3 * FINITE_SLICE + 6])
def test_a_non_finite_entry_in_any_slice_is_found(where: int) -> None:
    t = torch.zeros(3 * FINITE_SLICE + 7)
    assert all_finite(t)
    t[where] = float("inf") if where % 2 else float("nan")
    assert not all_finite(t)
    assert not all_finite(t.reshape(1, -1))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_finite_entries_whose_sum_overflows_are_finite(dtype: torch.dtype) -> None:
    t = torch.full((2 * FINITE_SLICE + 3,), torch.finfo(dtype).max, dtype=dtype)
    assert not torch.isfinite(t.sum())
    assert all_finite(t)
    t[-1] = float("-inf")
    assert not all_finite(t)


def test_a_lazily_opened_checkpoint_with_nan_past_the_first_slice_is_refused(
    tmp_path: Path,
) -> None:
    model = nn.Linear(FINITE_SLICE // 100 + 1, 200)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state["weight"].view(-1)[-1] = float("nan")
    torch.save(state, tmp_path / "c.pt")
    with pytest.raises(LandscapeError, match="parameter 'weight' holds NaN or infinity"):
        open_checkpoint_lazily(model, tmp_path / "c.pt")
