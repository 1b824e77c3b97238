"""The evaluation report: keys, targets, and the CLI on whatever datasets are present."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.evaluation.report import markdown, namespace_bank, public, write_report

LINGUA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lingua-langid-testdata"
CLI = str(Path(sys.executable).with_name("realty-edge"))


def fake_result() -> dict:
    curves: dict = {}
    result = {
        "datasets": {"leads": True, "bank": True, "lingua": False},
        "data_dir": "/data",
        "leads_all.auc": 0.99,
        "leads_all.accuracy": 0.94,
        "baseline.leads_all.hgb.auc": 0.9837,
        "baseline.leads_all.logreg.auc": 0.9811,
        "int8_vs_float.leads_all.auc_diff": 0.001,
        "leads_all.size_ratio_float_over_int8": 3.6,
        "_curves": curves,
        "model_bytes": {"behaviour": 1000},
    }
    result.update(
        namespace_bank(
            {
                "bank.auc": 0.805,
                "bank.top_decile_lift": 4.6,
                "hgb.auc": 0.807,
                "lr.auc": 0.793,
                "int8_vs_float": 3e-5,
                "bytes_float": 300,
                "bytes_int8": 100,
                "roc": {"fpr": [0, 1], "tpr": [0, 1]},
            },
            curves,
        )
    )
    result["baselines"] = {
        k.removeprefix("baseline."): v for k, v in result.items() if k.startswith("baseline.")
    }
    result["int8_vs_float"] = {}
    return result


def test_bank_keys_are_namespaced_and_its_roc_kept():
    result = fake_result()
    assert result["baseline.bank.hgb.auc"] == 0.807
    assert result["baseline.bank.logreg.auc"] == 0.793
    assert result["int8_vs_float.bank.auc_diff"] == 3e-5
    assert result["bank.size_ratio_float_over_int8"] == 3.0
    assert result["_curves"]["bank"]["roc"]["fpr"] == [0, 1]


def test_markdown_puts_targets_beside_figures_and_baselines():
    text = markdown(fake_result(), [])
    assert "| leads_all.auc | 0.9900 | >= 0.985 | yes | 0.9837 | 0.9811 |" in text
    assert "| leads_all.accuracy | 0.9400 | >= 0.95 | no |" in text
    assert "| bank.auc | 0.8050 | >= 0.81 | no | 0.8070 | 0.7930 |" in text
    assert "bank float/int8 size | 3.00x | >= 3.5x | no" in text
    assert "lingua MISSING (not evaluated)" in text


def test_public_json_has_no_curves_and_no_flat_duplicates(tmp_path):
    result = fake_result()
    out = public(result)
    assert "_curves" not in out and "baseline.bank.hgb.auc" not in out
    assert out["baselines"]["bank.hgb.auc"] == 0.807
    write_report(result, tmp_path)
    assert json.loads((tmp_path / "report.json").read_text())["bank.auc"] == 0.805
    assert (tmp_path / "roc.png").stat().st_size > 1000


@pytest.mark.skipif(not LINGUA.exists(), reason="lingua test data not beside the project")
def test_eval_cli_evaluates_what_it_finds_and_prints_one_json_object(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "lingua-langid-testdata").symlink_to(LINGUA)
    proc = subprocess.run(
        [
            CLI,
            "eval",
            "--data-dir",
            str(data),
            "--out",
            str(tmp_path / "r"),
            "--promise-leads",
            "60",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["datasets"] == {"leads": False, "bank": False, "lingua": True}
    assert result["langid.sentences"] > 0.99
    assert set(result["langid.per_language"]["single_words"]) >= {"en", "ko", "th"}
    assert result["model_bytes"]["language"] < 1_000_000
    assert (tmp_path / "r" / "langid_confusion.png").exists()
    # the promises measured on generated leads are there with their definitions
    for key in ("promises.intervention_timing", "promises.personalization_auc"):
        assert result[key]["definition"] and 0.0 <= result[key]["value"] <= 1.0, key
    assert "promises.behaviour_accuracy" not in result  # no Leads.csv: not measured, not faked
    assert "## Promises" in (tmp_path / "r" / "report.md").read_text()
