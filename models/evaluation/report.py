"""``realty-edge eval``: every shipped model, against baselines trained in the same run.

The tabular evaluations (Leads.csv, bank marketing) train through the same pipeline and run in
the same int8 interpreter as on the device; the language model is the shipped artifact, run by
the device's interpreter. Datasets live outside the project (several carry no licence to
redistribute): they are read from ``data_dir`` and the report says which were found.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from models.artifact import ARTIFACT_DIR

DATASETS = {
    "leads": "x-education-leads/Leads.csv",
    "bank": "bank-marketing/bank-additional/bank-additional-full.csv.gz",
    "lingua": "lingua-langid-testdata/sentences",
}

TARGETS = {
    "leads_all.auc": (">=", 0.985),
    "leads_all.accuracy": (">=", 0.95),
    "leads_behaviour.auc": (">=", 0.905),
    "bank.auc": (">=", 0.81),
    "bank.top_decile_lift": (">=", 3.5),
    "behaviour.ece": ("<=", 0.03),
    "langid.sentences": (">=", 0.995),
    "langid.word_pairs": (">=", 0.95),
    "langid.single_words": (">=", 0.85),
}

Progress = Callable[[str], None]


def datasets_found(data_dir: Path) -> dict[str, bool]:
    return {name: (data_dir / rel).exists() for name, rel in DATASETS.items()}


def evaluate_language(data_dir: Path, artifact_dir: Path = ARTIFACT_DIR) -> dict[str, Any]:
    """The shipped language model on the lingua test data, in the device's interpreter."""
    from models.language.evaluate import evaluate_lingua
    from models.language.infer import LanguageModel

    model = LanguageModel.from_artifact(artifact_dir)

    def predict(texts):
        return model.predict_batch(texts)[0]

    t0 = time.perf_counter()
    res = evaluate_lingua(data_dir / "lingua-langid-testdata", predict)
    n = sum(sum(c.values()) for c in res["counts"].values())
    return {
        "langid.sentences": res["mean"]["sentences"],
        "langid.word_pairs": res["mean"]["word-pairs"],
        "langid.single_words": res["mean"]["single-words"],
        "langid.per_language": {
            kind.replace("-", "_"): per for kind, per in res["per_language"].items()
        },
        "langid.texts_per_s_eval": n / (time.perf_counter() - t0),
        "_confusion": res["confusion"]["single-words"],
        "_labels": res["labels"],
    }


def namespace_bank(res: dict[str, Any], curves: dict[str, Any]) -> dict[str, Any]:
    """The bank evaluation's keys in the report's scheme (``bank.*``, ``baseline.bank.*``)."""
    out: dict[str, Any] = {}
    for key, value in res.items():
        if key == "roc":
            curves["bank"] = {"roc": value}
        elif key.startswith("bank."):
            out[key] = value
        elif key.startswith(("hgb.", "lr.")):
            model, metric = key.split(".", 1)
            out[f"baseline.bank.{'logreg' if model == 'lr' else model}.{metric}"] = value
        elif key == "int8_vs_float":
            out["int8_vs_float.bank.auc_diff"] = value
        elif key == "int8_max_abs_diff":
            out["int8_vs_float.bank.max_abs_diff"] = value
        else:
            out[f"bank.{key}"] = value
    if "bank.bytes_int8" in out:
        out["bank.size_ratio_float_over_int8"] = out["bank.bytes_float"] / out["bank.bytes_int8"]
    return out


#: The parts of one evaluation run, in the order they run.
PARTS: tuple[str, ...] = ("profile_text", "leads", "bank", "language", "promises")


