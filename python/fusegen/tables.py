"""The one table renderer: rows of cell strings as aligned text or a markdown table.

Callers format their own cells (units, precision); this module only lays them out, so every
table fusegen prints -- ensemble reports, active-learning curves, benchmark speed-ups -- looks
the same.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False,
                 right: Sequence[int] = ()) -> str:
    """``header`` and ``rows`` (lists of strings of the header's length) as a table.

    Args:
        header: the column titles.
        rows: the cells, already formatted as strings.
        markdown: a GitHub markdown table (``| a | b |`` after a ``|---|---|`` line; cells are not
            padded, a renderer aligns them); otherwise columns padded to their widths and
            separated by two spaces, trailing blanks removed.
        right: indices of columns to right-align (numbers); the others are left-aligned.
    """
    width = len(header)
    for k, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"rows[{k}] has {len(row)} cells, the header has {width}")
    table = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    right_set = set(right)
    if markdown:
        rule = "|" + "|".join("---:" if i in right_set else "---" for i in range(width)) + "|"
        lines = ["| " + " | ".join(cells) + " |" for cells in table]
        lines.insert(1, rule)
        return "\n".join(lines)
    widths = [max(len(line[i]) for line in table) for i in range(width)]

    def padded(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right_set else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join(padded(cells) for cells in table)
