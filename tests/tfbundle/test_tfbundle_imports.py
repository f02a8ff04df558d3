"""The checkpoint reader stays light: importing it must not pull in torch or TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import converter

REPO = Path(converter.__file__).resolve().parent.parent


def test_reader_imports_neither_torch_nor_tensorflow():
    code = (
        "import json, sys\n"
        "import converter.tfbundle, converter.tfbundle.reader, converter.tfbundle.writer\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    modules = json.loads(result.stdout)
    assert "converter.tfbundle.reader" in modules
    heavy = [
        name
        for name in modules
        if name.split(".")[0] in {"torch", "tensorflow", "keras"} or name.startswith("google.protobuf")
    ]
    assert heavy == []
