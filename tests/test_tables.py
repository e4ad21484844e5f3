"""fusegen.tables.format_table: the one table renderer."""

import pytest

from fusegen.tables import format_table


def test_text_table_pads_columns_and_right_aligns_numbers():
    text = format_table(["name", "ms"], [["fused", "1.5"], ["eager", "12.25"]], right=[1])
    assert text.splitlines() == ["name      ms", "fused    1.5", "eager  12.25"]


def test_markdown_table_has_a_rule_with_alignment():
    text = format_table(["a", "b"], [["x", "1"]], markdown=True, right=[1])
    assert text.splitlines() == ["| a | b |", "|---|---:|", "| x | 1 |"]


def test_rows_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match=r"rows\[1\] has 1 cells, the header has 2"):
        format_table(["a", "b"], [["1", "2"], ["3"]])
