"""``python -m converter``."""

from converter.cli import main

raise SystemExit(main())
