"""Dict inputs in every data form (issue 18, item 2)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from landscape.data import Split, as_split, as_splits, default_labels, load_data
from landscape.errors import LandscapeError

IDS = torch.arange(12).reshape(4, 3)
MASK = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]])
Y = torch.tensor([0, 1, 1, 0])


class DictRows(Dataset):
    def __init__(self, with_labels: bool, pair: bool = False):
        self.with_labels, self.pair = with_labels, pair

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        row = {"input_ids": IDS[i], "attention_mask": MASK[i]}
        if self.pair:
            return row, Y[i]
        return {**row, "labels": Y[i]} if self.with_labels else row


def assert_split(s: Split, y: torch.Tensor) -> None:
    assert isinstance(s.x, dict) and sorted(s.x) == ["attention_mask", "input_ids"]
    assert torch.equal(s.x["input_ids"], IDS) and torch.equal(s.x["attention_mask"], MASK)
    assert torch.equal(s.y, y) and len(s) == 4


@pytest.mark.parametrize(
    "obj",
    [
        {"input_ids": IDS, "attention_mask": MASK, "labels": Y},
        ({"input_ids": IDS, "attention_mask": MASK}, Y),
        DictRows(with_labels=True),
        DictRows(with_labels=False, pair=True),
        DataLoader(DictRows(with_labels=True), batch_size=3),
        DataLoader(DictRows(with_labels=False, pair=True), batch_size=3),
    ],
    ids=["dict", "dict-y", "dataset-dicts", "dataset-pairs", "loader-dicts", "loader-pairs"],
)
def test_every_form_gives_the_same_split(obj):
    assert_split(as_split(obj, source="t"), Y)


def test_labels_default_to_input_ids_with_padding_ignored():
    s = as_split({"input_ids": IDS, "attention_mask": MASK}, source="t")
    expected = IDS.clone()
    expected[1, 2] = expected[2, 1] = expected[2, 2] = -100
    assert_split(s, expected)
    assert torch.equal(as_split(DataLoader(DictRows(False), batch_size=3), source="t").y, expected)
    assert torch.equal(default_labels({"input_ids": IDS}), IDS)


def test_train_test_dict_of_dict_inputs():
    splits = as_splits(
        {"train": {"input_ids": IDS, "labels": Y}, "test": ({"input_ids": IDS[:2]}, Y[:2])},
        source="t",
    )
    assert sorted(splits) == ["test", "train"] and len(splits["test"]) == 2
    assert as_splits({"input_ids": IDS, "labels": Y}, source="t").keys() == {"train"}


def test_batches_take_and_digest_of_dict_inputs():
    s = as_split({"input_ids": IDS, "attention_mask": MASK, "labels": Y}, source="t")
    batches = list(s.batches(3))
    assert [len(y) for _, y in batches] == [3, 1]
    assert torch.equal(batches[1][0]["input_ids"], IDS[3:])
    sub = s.take(torch.tensor([0, 2]))
    assert torch.equal(sub.x["attention_mask"], MASK[[0, 2]]) and torch.equal(sub.y, Y[[0, 2]])
    again = as_split(({"attention_mask": MASK, "input_ids": IDS}, Y), source="t")
    assert again.digest() == s.digest()  # by key, not by insertion order
    other = as_split(({"attention_mask": MASK, "input_ids": IDS + 1}, Y), source="t")
    assert other.digest() != s.digest()


def test_max_samples_subsets_every_input_alike(tmp_path):
    (tmp_path / "dictdata.py").write_text(
        "import torch\n"
        "def data():\n"
        "    ids = torch.arange(40).reshape(20, 2)\n"
        "    return {'train': {'input_ids': ids, 'attention_mask': ids % 2, 'labels': ids[:, 0]}}\n"
    )
    d = load_data(f"{tmp_path / 'dictdata.py'}:data", split="train", max_samples=5)
    s = d.splits["train"]
    assert len(s) == 5 and torch.equal(s.x["input_ids"][:, 0], s.y)
    assert torch.equal(s.x["attention_mask"], s.x["input_ids"] % 2)


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"attention_mask": MASK}, "no 'labels' and no 'input_ids'"),
        ({"input_ids": IDS, "labels": Y[:3]}, "same number of rows"),
        ({"input_ids": IDS, "attention_mask": MASK[:2], "labels": Y}, "same number of rows"),
        ({"labels": Y}, "labels but no inputs"),
    ],
)
def test_bad_dict_inputs_get_one_clear_line(obj, match):
    with pytest.raises(LandscapeError, match=match):
        as_split(obj, source="t")
