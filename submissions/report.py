"""The page a competitor opens after every `make ensemble`: artifacts/reports/<name>/index.html.

One self-contained HTML file (images inlined as base64 PNG, no scripts, no network) and
the same PNGs beside it for pasting elsewhere:

    runs and blending methods: honest CV accuracy and log loss (table + bar chart)
    the chosen blend's weights
    the blend's OOF confusion matrix (honest predictions) and per-class accuracy
    training class priors against the estimated test priors
    with an answer key: the test accuracy and the test confusion matrix
    past submissions sent to Kaggle: honest CV against the public and private scores
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from competition.calibration import Calibration
from competition.files import atomic_dir
from competition.labels import LABELS

BLEND_COLOR, RUN_COLOR, CHOSEN_COLOR, TRAIN_COLOR = "#f0a35e", "#7a9cc6", "#c0392b", "#95a5a6"


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything the page shows, as plain data.

    runs: [{name, accuracy, log_loss, weight, fold_accuracy: {fold: acc}}]
    methods: [{method, summary, accuracy, log_loss, weights: [K] | None, fits: bool, weighted: bool}]
    oof_confusion: `(12, 12)` counts of the chosen blend's honest OOF predictions (row = truth)
    per_class: {series: {label: accuracy | None}} (OOF; the blend and the best run)
    train_priors, test_priors: `(12,)`
    test: rows [{what, raw, accuracy}] on an answer key: without and with the prior correction
    leaderboard: rows [{name, honest_cv, public, private}] of past submissions Kaggle scored
    """

    name: str
    chosen: str
    priors_mode: str
    runs: list[dict]
    methods: list[dict]
    oof_confusion: np.ndarray = field(repr=False)
    per_class: dict[str, dict] = field(repr=False)
    train_priors: np.ndarray = field(repr=False)
    test_priors: np.ndarray = field(repr=False)
    calibration: Calibration | None = None  # applied to the test probabilities before the reweighting
    submission: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)  # (what, value) lines of the header table
    notes: list[str] = field(default_factory=list)
    test: list[dict] | None = None
    test_confusion: np.ndarray | None = field(default=None, repr=False)
    solution: str = ""
    answer_key_priors: np.ndarray | None = field(default=None, repr=False)  # `(12,)` label shares of the key
    leaderboard: list[dict] = field(default_factory=list)


# --- figures: each returns PNG bytes -----------------------------------------------------


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display; also keeps a headless machine from trying to open one
    import matplotlib.pyplot as plt

    return plt


def _zoomed_limits(values: list[float]) -> tuple[float, float]:
    """An axis range that shows differences of a few tenths of a percent, not just 0..1."""
    lo, hi = min(values), max(values)
    span = max(hi - lo, 0.01)
    return max(0.0, lo - 0.6 * span), min(1.0, hi + 0.3 * span)


