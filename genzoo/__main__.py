"""``python -m genzoo``: the same command as ``genzoo``."""

import sys

from .cli import main

sys.exit(main())
