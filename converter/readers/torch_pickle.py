"""A restricted unpickler for PyTorch files: tensors and plain containers are rebuilt, every other global
becomes an inert placeholder named after it, never imported and never called.

Training checkpoints hold more than weights (``{"state_dict": …, "args": argparse.Namespace(…),
"optimizer": …}``); torch's ``weights_only`` loader refuses the whole file for one such object. Here
the unpickler's ``find_class`` (the only way a pickle reaches code; Python's documented restriction
point) returns the real object for a short allowlist — torch's tensor and storage rebuild functions,
dtypes, ``torch.Size``, ``OrderedDict`` and a few builtin types — and a ``Foreign`` subclass for
anything else: ``os.system``, ``builtins.eval`` or ``subprocess.Popen`` "called" by ``__reduce__``
just make a placeholder holding their arguments. torch's own loader still reads the archive and the
storages (``pickle_module`` is its documented hook), so both file forms keep working.
"""

from __future__ import annotations

import _compat_pickle
import os
import pickle
import re
import types
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from converter.errors import ConversionError
from converter.readers.flax_pickle import check_memo

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# module, name -> allowed. Storage classes (``torch.FloatStorage`` …) never get here: torch maps any
# name containing "Storage" to its own storage type before asking this unpickler.
_ALLOWED = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch", "Tensor"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("builtins", "bytearray"),
}


class Foreign:
    """An object (or class, or function) of a global this reader does not import: its qualified name and
    whatever the file passed to it, kept as data."""

    qualname: ClassVar[str] = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Foreign:
        self = object.__new__(cls)
        self.args, self.kwargs, self.state, self.items = args, kwargs, None, []
        return self

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def append(self, value: Any) -> None:
        self.items.append(value)

    def extend(self, values: Any) -> None:
        self.items.extend(values)

    def __repr__(self) -> str:
        return f"<{self.qualname}, not loaded>"


_placeholders: dict[str, type[Foreign]] = {}


def placeholder(qualname: str) -> type[Foreign]:
    """The placeholder class for ``qualname`` (one per name, so identical globals compare equal)."""
    if qualname not in _placeholders:
        _placeholders[qualname] = type(f"Foreign[{qualname}]", (Foreign,), {"qualname": qualname})
    return _placeholders[qualname]


def describe(value: Any) -> str:
    """What an extra is, by qualified name: ``argparse.Namespace``, ``dict``, ``torch.Tensor``…"""
    if isinstance(value, Foreign):
        inner = value.args[0] if value.args else None
        if value.qualname == "copyreg._reconstructor" and isinstance(inner, type) and issubclass(inner, Foreign):
            return inner.qualname  # protocol 0/1's way of making an instance
        return value.qualname
    if isinstance(value, type) and issubclass(value, Foreign):
        return value.qualname
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


class Unpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, **kwargs: Any) -> None:
        """Memo indices are checked first (CPython sizes its memo by the largest: GBs from a few bytes)."""
        start = file.tell()
        size = file.seek(0, os.SEEK_END)
        try:
            file.seek(start)
            check_memo(file, size)
        finally:
            file.seek(start)
        super().__init__(file, **kwargs)

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (protocol 2 writes ``__builtin__.eval``), as pickle's fix_imports maps them
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module == "torch" and name.isidentifier():
            import torch

            dtype = getattr(torch, name, None)
            if isinstance(dtype, torch.dtype):
                return dtype
        return placeholder(f"{module}.{name}")


def load(file: BinaryIO, **kwargs: Any) -> Any:
    return Unpickler(file, **kwargs).load()


# The ``pickle_module`` torch.load is given: it subclasses ``Unpickler`` and calls ``load`` (legacy headers).
pickle_module = types.ModuleType(__name__)
pickle_module.Unpickler = Unpickler  # type: ignore[attr-defined]
pickle_module.load = load  # type: ignore[attr-defined]


def load_file(path: str | os.PathLike[str]) -> Any:
    """Everything a PyTorch file (``torch.save``, either on-disk form) holds, through this unpickler: the one
    loader of every ``.pt``/``.pth`` the toolkit reads (``convert``, ``inspect``, ``load_model``, ``--weights``,
    ``finetune --resume``, inflation inputs). Foreign globals come back as ``Foreign`` placeholders.

    Raises ConversionError, one line per cause and never torch's advice to load unrestricted, for a missing,
    damaged or TorchScript file.
    """
    import torch

    path = Path(path)
    if _is_torchscript(path):
        raise ConversionError(path, "a TorchScript archive (code), not a state_dict; save model.state_dict()")
    try:
        with path.open("rb") as f:  # a file object: torch picks no loader by the file's name
            # ``pickle_module`` is torch.load's documented hook: this module's unpickler replaces both the
            # unrestricted one and torch's weights-only one (which refuses a whole file for one foreign object)
            return torch.load(f, map_location="cpu", pickle_module=pickle_module)
    except FileNotFoundError:
        raise ConversionError(path, "no such file") from None
    except OSError as err:
        raise ConversionError(path, f"cannot read: {err.strerror or err}") from None
    except Exception as err:  # torch raises many types for a damaged file
        raise ConversionError(path, f"not a loadable PyTorch file: {causes(err)}") from None


def causes(err: BaseException) -> str:
    """An exception and its causes, each whole on one line, without terminal colour codes."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines.append(" ".join(_ANSI.sub("", str(current)).split()) or type(current).__name__)
        current = current.__cause__ or current.__context__
    return "\n  caused by: ".join(lines)


def foreign_paths(value: Any, where: str = "", depth: int = 0) -> list[str]:
    """Where in a loaded object placeholders sit (``optimizer.state[0] (argparse.Namespace)``), for files that
    must hold plain data only (training states)."""
    if isinstance(value, Foreign) or (isinstance(value, type) and issubclass(value, Foreign)):
        return [f"{where or 'the file'} ({describe(value)})"]
    if depth > 32:
        return []
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple | set | frozenset):
        items = enumerate(value)
    else:
        return []
    found = []
    for key, item in items:
        label = (f"{where}.{key}" if where else key) if isinstance(key, str) else f"{where}[{key!r}]"
        found += foreign_paths(item, label, depth + 1)
    return found


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name == "constants.pkl" or name.endswith("/constants.pkl") for name in archive.namelist())
    except Exception:  # not a zip (the legacy form) or not there: torch.load says which
        return False