def accuracy_chart(runs: list[dict], methods: list[dict], chosen: str) -> bytes:
    """Horizontal bars: each run's OOF accuracy and each method's honest CV accuracy."""
    plt = _plt()
    rows = [(f"run  {r['name']}", r["accuracy"], RUN_COLOR) for r in runs]
    rows += [(f"blend  {m['method']}" + ("  (chosen)" if m["method"] == chosen else ""), m["accuracy"],
              CHOSEN_COLOR if m["method"] == chosen else BLEND_COLOR) for m in methods]
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.0))
    ypos = np.arange(len(rows))[::-1]
    ax.barh(ypos, [r[1] for r in rows], color=[r[2] for r in rows], height=0.7)
    ax.set_yticks(ypos, [r[0] for r in rows], fontsize=9)
    lo, hi = _zoomed_limits([r[1] for r in rows])
    ax.set_xlim(lo, hi)
    for y, (_, v, _) in zip(ypos, rows, strict=True):
        ax.text(v, y, f" {v:.4f}", va="center", fontsize=8.5)
    ax.set_xlabel("accuracy (runs: out-of-fold; blends: honest nested CV)" + ("  — axis zoomed" if lo > 0 else ""))
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def leaderboard_chart(rows: list[dict]) -> bytes:
    """Each scored submission: honest CV accuracy (x) against Kaggle's public and private accuracy
    (y), with the diagonal where they would agree."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    values = [r["honest_cv"] for r in rows]
    for key, marker, color in (("public", "o", RUN_COLOR), ("private", "s", CHOSEN_COLOR)):
        pts = [(r["honest_cv"], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            ax.scatter(*zip(*pts), marker=marker, color=color, label=f"{key} leaderboard", zorder=3)
            values += [y for _, y in pts]
    lo, hi = _zoomed_limits(values)
    ax.plot([lo, hi], [lo, hi], color=TRAIN_COLOR, lw=1, ls="--", label="CV = leaderboard")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("honest CV accuracy of the blend")
    ax.set_ylabel("Kaggle accuracy")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def weights_chart(names: list[str], weights: list[float], method: str) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 0.38 * len(names) + 1.0))
    ypos = np.arange(len(names))[::-1]
    ax.barh(ypos, weights, color=CHOSEN_COLOR, height=0.65)
    ax.set_yticks(ypos, names, fontsize=9)
    ax.set_xlim(0, max(1.0, max(weights) * 1.1) if weights else 1.0)
    for y, w in zip(ypos, weights, strict=True):
        ax.text(w, y, f" {w:.3f}", va="center", fontsize=8.5)
    ax.set_xlabel(f"weight in the '{method}' blend (fitted on all OOF rows)")
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def confusion_chart(cm: np.ndarray, title: str) -> bytes:
    """Heat map of `cm` `(12, 12)`: colour = share of the true class (row), text = count.

    The colour scale is a square-root-like power law, so that a 2% confusion is visibly
    tinted next to a 95% diagonal.
    """
    plt = _plt()
    from matplotlib.colors import PowerNorm

    cm = np.asarray(cm)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.6, 6.6))
    im = ax.imshow(share, cmap="Blues", norm=PowerNorm(gamma=0.4, vmin=0, vmax=1))
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right", fontsize=9)
    ax.set_yticks(range(len(LABELS)), LABELS, fontsize=9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7.5,
                        color="white" if share[i, j] > 0.3 else "black")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("share of the true class", fontsize=9)
    return _png(fig)


def per_class_chart(per_class: dict[str, dict]) -> bytes:
    """Grouped bars: per-class accuracy of each series (e.g. the blend and the best run)."""
    plt = _plt()
    series = list(per_class)
    colors = [CHOSEN_COLOR, RUN_COLOR, TRAIN_COLOR, BLEND_COLOR]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    x = np.arange(len(LABELS))
    values = []
    for i, name in enumerate(series):
        v = [per_class[name].get(lab) for lab in LABELS]
        v = [np.nan if a is None else a for a in v]
        values += [a for a in v if not np.isnan(a)]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, v, width, label=name, color=colors[i % len(colors)])
    ax.set_xticks(x, LABELS, fontsize=9)
    bottom = max(0.0, np.floor((min(values, default=0.0) - 0.05) * 10) / 10)
    ax.set_ylim(bottom, 1.0)
    ax.set_ylabel("accuracy (recall), OOF" + (" — axis zoomed" if bottom > 0 else ""))
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(series), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def priors_chart(train: np.ndarray, test: np.ndarray, mode: str, actual: np.ndarray | None = None) -> bytes:
    """Grouped bars of the training and (estimated) test priors; `actual` shares of an answer key as ticks."""
    plt = _plt()
    x = np.arange(len(LABELS))
    fig, ax = plt.subplots(figsize=(10, 3.4))
    ax.bar(x - 0.2, train, 0.4, label="training priors (OOF labels)", color=TRAIN_COLOR)
    label = {"em": "test priors estimated by EM", "uniform": "test priors assumed uniform",
             "none": "test priors = training priors (no correction)"}[mode]
    ax.bar(x + 0.2, test, 0.4, label=label, color=CHOSEN_COLOR)
    ax.axhline(1 / len(LABELS), color="black", lw=0.8, ls=":", label="uniform (1/12)")
    if actual is not None:
        ax.scatter(x + 0.2, actual, marker="_", s=300, lw=2.5, color="black", zorder=3,
                   label="answer key shares (not used)")
    ax.set_xticks(x, LABELS, fontsize=9)
    ax.set_ylabel("class share")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


# --- the page --------------------------------------------------------------------------

CSS = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       margin: 24px auto; max-width: 1100px; padding: 0 20px; color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child { white-space: nowrap; }
tr.chosen td { background: #fdecea; font-weight: 600; }
.note { color: #555; font-size: 0.88em; } .warn { color: #a04000; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
.grid { display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; }
code { background: #f3f3f3; padding: 0 3px; }
"""


