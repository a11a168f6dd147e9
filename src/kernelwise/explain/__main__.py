"""``python -m kernelwise.explain TOPIC ...``: the ``explain`` command on its own (as ``kernelwise explain``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .cli import add_explain_parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` as ``kernelwise explain`` would and run it; errors are one line on stderr, exit 1."""
    parser = _Parser(prog="kernelwise")
    add_explain_parser(parser.add_subparsers(dest="command", parser_class=_Parser))
    args = parser.parse_args(["explain", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, OSError, RuntimeError) as e:
        print(f"kernelwise explain: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
