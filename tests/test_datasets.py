"""Registry, splits with random access, sample contents, pools, torch datasets, error paths."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from oneshotbench.datasets import ClutteredOmniglot, get_dataset, list_datasets, load_split
from oneshotbench.datasets.samples import INSTANCE_COLUMNS, paper_center
from oneshotbench.datasets.split import pool_characters
from oneshotbench.errors import LookupFailure, OneshotbenchError
from tests.conftest import REAL_PATH

# --- registry -----------------------------------------------------------------------------------


def test_registry_lists_and_failed_lookups_say_what_exists() -> None:
    assert [d.label for d in list_datasets()] == ["cluttered-omniglot v0", "cluttered-omniglot v1"]
    with pytest.raises(LookupFailure, match="known: cluttered-omniglot"):
        get_dataset("cluttered-mnist")
    with pytest.raises(LookupFailure, match="known: 0, 1"):
        get_dataset("cluttered-omniglot", 7)
    dataset = get_dataset()
    with pytest.raises(LookupFailure, match="test-one-shot"):
        dataset.split("test")
    with pytest.raises(LookupFailure, match="4, 8, 16, 32, 64, 128, 256"):
        dataset.check_level(5)


def test_split_definitions_are_the_authors() -> None:
    splits = get_dataset().splits
    assert {n: s.size for n, s in splits.items()} == {
        "train": 2_000_000, "val-train": 10_000, "test-train": 10_000,
        "val-one-shot": 10_000, "test-one-shot": 10_000,
    }  # fmt: skip
    assert splits["train"].drawers == (0, 10)
    assert all(splits[n].drawers == (10, 20) for n in splits if n != "train")
    assert splits["val-train"].pool == splits["test-train"].pool == splits["train"].pool
    assert splits["val-train"].master_seed != splits["test-train"].master_seed
    assert len({s.master_seed for s in splits.values()}) == 5


def test_pools(real_glyphs) -> None:
    background = pool_characters(real_glyphs, "background")
    first = pool_characters(real_glyphs, "evaluation-first-half")
    second = pool_characters(real_glyphs, "evaluation-second-half")
    assert (len(background), len(first), len(second)) == (964, 307, 352)
    assert not set(first) & set(second) and not set(background) & set(first)
    names = lambda pool: {real_glyphs.alphabets[a] for a in real_glyphs.char_alphabet[pool]}  # noqa: E731
    assert len(names(background)) == 30
    assert sorted(names(first))[0] == "Angelic" and "Keble" in names(first)
    assert sorted(names(second))[-1] == "ULOG" and "Malayalam" in names(second)


# --- random access -------------------------------------------------------------------------------


def test_one_sample_alone_equals_it_inside_a_range(real_glyphs) -> None:
    split = load_split("val-one-shot", 16, glyphs=real_glyphs)
    block = split.get(3990, 4010)  # crosses the job boundary at 4000
    for position in (0, 9, 10, 19):
        alone = split.get(3990 + position)
        assert np.array_equal(alone.scene[0], block.scene[position])
        assert np.array_equal(alone.instance_map[0], block.instance_map[position])
    shuffled = split.get([4005, 3991, 4005, 3999])
    assert shuffled.index.tolist() == [4005, 3991, 4005, 3999]
    assert np.array_equal(shuffled.scene[0], block.scene[15])
    assert np.array_equal(shuffled.scene[2], block.scene[15])
    assert np.array_equal(shuffled.target[1], block.target[1])


def test_bytes_do_not_depend_on_threads(real_glyphs) -> None:
    split = load_split("test-train", 8, glyphs=real_glyphs)
    one = split.get(0, 700, workers=1)
    two = split.get(0, 700, workers=2)
    assert np.array_equal(one.scene, two.scene) and np.array_equal(one.mask, two.mask)


def test_same_sample_in_another_process(real_glyphs) -> None:
    split = load_split("test-one-shot", 64, glyphs=real_glyphs)
    here = split.get(7777)
    code = (
        "import sys, hashlib; from oneshotbench.datasets import load_split;"
        "s = load_split('test-one-shot', 64, omniglot=sys.argv[1]).get(7777);"
        "parts = (s.scene, s.mask, s.target, s.instance_map);"
        "print(hashlib.sha256(b''.join(p.tobytes() for p in parts)).hexdigest())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REAL_PATH)], capture_output=True, text=True, check=True
    )
    parts = (here.scene, here.mask, here.target, here.instance_map)
    assert result.stdout.strip() == hashlib.sha256(b"".join(p.tobytes() for p in parts)).hexdigest()


def test_training_split_beyond_committed_prefix(real_glyphs) -> None:
    split = load_split("train", 4, glyphs=real_glyphs)
    late = split.get(1_999_999)  # last sample of the last job: offsets computed once
    assert late.scene.shape == (1, 96, 96, 3)
    again = split.get(1_999_998, 2_000_000)
    assert np.array_equal(again.scene[1], late.scene[0])


# --- what a sample carries ------------------------------------------------------------------------


@pytest.mark.parametrize("level", [4, 32, 256])
def test_sample_contents_are_consistent(real_glyphs, level) -> None:
    samples = load_split("val-train", level, glyphs=real_glyphs).get(0, 40)
    frame = samples.instances
    assert list(frame.columns) == list(INSTANCE_COLUMNS) and len(frame) == 40 * level
    for i in range(len(samples)):
        rows = samples.instances_of(i)
        labels = samples.instance_map[i]
        target = rows.iloc[-1]
        # the target is pasted last, never occluded: mask == its full footprint, one colour
        assert np.array_equal(samples.mask[i], labels == level)
        if samples.mask[i].any():
            colours = np.unique(samples.scene[i][samples.mask[i]], axis=0)
            assert colours.tolist() == [[target.r, target.g, target.b]]
        # the instance map agrees with the table: visible counts, boxes, centres, colours
        counts = np.bincount(labels.ravel(), minlength=level + 1)[1:]
        assert np.array_equal(counts, rows["visible"].to_numpy())
        for row in rows.itertuples():
            ys, xs = np.nonzero(labels == row.k)
            if len(xs):
                assert row.x <= xs.min() and xs.max() < row.x + row.width
                assert row.y <= ys.min() and ys.max() < row.y + row.height
                assert (row.com_x, row.com_y) == (xs.sum() // len(xs), ys.sum() // len(ys))
                pixel = samples.scene[i][ys[0], xs[0]]
                assert pixel.tolist() == [row.r, row.g, row.b]
            else:
                assert (row.com_x, row.com_y) == (-1, -1)
        assert (labels == 0).all() == (not labels.any())
        assert np.all(samples.scene[i][labels == 0] == 0)
        assert samples.target_com[i].tolist() == [target.com_x, target.com_y]
    assert frame["drawer"].between(11, 20).all()
    assert set(frame["alphabet"]) <= set(real_glyphs.alphabets[:30])


def test_empty_target_mask_occurs_where_the_spec_says(real_glyphs) -> None:
    """reference-spec §2.6: test-one-shot at L=4 has exactly one empty mask, at index 35."""
    samples = load_split("test-one-shot", 4, glyphs=real_glyphs).get(0, 2000)
    empty = np.flatnonzero(~samples.mask.any(axis=(1, 2)))
    assert empty.tolist() == [35]
    assert samples.target_com[35].tolist() == [-1, -1]


def test_paper_center_floors_like_the_papers_float32_code() -> None:
    assert paper_center(np.array([0]), np.array([0])).tolist() == [-1]
    assert paper_center(np.array([10, 9, 95 * 7]), np.array([5, 5, 7])).tolist() == [2, 1, 95]


# --- synthetic glyphs, private seeds, errors ------------------------------------------------------


def test_synthetic_glyphs_and_private_seed(synthetic) -> None:
    public = load_split("test-one-shot", 8, glyphs=synthetic)
    private = load_split("test-one-shot", 8, glyphs=synthetic, master_seed=123456789)
    assert private.private and "123456789" not in str(private.info)
    assert private.fingerprint is None and public.fingerprint is not None
    a, b = public.get(0, 5), private.get(0, 5)
    assert not np.array_equal(a.scene, b.scene)
    assert np.array_equal(private.get(3).scene[0], b.scene[3])


def test_out_of_range_and_bad_private_seed(synthetic) -> None:
    split = load_split("val-train", 4, glyphs=synthetic)
    with pytest.raises(OneshotbenchError, match=r"valid indices: 0..9999"):
        split.get(10_000)
    with pytest.raises(OneshotbenchError, match="out of range"):
        split.get([-1])
    with pytest.raises(OneshotbenchError, match="private master seed"):
        load_split("val-train", 4, glyphs=synthetic, master_seed=0)


# --- torch datasets ------------------------------------------------------------------------------


def test_map_style_dataset_under_a_multi_worker_dataloader(synthetic) -> None:
    dataset = ClutteredOmniglot("val-one-shot", 8, glyphs=synthetic)
    assert len(dataset) == 10_000
    loader = DataLoader(torch.utils.data.Subset(dataset, range(48)), batch_size=8, num_workers=2)
    seen = torch.cat([batch["index"] for batch in loader])
    assert sorted(seen.tolist()) == list(range(48))
    direct = load_split("val-one-shot", 8, glyphs=synthetic).get(0, 48)
    batches = list(
        DataLoader(torch.utils.data.Subset(dataset, range(48)), batch_size=8, num_workers=2)
    )
    scenes = torch.cat([b["scene"] for b in batches]).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(scenes, direct.scene)


def test_compiled_csv_rows_equal_pandas(real_glyphs) -> None:
    import io

    from oneshotbench.datasets.instances_csv import HEADER, format_instances

    samples = load_split("val-train", 256, glyphs=real_glyphs).get(0, 12)  # invisible glyphs too
    assert (samples.instances["com_x"] == -1).any()
    expected = io.StringIO()
    samples.instances.to_csv(expected, index=False)
    assert (HEADER.encode() + format_instances(samples)).decode() == expected.getvalue()