def _esc(x) -> str:
    return html.escape(str(x))


def _num(x, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def _table(header: list[str] | None, rows: list[list], chosen_rows: set[int] = frozenset(),
           numeric_from: int = 1) -> str:
    head = "<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>" if header else ""
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td class="num">{_esc(c)}</td>' if j >= numeric_from else f"<td>{_esc(c)}</td>"
                        for j, c in enumerate(row))
        body.append(f'<tr{" class=chosen" if i in chosen_rows else ""}>{cells}</tr>')
    return f"<table>{head}{''.join(body)}</table>"


def _img(images: dict[str, bytes], name: str, alt: str) -> str:
    data = base64.b64encode(images[name]).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}" title="{_esc(name)}">'


def render(d: ReportData, images: dict[str, bytes]) -> str:
    """The HTML page for `d`, with `images` (file name -> PNG bytes) inlined."""
    parts = [f"<h1>Ensemble report: {_esc(d.name)}</h1>",
             _table(None, [[k, v] for k, v in d.facts], numeric_from=2)]
    for note in d.notes:
        parts.append(f'<p class="note warn">{_esc(note)}</p>')

    parts.append("<h2>Runs and blending methods</h2>")
    fitting = [m["method"] for m in d.methods if m["fits"]]
    fixed = [m["method"] for m in d.methods if not m["fits"]]
    parts.append('<p class="note">Runs: out-of-fold (OOF) accuracy, every clip predicted by the fold model that '
                 f"did not train on it. Blends that fit anything ({_esc(', '.join(fitting) or 'none')}) are scored "
                 "by nested CV over the same speaker-grouped folds: fitted on the other folds' OOF rows, scored on "
                 f"the held-out fold; {_esc(' and '.join(fixed) or 'none')} fit nothing.</p>")
    folds = sorted({k for r in d.runs for k in r.get("fold_accuracy", {})}, key=int)
    parts.append(_table(["run", "OOF accuracy", "log loss", f"weight ({d.chosen})",
                         *[f"fold {k}" for k in folds]],
                        [[r["name"], _num(r["accuracy"]), _num(r["log_loss"]),
                          _num(r.get("weight"), 3), *[_num(r.get("fold_accuracy", {}).get(k)) for k in folds]]
                         for r in d.runs]))
    parts.append(_table(["method", "what it is", "honest CV accuracy", "log loss", "fits on OOF",
                         "weights (refitted on all rows)"],
                        [[m["method"], m.get("summary", ""), _num(m["accuracy"]), _num(m["log_loss"]),
                          "yes" if m["fits"] else "no",
                          " ".join(f"{w:.3f}" for w in m["weights"]) if m.get("weights") else "–"]
                         for m in d.methods],
                        chosen_rows={i for i, m in enumerate(d.methods) if m["method"] == d.chosen}, numeric_from=2))
    parts.append(_img(images, "accuracy.png", "accuracy of runs and blends"))
    chosen = next((m for m in d.methods if m["method"] == d.chosen), {})
    if "weights.png" in images:
        parts.append("<h2>Blend weights</h2>")
        parts.append(_img(images, "weights.png", "blend weights"))
    elif not chosen.get("weighted", True):
        parts.append(f'<p class="note">The {_esc(d.chosen)} blender ({_esc(chosen.get("summary", ""))}) has no '
                     "single weight per run.</p>")

    parts.append("<h2>Where the blend errs (OOF, honest)</h2><div class=grid>")
    parts.append(_img(images, "confusion_oof.png", "OOF confusion matrix of the blend"))
    parts.append("</div>")
    series = list(d.per_class)
    parts.append(_table(["class", *series],
                        [[lab, *[_num(d.per_class[s].get(lab), 3) for s in series]] for lab in LABELS]))
    parts.append(_img(images, "per_class.png", "per-class accuracy"))

    parts.append("<h2>Class priors</h2>")
    if d.priors_mode == "none":
        parts.append('<p class="note">PRIORS=none: the test probabilities are used as the blend gives them.</p>')
    else:
        T = d.calibration.temperature if d.calibration is not None else 1.0
        parts.append('<p class="note">The blend\'s test probabilities are first calibrated on its honest OOF '
                     f"predictions (bias-corrected temperature scaling: T = {T:.3f} and the per-class bias below; "
                     "a large bias shows a model trained under other class shares, e.g. with unknown "
                     "subsampled), then reweighted by test prior / training prior "
                     f"(PRIORS={_esc(d.priors_mode)}). The training priors are the OOF label shares.</p>")
    actual = d.answer_key_priors
    bias = d.calibration.bias if d.calibration is not None else None
    columns = ["class", "training prior", "test prior", *(["calibration bias"] if bias is not None else []),
               *(["answer key share (not used)"] if actual is not None else [])]
    parts.append(_table(columns, [[lab, _num(d.train_priors[i], 4), _num(d.test_priors[i], 4),
                                   *([f"{bias[i]:+.3f}"] if bias is not None else []),
                                   *([_num(actual[i], 4)] if actual is not None else [])]
                                  for i, lab in enumerate(LABELS)]))
    parts.append(_img(images, "priors.png", "training and test priors"))

    if d.test is not None:
        parts.append("<h2>Test score on the answer key</h2>")
        parts.append(f'<p class="note">Scored on {_esc(d.solution)}. For information only: '
                     "nothing in the blend was chosen by it.</p>")
        if d.priors_mode == "none":
            parts.append(_table(["predictions", "test accuracy"], [[t["what"], _num(t["raw"])] for t in d.test]))
        else:
            parts.append(_table(["predictions", "no prior correction", f"PRIORS={d.priors_mode}"],
                                [[t["what"], _num(t["raw"]), _num(t["accuracy"])] for t in d.test],
                                chosen_rows={0}))
        if "confusion_test.png" in images:
            parts.append(_img(images, "confusion_test.png", "test confusion matrix"))
    if d.leaderboard:
        parts.append("<h2>Past submissions: honest CV against Kaggle</h2>")
        parts.append('<p class="note">Every submission `make submit` sent and Kaggle scored '
                     "(artifacts/submissions/leaderboard.csv; `make leaderboard` prints it). Points on the "
                     "diagonal mean the CV predicts the leaderboard.</p>")
        parts.append(_table(["submission", "honest CV", "public", "private"],
                            [[r["name"], _num(r["honest_cv"]), _num(r.get("public")), _num(r.get("private"))]
                             for r in d.leaderboard], numeric_from=1))
        parts.append(_img(images, "leaderboard.png", "honest CV against the leaderboard"))
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>{_esc(d.name)}: ensemble report</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


