"""Datasets as input: files, folders searched recursively (names mirror the tree), @lists, and shares."""

from __future__ import annotations

import pytest

from converter.errors import ConversionError
from converter.video.dataset import Entry, expand, parse_shard, share


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_a_folder_is_searched_recursively_and_names_mirror_it(tmp_path):
    data = tmp_path / "data"
    for name in ("train/0001.mp4", "val/0001.mp4", "val/b/x.MKV", "val/notes.txt", ".hidden/h.mp4"):
        touch(data / name)
    touch(data / "frames" / "seq" / "1.png")  # a frame folder is one video
    touch(data / "frames" / "seq" / "2.png")
    entries = expand([data])
    assert [e.name for e in entries] == ["frames/seq", "train/0001", "val/0001", "val/b/x"]
    assert entries[0].source == data / "frames" / "seq"


def test_files_keep_their_stem_and_order_and_names_may_not_collide(tmp_path):
    a, b = touch(tmp_path / "b.mp4"), touch(tmp_path / "a.avi")
    assert expand([a, b]) == [Entry(a, "b"), Entry(b, "a")]
    touch(tmp_path / "x" / "b.webm")
    with pytest.raises(ConversionError, match="same output name 'b'"):
        expand([a, tmp_path / "x" / "b.webm"])
    with pytest.raises(ConversionError, match="not found"):
        expand([tmp_path / "missing.mp4"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="no videos"):
        expand([tmp_path / "empty"])


def test_a_list_names_paths_relative_to_its_folder(tmp_path):
    touch(tmp_path / "lists" / "clips" / "a.mp4")
    touch(tmp_path / "other" / "c.mp4")
    listing = tmp_path / "lists" / "train.txt"
    listing.write_text("# comment\nclips/a.mp4\n\n../other/c.mp4\nclips/missing.mp4\n")
    entries = expand([f"@{listing}"])
    assert [(e.source, e.name) for e in entries] == [
        (tmp_path / "lists" / "clips" / "a.mp4", "clips/a"),
        (tmp_path / "lists" / "../other/c.mp4", "c"),  # outside the list's folder: by its name
        (tmp_path / "lists" / "clips" / "missing.mp4", "clips/missing"),  # kept: it fails like a broken video
    ]
    with pytest.raises(ConversionError, match="list not found"):
        expand([f"@{tmp_path / 'nope.txt'}"])


def test_shares_cover_every_video_once():
    entries = [Entry(None, str(i)) for i in range(11)]
    assert parse_shard("1/3", {}) == (1, 3) and parse_shard(None, {}) == (0, 1)
    slurm = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "3"}
    assert parse_shard(None, slurm) == (2, 4)
    for bad in ("3/3", "x", "1/0", "-1/2"):
        with pytest.raises(ConversionError, match="--shard must be I/N"):
            parse_shard(bad, {})
    shards = [share(entries, (i, 2), rank, 3) for i in range(2) for rank in range(3)]
    names = sorted(e.name for part in shards for e in part)
    assert names == sorted(e.name for e in entries) and len(names) == 11
