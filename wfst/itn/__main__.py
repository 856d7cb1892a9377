"""``python -m wfst.itn [--cache-dir D] [--ship]``: compile the grammars, print times and sizes."""

from wfst.itn.registry import main

main()
