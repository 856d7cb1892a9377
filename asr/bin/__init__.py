"""Subcommands of the ``asr`` console command, one module each.

Each module defines ``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``main(args: argparse.Namespace) -> int``; ``asr.cli`` imports only the one that runs,
so ``asr score`` never pays for importing torch.
"""
