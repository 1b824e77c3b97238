"""``tools.bench_voice``: our path beside raw Vosk, on two short real clips (else skipped)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.edge.test_voice import DATA
from tools import bench_voice

CLIPS = ["etts_pma00001.wav", "etts_pmi00001.wav"]


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory) -> Path:
    """A folder with two of the Korean clips (symlinked, never copied) and their transcripts."""
    if not (DATA / "transcripts.tsv").is_file():
        pytest.skip(f"Korean test clips not found at {DATA} (set REALTY_EDGE_DATA_DIR)")
    folder = tmp_path_factory.mktemp("clips")
    lines = dict(bench_voice.read_transcripts(DATA))
    (folder / "transcripts.tsv").write_text(
        "".join(f"{name}\t{lines[name]}\n" for name in CLIPS), encoding="utf-8"
    )
    for name in CLIPS:
        (folder / name).symlink_to(DATA / name)
    return folder


def test_splits_take_even_and_odd_positions():
    names = ["a", "b", "c", "d", "e"]
    assert bench_voice.split_names(names, "all") == names
    assert bench_voice.split_names(names, "even") == ["a", "c", "e"]
    assert bench_voice.split_names(names, "odd") == ["b", "d"]


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REALTY_EDGE_DATA_DIR", str(tmp_path))
    assert bench_voice.default_data_dir() == tmp_path
    (tmp_path / "korean-speech").mkdir()
    assert bench_voice.default_data_dir() == tmp_path / "korean-speech"
    monkeypatch.delenv("REALTY_EDGE_DATA_DIR")
    assert bench_voice.default_data_dir().parts[-3:] == ("shared", "data", "korean-speech")


def test_both_paths_are_reported_side_by_side(two_clips):
    from typer.testing import CliRunner

    from tools.cli import app

    result = CliRunner().invoke(
        app, ["bench", "voice", "--data", str(two_clips), "--repeats", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clips"] == 2 and report["repeats"] == 2
    assert report["timer"].startswith("time.process_time")
    assert len(report["load_avg"]) == 3 and report["cpus"] == os.cpu_count()
    raw, ours = report["paths"]
    assert (raw["name"], ours["name"]) == ("raw_vosk", "ours")
    assert raw["ratio_to_raw"] == 1.0 and ours["ratio_to_raw"] > 0
    for path in (raw, ours):
        assert set(path["clip_rtf"]) == set(CLIPS)
        assert 0 < path["rtf_p50"] <= path["rtf_p95"]
        assert 0 <= path["mean_cer"] <= 1.5
    assert ours["mean_cer"] < 0.6  # these two clips are read speech the model mostly gets


def test_ablation_has_a_row_per_change(two_clips):
    report = bench_voice.run(two_clips, split="odd", repeats=1, ablation=True)
    names = [p.name for p in report.paths]
    assert names[0] == "raw_vosk" and names[-1] == "ours (shipped)"
    assert "+ warm recognizer only" in names and "+ beam 8, max-active 1500 only" in names
    assert report.clips == 1
    table = bench_voice.format_table(report)
    assert "x raw" in table and all(name in table for name in names)
