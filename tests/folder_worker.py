"""Run by ``torchrun --nproc_per_node=2`` from test_folder_run.py: several `genzoo` commands in each process.

``argv[1]`` is a JSON list of command lines; each runs through
``genzoo.cli.main``, exactly what ``python -m genzoo`` runs, one after the
other in the same process (one launch instead of one per command).
"""

import json
import sys

from genzoo.cli import main

for argv in json.loads(sys.argv[1]):
    code = main(argv)
    if code:
        sys.exit(code)