def evaluate_all(
    data_dir: Path,
    seed: int = 0,
    progress: Progress = print,
    profile_text: Any = None,
    *,
    promise_worlds: dict[str, dict] | None = None,
    parts: Collection[str] | None = None,
) -> dict[str, Any]:
    """One run over every dataset found; returns the flat result with ``baselines`` etc.

    ``parts``: run only these of :data:`PARTS` (default: all); the leads and bank parts need
    their datasets, and without the leads part the behaviour promise has no figures.

    ``profile_text``: the device's text extractor (``edge.profile_text.extract.labelled``),
    scored on the labelled messages when given (``models`` does not import ``edge``).
    ``promise_worlds``: generator arguments for the ``timing`` and ``ranking`` worlds of the
    promises (``models.evaluation.promises``; smaller ones make a fast test).
    """
    found = datasets_found(data_dir)
    result: dict[str, Any] = {"datasets": found, "data_dir": str(data_dir)}
    unknown = set(parts or ()) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown evaluation part(s) {sorted(unknown)}; known: {list(PARTS)}")

    def wanted(part: str) -> bool:
        return parts is None or part in parts

    if profile_text is not None and wanted("profile_text"):
        from models.evaluation.profile_text import evaluate_profile_text

        progress("profile text: field-level P/R/F1 on the labelled messages")
        result["profile_text"] = evaluate_profile_text(profile_text)
    curves: dict[str, Any] = {}
    if found["leads"] and wanted("leads"):
        from models.evaluation.leads import evaluate_leads

        progress("Leads.csv: training the behaviour pipeline on the training rows")
        res = evaluate_leads(data_dir, seed)
        curves.update(res.pop("curves", {}))
        result.update(res)
    if found["bank"] and wanted("bank"):
        from models.evaluation.bank import evaluate_bank

        progress("bank marketing: training the intervention pipeline on the training rows")
        result.update(namespace_bank(evaluate_bank(data_dir, seed), curves))
    if found["lingua"] and wanted("language"):
        progress("lingua test data: the shipped language model")
        result.update(evaluate_language(data_dir))
    if wanted("promises"):
        from models.evaluation.promises import promises

        progress("promises: intervention timing and personalization on generated leads")
        worlds = promise_worlds or {}
        result.update(promises(result, ARTIFACT_DIR, worlds.get("timing"), worlds.get("ranking")))
    result["_curves"] = curves
    result["model_bytes"] = {
        p.stem: p.stat().st_size for p in sorted(ARTIFACT_DIR.glob("*.tflite"))
    }
    result["baselines"] = {
        k.removeprefix("baseline."): v for k, v in result.items() if k.startswith("baseline.")
    }
    result["int8_vs_float"] = {
        k.removeprefix("int8_vs_float."): v
        for k, v in result.items()
        if k.startswith("int8_vs_float.")
    }
    return result


