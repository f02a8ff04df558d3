"""The pre-processed layout is checked before training, and clips are sampled as documented."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.finetune.data import ClipDataset, ResumableSampler, check_clip_size, find_clips, shard, window

CLASSES = ["left", "right"]


def _clip(root: Path, split: str, label: str, name: str, frames: int = 10, size: int = 224, flow: bool = True) -> Path:
    folder = root / split / label / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(zlib.crc32(f"{split}/{label}/{name}".encode()))
    np.save(folder / "rgb.npy", rng.uniform(-1, 1, (frames, size, size, 3)).astype(np.float32))
    if flow:
        np.save(folder / "flow.npy", rng.uniform(-1, 1, (frames, size, size, 2)).astype(np.float32))
    return folder


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    for label in CLASSES:
        _clip(tmp_path, "train", label, "a")
        _clip(tmp_path, "train", label, "b", frames=5)
    return tmp_path


def test_find_clips_labels_in_class_order(layout: Path) -> None:
    clips = find_clips(layout, "train", CLASSES, ("rgb", "flow"), crop=224, every_class=True)
    assert [(c.folder.parent.name, c.folder.name, c.label, c.frames) for c in clips] == [
        ("left", "a", 0, 10),
        ("left", "b", 0, 5),
        ("right", "a", 1, 10),
        ("right", "b", 1, 5),
    ]


def test_empty_class_folder_is_refused(layout: Path) -> None:
    (layout / "train" / "up").mkdir()
    with pytest.raises(ConversionError, match=r"train/up: empty class folder"):
        find_clips(layout, "train", [*CLASSES, "up"], ("rgb",), crop=224, every_class=True)


def test_label_not_in_classes_is_refused(layout: Path) -> None:
    _clip(layout, "train", "sideways", "a")
    with pytest.raises(ConversionError, match=r"train/sideways: class not listed in classes.txt"):
        find_clips(layout, "train", CLASSES, ("rgb",), crop=224, every_class=True)


def test_class_without_training_clips_is_refused(layout: Path) -> None:
    with pytest.raises(ConversionError, match=r"no clips of class 'up'"):
        find_clips(layout, "train", [*CLASSES, "up"], ("rgb",), crop=224, every_class=True)
    assert len(find_clips(layout, "train", [*CLASSES, "up"], ("rgb",), crop=224, every_class=False)) == 4


def test_streams_of_different_lengths_are_refused(layout: Path) -> None:
    folder = layout / "train" / "left" / "a"
    np.save(folder / "flow.npy", np.zeros((9, 224, 224, 2), np.float32))
    with pytest.raises(ConversionError, match=r"left/a/flow.npy: \(T, H, W\) \(9, 224, 224\) does not match"):
        find_clips(layout, "train", CLASSES, ("rgb", "flow"), crop=224, every_class=True)
    assert find_clips(layout, "train", CLASSES, ("rgb",), crop=224, every_class=True)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((10, 224, 224, 2), r"shape \(10, 224, 224, 2\), expected \(T, H, W, 3\)"),
        ((10, 200, 224, 3), "frames of 200x224 are smaller than the crop 224"),
    ],
)
def test_misshapen_arrays_are_refused(layout: Path, shape: tuple[int, ...], message: str) -> None:
    np.save(layout / "train" / "right" / "b" / "rgb.npy", np.zeros(shape, np.float32))
    with pytest.raises(ConversionError, match=rf"right/b/rgb.npy: {message}"):
        find_clips(layout, "train", CLASSES, ("rgb",), crop=224, every_class=True)


def test_missing_stream_array_is_refused(layout: Path) -> None:
    _clip(layout, "train", "left", "c", flow=False)
    with pytest.raises(ConversionError, match=r"left/c/flow.npy: missing"):
        find_clips(layout, "train", CLASSES, ("flow",), crop=224, every_class=True)


def test_missing_split_is_refused(layout: Path) -> None:
    with pytest.raises(ConversionError, match="no val split"):
        find_clips(layout, "val", CLASSES, ("rgb",), crop=224, every_class=False)


@pytest.mark.parametrize(("frames", "crop", "message"), [(8, 224, "too short"), (9, 192, "193..224"), (9, 225, "193")])
def test_sizes_the_logits_cannot_take_are_refused(frames: int, crop: int, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        check_clip_size(frames, crop)


def test_window_centres_loops_and_randomises() -> None:
    assert window(10, 4, None).tolist() == [3, 4, 5, 6]
    assert window(3, 7, None).tolist() == [0, 1, 2, 0, 1, 2, 0]
    starts = {int(window(10, 4, np.random.default_rng(seed))[0]) for seed in range(200)}
    assert starts == set(range(7))
    looped = window(3, 7, np.random.default_rng(1))
    assert np.array_equal(np.diff(looped) % 3, np.ones(6))


def test_training_samples_are_cropped_flipped_and_reproducible(layout: Path) -> None:
    folder = layout / "train" / "left" / "a"
    t, y, x = np.meshgrid(np.arange(10), np.arange(224), np.arange(224), indexing="ij")
    rgb = np.stack([t / 100, y / 1000, x / 1000], -1).astype(np.float32)  # every pixel says where it is
    np.save(folder / "rgb.npy", rgb)
    flow = np.load(folder / "flow.npy").transpose(3, 0, 1, 2)
    clips = find_clips(layout, "train", CLASSES, ("rgb", "flow"), crop=200, every_class=True)
    train = ClipDataset(clips, ("rgb", "flow"), 9, 200, train=True, seed=3)
    inputs, label = train[0]
    assert inputs["rgb"].shape == (3, 9, 200, 200) and inputs["flow"].shape == (2, 9, 200, 200)
    assert label == 0
    again, _ = train[0]
    assert all(np.array_equal(inputs[s], again[s]) for s in inputs)
    seen = set()
    for epoch in range(16):
        train.set_epoch(epoch)
        sample = train[0][0]
        corner = sample["rgb"][:, 0, 0, 0].numpy()
        flipped = bool(sample["rgb"][2, 0, 0, 1] < sample["rgb"][2, 0, 0, 0])
        start, top = round(corner[0] * 100), round(corner[1] * 1000)
        left = round(corner[2] * 1000) - (199 if flipped else 0)
        assert np.array_equal(sample["rgb"].numpy(), _crop(rgb.transpose(3, 0, 1, 2), start, top, left, flipped))
        expected_flow = _crop(flow, start, top, left, flipped)
        if flipped:
            expected_flow[0] *= -1  # motion to the right becomes motion to the left
        assert np.array_equal(sample["flow"].numpy(), expected_flow)
        seen.add((start, top, left, flipped))
    assert len(seen) > 8 and {s[3] for s in seen} == {False, True}


def _crop(array: np.ndarray, t: int, top: int, left: int, flipped: bool) -> np.ndarray:
    out = array[:, t : t + 9, top : top + 200, left : left + 200]
    return np.ascontiguousarray(out[..., ::-1] if flipped else out)


def test_evaluation_samples_are_centred_and_short_clips_looped(layout: Path) -> None:
    clips = find_clips(layout, "train", CLASSES, ("rgb",), crop=200, every_class=True)
    val = ClipDataset(clips, ("rgb",), 9, 200, train=False)
    short = np.load(clips[1].array("rgb")).transpose(3, 0, 1, 2)
    sample, _ = val[1]
    assert np.array_equal(sample["rgb"].numpy(), short[:, [0, 1, 2, 3, 4, 0, 1, 2, 3], 12:212, 12:212])


def test_no_flip_keeps_orientation(layout: Path) -> None:
    clips = find_clips(layout, "train", CLASSES, ("rgb",), crop=224, every_class=True)
    train = ClipDataset(clips, ("rgb",), 9, 224, train=True, flip=False)
    rgb = np.load(clips[0].array("rgb")).transpose(3, 0, 1, 2)
    for epoch in range(6):
        train.set_epoch(epoch)
        x = train[0][0]["rgb"].numpy()
        assert np.array_equal(x, rgb[:, :9]) or np.array_equal(x, rgb[:, 1:10])


def test_sampler_shards_and_skips() -> None:
    data = list(range(10))
    whole = ResumableSampler(data, 1, 0, seed=5)
    whole.set_epoch(2)
    order = list(whole)
    assert sorted(order) == data
    parts = [ResumableSampler(data, 2, rank, seed=5) for rank in range(2)]
    for part in parts:
        part.set_epoch(2)
    assert list(parts[0]) == order[0::2] and list(parts[1]) == order[1::2]
    whole.start = 4
    assert list(whole) == order[4:] and len(whole) == 6
    whole.set_epoch(3)
    assert list(whole) != order[4:]


def test_evaluation_shards_cover_every_clip_once() -> None:
    assert sorted([*shard(7, 0, 3), *shard(7, 1, 3), *shard(7, 2, 3)]) == list(range(7))