def figures(d: ReportData) -> dict[str, bytes]:
    """The report's PNGs by file name."""
    images = {"accuracy.png": accuracy_chart(d.runs, d.methods, d.chosen),
              "confusion_oof.png": confusion_chart(d.oof_confusion,
                                                   f"blend '{d.chosen}': honest OOF predictions, "
                                                   f"{int(np.sum(d.oof_confusion))} clips"),
              "per_class.png": per_class_chart(d.per_class),
              "priors.png": priors_chart(d.train_priors, d.test_priors, d.priors_mode, d.answer_key_priors)}
    weights = [r.get("weight") for r in d.runs]
    if all(w is not None for w in weights) and len(weights) > 1:
        images["weights.png"] = weights_chart([r["name"] for r in d.runs], weights, d.chosen)
    if d.leaderboard:
        images["leaderboard.png"] = leaderboard_chart(d.leaderboard)
    if d.test_confusion is not None:
        how = "no prior correction" if d.priors_mode == "none" else f"PRIORS={d.priors_mode}"
        images["confusion_test.png"] = confusion_chart(
            d.test_confusion, f"blend on the answer key ({how}): {int(np.sum(d.test_confusion))} test clips")
    return images


def write_report(d: ReportData, out_dir: Path) -> Path:
    """Write `<out_dir>/<name>/index.html` and its PNGs (the folder replaced as a whole); return the HTML path."""
    images = figures(d)
    dest = Path(out_dir) / d.name
    with atomic_dir(dest) as tmp:
        for fname, data in images.items():
            (tmp / fname).write_bytes(data)
        (tmp / "index.html").write_text(render(d, images), encoding="utf-8")
    return dest / "index.html"
