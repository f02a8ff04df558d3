"""``evaluate``'s confusion table: rows and columns named by class, not by number."""

from __future__ import annotations

from converter.commands.evaluate import confusion_table


def test_columns_are_headed_by_class_names_cut_to_fit():
    table = confusion_table(["walking", "running a marathon", "sit"], [[3, 1, 0], [0, 12, 1], [0, 0, 100]])
    header, *rows = table.splitlines()
    assert header.endswith("  walking running a m…   sit")
    assert header.startswith("  true \\ predicted") and "(0)" not in table
    assert [row.split()[-3:] for row in rows] == [["3", "1", "0"], ["0", "12", "1"], ["0", "0", "100"]]
    assert rows[1].startswith("running a marathon  ")
    ends = {len(line) for line in table.splitlines()}
    assert len(ends) == 1  # columns line up under their names