def public(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON object ``eval --json`` prints: no curves or arrays, no duplicated keys."""
    return {
        k: v
        for k, v in result.items()
        if not k.startswith(("_", "baseline.", "int8_vs_float.")) and k != "curves"
    }


def _plot(result: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    curves = result.get("_curves", {})
    rocs = {k: v["roc"] for k, v in curves.items() if isinstance(v, dict) and "roc" in v}
    if "bank_roc" in curves:
        rocs["bank"] = curves["bank_roc"]
    if rocs:
        fig, ax = plt.subplots(figsize=(5, 5))
        for name, roc in rocs.items():
            ax.plot(roc["fpr"], roc["tpr"], label=name)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (int8)")
        ax.legend()
        fig.savefig(out / "roc.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append("roc.png")
    cals = {
        k: v["calibration"] for k, v in curves.items() if isinstance(v, dict) and "calibration" in v
    }
    if cals:
        fig, ax = plt.subplots(figsize=(5, 5))
        for name, cal in cals.items():
            pts = [
                (m, f)
                for m, f in zip(cal["mean_predicted"], cal["fraction_positive"], strict=True)
                if m is not None
            ]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=name)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(
            xlabel="mean predicted probability",
            ylabel="fraction positive",
            title="calibration (int8)",
        )
        ax.legend()
        fig.savefig(out / "calibration.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append("calibration.png")
    if "_confusion" in result:
        cm = np.asarray(result["_confusion"], dtype=float)
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        labels = result["_labels"]
        fig, ax = plt.subplots(figsize=(7, 6))
        im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set(
            xlabel="predicted",
            ylabel="true",
            title="language ID confusion, single words (row-normalized)",
        )
        fig.colorbar(im, ax=ax)
        fig.savefig(out / "langid_confusion.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append("langid_confusion.png")
    return written


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def markdown(result: dict[str, Any], plots: list[str]) -> str:
    lines = ["# Evaluation report", ""]
    lines.append(
        "Datasets (read from `"
        + result["data_dir"]
        + "`): "
        + ", ".join(
            f"{k} {'found' if v else 'MISSING (not evaluated)'}"
            for k, v in result["datasets"].items()
        )
    )
    lines += [
        "",
        "| measure | int8 model | target | met | HGB | LogReg |",
        "|---|---|---|---|---|---|",
    ]
    for key, (op, target) in TARGETS.items():
        if key not in result:
            continue
        value = result[key]
        met = value >= target if op == ">=" else value <= target
        stem, metric = key.split(".", 1)
        hgb = result.get(f"baseline.{stem}.hgb.{metric}", "")
        lr = result.get(f"baseline.{stem}.logreg.{metric}", "")
        lines.append(
            f"| {key} | {_fmt(value)} | {op} {target} | {'yes' if met else 'no'} "
            f"| {_fmt(hgb)} | {_fmt(lr)} |"
        )
    for stem in ("leads_all", "leads_behaviour", "bank"):
        drop = result.get(f"int8_vs_float.{stem}.auc_diff")
        ratio = result.get(f"{stem}.size_ratio_float_over_int8")
        if drop is not None:
            lines.append(
                f"| {stem} int8 AUC drop vs float | {drop:+.4f} | <= 0.005 | "
                f"{'yes' if drop <= 0.005 else 'no'} | | |"
            )
        if ratio is not None:
            lines.append(
                f"| {stem} float/int8 size | {ratio:.2f}x | >= 3.5x | "
                f"{'yes' if ratio >= 3.5 else 'no'} | | |"
            )
    lines += promise_lines(result)
    lines += ["", "## Baselines", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in result["baselines"].items()]
    lines += ["", "## int8 versus float", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in result["int8_vs_float"].items()]
    lines += ["", "## Model bytes", ""]
    lines += [f"- {k}: {v}" for k, v in result["model_bytes"].items()]
    if "langid.per_language" in result:
        lines += [
            "",
            "## Language ID per language (accuracy)",
            "",
            "| language | " + " | ".join(result["langid.per_language"]) + " |",
            "|---" * (1 + len(result["langid.per_language"])) + "|",
        ]
        kinds = list(result["langid.per_language"].values())
        for lang in kinds[0]:
            lines.append(f"| {lang} | " + " | ".join(f"{k[lang]:.4f}" for k in kinds) + " |")
    if "profile_text" in result:
        from models.evaluation.profile_text import markdown as profile_text_markdown

        lines += profile_text_markdown(result["profile_text"])
    lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def promise_lines(result: dict[str, Any]) -> list[str]:
    """The promises' section of the Markdown report: each figure, its target, its definition."""
    from models.evaluation.promises import target_rows

    rows = target_rows(result)
    if not rows:
        return []
    lines = ["", "## Promises", "", "| measure | value | target | met |", "|---|---|---|---|"]
    lines += [f"| {k} | {v:.4f} | {t} | {'yes' if m else 'no'} |" for k, v, t, m in rows]
    lines.append("")
    for key in (
        "promises.behaviour_accuracy",
        "promises.intervention_timing",
        "promises.personalization_auc",
        "privacy.membership_inference",
    ):
        if key in result:
            lines.append(f"- `{key}`: {result[key]['definition']}")
    timing = result.get("promises.intervention_timing")
    if timing:
        lines.append(
            f"- timing baselines (share of best): {_fmt_dict(timing['baselines'])}; "
            f"channel truly best: {timing['channel_is_truly_best']:.4f}"
        )
    rank = result.get("promises.personalization_auc")
    if rank:
        lines.append(
            f"- ranking: recall@10 {rank['recall@10']:.4f}, NDCG@10 {rank['ndcg@10']:.4f}; "
            f"baselines {_fmt_dict(rank['baselines'])}"
        )
    return lines


def _fmt_dict(d: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} ({_fmt_dict(v)})" if isinstance(v, dict) else f"{k} {_fmt(v)}" for k, v in d.items()
    )


def write_report(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    plots = _plot(result, out)
    (out / "report.md").write_text(markdown(result, plots))
    (out / "report.json").write_text(json.dumps(public(result), indent=1, default=float))
    return out / "report.md"
