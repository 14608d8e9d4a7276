"""Layer bisection on real tiny models: a block stitched from another seed is named, the plot is
deterministic, the CLI reports the first layer past the tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.bisect.layers import compare_layers, plot_layers, shared_tokens
from harness.cli import main
from harness.demo.faults import stitch_block
from harness.models import open_model
from tests.harness.bisection.tinylm import TEXT, save_tiny


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("layers")
    tiny = save_tiny(root / "tiny")
    stitch_block(tiny, root / "stitched", block=1, seed=1)
    return tiny, root / "stitched"


def test_names_the_stitched_block(models: tuple[Path, Path], tmp_path: Path) -> None:
    """Block 1 (layer 2: layer 0 is the embedding) from another seed is the first past 1e-4."""
    a, b = (open_model(p) for p in models)
    ids = shared_tokens(a=a, b=b, texts=TEXT, rows=2, length=16)
    result = compare_layers(a=a, b=b, ids=ids, tolerance=1e-4, a_name="tiny", b_name="stitched")
    assert [x.max_abs_diff for x in result.layers[:2]] == [0.0, 0.0]
    assert result.first_divergent is not None
    assert result.first_divergent.index == 2
    assert result.first_divergent.name == "block 2"
    first = plot_layers(result, tmp_path / "one.png").read_bytes()
    again = plot_layers(result, tmp_path / "two.png").read_bytes()
    assert first == again
    assert first.startswith(b"\x89PNG")


def test_same_model_has_no_divergent_layer(models: tuple[Path, Path]) -> None:
    a, b = open_model(models[0]), open_model(models[0])
    ids = np.asarray([a.encode(TEXT[0])[:8]])
    result = compare_layers(a=a, b=b, ids=ids, tolerance=0.0)
    assert result.first_divergent is None
    assert all(x.cosine == pytest.approx(1.0) for x in result.layers)


def test_cli_layers(models: tuple[Path, Path], tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "space"
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / "x.yaml").write_text("claims: []\n")
    (root / "pyproject.toml").write_text(
        f'[tool.falsify.subjects.tiny]\nkind = "model"\npath = "{models[0]}"\n'
        f'[tool.falsify.subjects.stitched]\nkind = "model"\npath = "{models[1]}"\n')
    code = main(["bisect", "layers", "--a", "tiny", "--b", "stitched", "--tolerance", "1e-4",
                 "--length", "8", "--plot", str(tmp_path / "curve.png"), "--root", str(root),
                 "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["first_divergent_layer"] == 2
    assert (tmp_path / "curve.png").is_file()
