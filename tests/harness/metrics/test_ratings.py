"""Rating sheets: every malformed row named, CSV and XLSX read alike, and the statistics the
claim decides on.

Classes of failure: a sheet that loads with a silently wrong row (a score off the scale, a
rating given twice, a rater who saw only one system of a pair); a preference that survives
swapping the system labels; agreement that does not fall when raters answer at random.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.metrics.ratings import (
    RatingSheet,
    agreement_alpha,
    load_rating_sheet,
    paired_differences,
    read_ratings,
)
from harness.workspace import SubjectSpec, Workspace, WorkspaceError

FIXTURE = [HealthCheck.function_scoped_fixture]
HEADER = ["rater", "item", "system", "dimension", "score"]


def _rows(raters: int = 3, items: int = 6, shift: int = 1, noise: bool = False,
          seed: int = 0) -> list[list[object]]:
    rng = random.Random(seed)
    rows: list[list[object]] = []
    for r in range(raters):
        for i in range(items):
            quality = 2 + i % 3
            for system, plus in (("tuned", shift), ("base", 0)):
                score = rng.randint(1, 5) if noise else max(1, min(5, quality + plus))
                rows.append([f"r{r}", f"item{i}", system, "fluency", score])
    return rows


def _write_csv(path: Path, rows: list[list[object]], header: list[str] = HEADER) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    path.write_text(buf.getvalue(), "utf-8")
    return path


def _write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in [HEADER, *rows]:
        sheet.append(row)
    book.save(path)
    return path


def _sheet(path: Path, **kw: object) -> RatingSheet:
    return RatingSheet("s", path, str(kw.get("tuned", "tuned")), "base", "fluency", (1, 5), None)


def test_csv_and_xlsx_read_alike(tmp_path):
    rows = _rows()
    a = read_ratings(_write_csv(tmp_path / "r.csv", rows))
    b = read_ratings(_write_xlsx(tmp_path / "r.xlsx", rows))
    assert [(r.row, r.rater, r.item, r.system, r.score) for r in a] == \
        [(r.row, r.rater, r.item, r.system, r.score) for r in b]
    assert a[0].row == 2  # the header is row 1, as a spreadsheet numbers it


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rows: rows.__setitem__(3, ["r0", "item1", "base", "fluency", "4.5"]),
     r"row 5: score '4.5' is not a whole number"),
    (lambda rows: rows.__setitem__(0, ["r0", "item0", "tuned", "fluency", 7]),
     r"row 2: score 7 is off the scale 1\.\.5"),
    (lambda rows: rows.__setitem__(2, ["r0", "", "tuned", "fluency", 3]),
     r"row 4: empty item"),
    (lambda rows: rows.append(list(rows[0])),
     r"row 38: rater 'r0' rated item 'item0' of system 'tuned' on 'fluency' twice \(first in "
     r"row 2\)"),
])
def test_a_bad_row_is_named(tmp_path, edit, message):
    rows = _rows()
    edit(rows)
    with pytest.raises(WorkspaceError, match=message) as err:
        read_ratings(_write_csv(tmp_path / "r.csv", rows))
    assert str(tmp_path / "r.csv") in str(err.value)


def test_missing_columns_and_files_that_are_not_sheets(tmp_path):
    with pytest.raises(WorkspaceError, match="missing score"):
        read_ratings(_write_csv(tmp_path / "a.csv", [], header=HEADER[:4]))
    (tmp_path / "b.csv").write_bytes(b"rater,item\xff\xfe")
    with pytest.raises(WorkspaceError, match="not UTF-8"):
        read_ratings(tmp_path / "b.csv")
    (tmp_path / "c.xlsx").write_bytes(b"not a zip")
    with pytest.raises(WorkspaceError, match="not a readable XLSX"):
        read_ratings(tmp_path / "c.xlsx")
    with pytest.raises(WorkspaceError, match="no ratings below the header"):
        read_ratings(_write_csv(tmp_path / "d.csv", []))


def test_a_rater_who_saw_one_system_of_a_pair_is_named(tmp_path):
    rows = [r for r in _rows() if not (r[0] == "r1" and r[1] == "item2" and r[2] == "base")]
    sheet = _sheet(_write_csv(tmp_path / "r.csv", rows))
    with pytest.raises(WorkspaceError, match=r"rater 'r1' rated item 'item2' for 'tuned' but "
                                             r"not for 'base'"):
        paired_differences(sheet, sheet.ratings())


def test_systems_and_dimensions_the_sheet_lacks_are_named(tmp_path):
    path = _write_csv(tmp_path / "r.csv", _rows())
    with pytest.raises(WorkspaceError, match=r"no rating of system 'finetuned'.*\['base', "
                                             r"'tuned'\]"):
        RatingSheet("s", path, "finetuned", "base", "fluency", (1, 5), None).ratings()
    with pytest.raises(WorkspaceError, match="no rating on dimension 'adequacy'"):
        RatingSheet("s", path, "tuned", "base", "adequacy", (1, 5), None).ratings()


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE)
@given(rows=st.lists(st.lists(st.one_of(TEXT, st.integers(-3, 9)), max_size=7), max_size=8),
       header=st.booleans())
def test_any_sheet_reads_or_fails_with_a_named_error(tmp_path, rows, header):
    path = tmp_path / "fuzz.csv"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(([HEADER] if header else []) + rows)
    path.write_text(buf.getvalue(), "utf-8")
    error: WorkspaceError | None = None
    try:
        got = read_ratings(path)
    except WorkspaceError as exc:
        error = exc
    if error is not None:
        assert str(path) in str(error)
    else:
        assert all(1 <= r.score <= 5 for r in got)


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE)
@given(shift=st.integers(-2, 2), seed=st.integers(0, 1000))
def test_swapping_the_labels_negates_the_preference(tmp_path, shift, seed):
    rows = _rows(shift=shift, noise=bool(seed % 2), seed=seed)
    swapped = [[a, b, {"tuned": "base", "base": "tuned"}[c], d, e] for a, b, c, d, e in rows]
    shuffled = random.Random(seed).sample(rows, len(rows))
    one = _sheet(_write_csv(tmp_path / "a.csv", rows))
    two = _sheet(_write_csv(tmp_path / "b.csv", swapped))
    three = _sheet(_write_csv(tmp_path / "c.csv", shuffled))
    d1 = paired_differences(one, one.ratings())
    d2 = paired_differences(two, two.ratings())
    assert d2 == {k: -v for k, v in d1.items()}
    assert paired_differences(three, three.ratings()) == d1  # row order means nothing
    assert agreement_alpha(one.ratings()) == pytest.approx(agreement_alpha(two.ratings()))


def test_agreement_is_high_for_agreeing_raters_and_low_for_random_ones(tmp_path):
    agree = _sheet(_write_csv(tmp_path / "a.csv", _rows(raters=4, items=20)))
    assert agreement_alpha(agree.ratings()) == pytest.approx(1.0)
    noisy = _sheet(_write_csv(tmp_path / "b.csv", _rows(raters=4, items=40, noise=True)))
    assert agreement_alpha(noisy.ratings()) < 0.2
    single = _sheet(_write_csv(tmp_path / "c.csv", _rows(raters=1)))
    assert np.isnan(agreement_alpha(single.ratings()))


def test_loader_checks_its_options(tmp_path):
    ws = Workspace(tmp_path, {}, tmp_path / "pyproject.toml")
    good = {"path": "r.csv", "tuned": "t", "baseline": "b", "dimension": "fluency"}
    sheet = load_rating_sheet(SubjectSpec("s", "rating-sheet", good), ws)
    assert sheet.path == tmp_path / "r.csv"
    assert sheet.simulated is None
    for change, message in (({"tuned": "b"}, "both 'b'"), ({"scale": [5, 1]}, "scale must be"),
                            ({"dimension": ""}, "needs dimension"),
                            ({"simulated": ""}, "simulated must say")):
        with pytest.raises(WorkspaceError, match=message) as err:
            load_rating_sheet(SubjectSpec("s", "rating-sheet", {**good, **change}), ws)
        assert "[tool.falsify.subjects.s]" in str(err.value)
