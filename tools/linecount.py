"""Lines of code per module of src/kernelwise, largest first, then per package and the total.

A line of code is a line that holds a Python token other than a comment or a docstring (a string
that is a statement of its own); blank lines, comments and docstrings are not counted. The
JavaScript and CSS assets count their non-blank lines that are not ``//`` comments.

    python tools/linecount.py            # every module, then the packages and the total
    python tools/linecount.py --top 20   # the 20 largest modules, then the packages and the total
"""

from __future__ import annotations

import argparse
import io
import tokenize
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = ROOT / "kernelwise"
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def ends_statement(tokens: list[tokenize.TokenInfo], i: int) -> bool:
    """Whether the statement ends at ``tokens[i]``, skipping comments and blank lines."""
    while i < len(tokens) and tokens[i].type in (tokenize.COMMENT, tokenize.NL):
        i += 1
    return i == len(tokens) or tokens[i].type in (tokenize.NEWLINE, tokenize.ENDMARKER)


def python_lines(text: str) -> int:
    """The number of lines of Python code in ``text``."""
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    lines: set[int] = set()
    statement_start = True  # the next token begins a statement
    for i, tok in enumerate(tokens):
        if tok.type in SKIP:
            if tok.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                statement_start = True
            continue
        bare_string = statement_start and tok.type == tokenize.STRING and ends_statement(tokens, i + 1)
        statement_start = False
        if not bare_string:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines)


def asset_lines(text: str) -> int:
    """The number of non-blank lines of a JavaScript or CSS file that are not ``//`` comments."""
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("//"))


def count(package: Path = PACKAGE) -> dict[str, int]:
    """Lines of code of every source file under ``package``, by path relative to ``src``."""
    counts = {}
    for path in sorted(package.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            counts[path.relative_to(ROOT).as_posix()] = python_lines(text)
        elif path.suffix in (".js", ".css"):
            counts[path.relative_to(ROOT).as_posix()] = asset_lines(text)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=None, help="show only the N largest modules")
    args = parser.parse_args(argv)
    counts = count()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    width = max(len(name) for name in counts)
    for name, n in ranked[: args.top]:
        print(f"{n:6d}  {name}")
    if args.top is not None and args.top < len(ranked):
        rest = ranked[args.top :]
        print(f"{sum(n for _, n in rest):6d}  ({len(rest)} more modules)")
    packages: Counter[str] = Counter()
    for name, n in counts.items():
        packages[str(Path(name).parent.as_posix()) + "/"] += n
    print("-" * (width + 8))
    for name, n in sorted(packages.items(), key=lambda item: (-item[1], item[0])):
        print(f"{n:6d}  {name}")
    print(f"{sum(counts.values()):6d}  total, {len(counts)} files in {PACKAGE.relative_to(ROOT.parent).as_posix()}")


if __name__ == "__main__":
    main()
