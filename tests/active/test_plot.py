import pytest
from PIL import Image

from fusegen.active import ActiveResult
from fusegen.active.plot import BASELINE_COLOUR, PALETTE, plot_learning_curves


def _runs():
    return {"random": [ActiveResult("random", s, [20, 40, 60], [0.5, 0.7 + s / 50, 0.8], [], [0] * 3, [0] * 2)
                       for s in range(3)],
            "kcenter": [ActiveResult("kcenter", s, [20, 40, 60], [0.5, 0.8, 0.9 - s / 50], [], [0] * 3, [0] * 2)
                        for s in range(3)]}


def test_png_is_written_with_both_curves(tmp_path):
    path = plot_learning_curves(_runs(), tmp_path / "sub" / "curve.png", title="test")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (760, 480)
        colours = {c for _, c in im.convert("RGB").getcolors(maxcolors=1 << 20)}
    assert PALETTE[0] in colours and BASELINE_COLOUR in colours


def test_single_result_and_bad_input(tmp_path):
    one = _runs()["kcenter"][0]
    assert plot_learning_curves(one, tmp_path / "one.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="no learning curve"):
        plot_learning_curves({}, tmp_path / "none.png")
    with pytest.raises(TypeError, match="results must be"):
        plot_learning_curves(3, tmp_path / "bad.png")
    mixed = {"random": [ActiveResult("random", 0, [1, 2], [0.1, 0.2]),
                        ActiveResult("random", 1, [1, 3], [0.1, 0.2])]}
    with pytest.raises(ValueError, match="different label counts"):
        plot_learning_curves(mixed, tmp_path / "mixed.png")


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(ImportError, match="needs matplotlib: pip install matplotlib"):
        plot_learning_curves(_runs(), tmp_path / "curve.png")
    assert not (tmp_path / "curve.png").exists()
