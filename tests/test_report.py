"""The ensemble report: one self-contained HTML page with tables and valid PNG charts."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest

from competition.calibration import Calibration
from competition.labels import LABELS
from submissions import blend, report

C = len(LABELS)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _data(name: str = "rep", with_test: bool = True, chosen: str = "weights") -> report.ReportData:
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 5, size=(C, C)) + np.diag(rng.integers(40, 90, size=C))
    train = np.full(C, 0.4 / 11)
    train[-1] = 0.6
    weights = (None, None) if chosen == "stack" else (0.6, 0.4)  # a stack has no weight per run
    return report.ReportData(
        name=name, chosen=chosen, priors_mode="em",
        runs=[{"name": "crnn_resnet/r1", "accuracy": 0.912, "log_loss": 0.31, "weight": weights[0],
               "fold_accuracy": {0: 0.91, 1: 0.915}},
              {"name": "bc_resnet/r2", "accuracy": 0.905, "log_loss": 0.33, "weight": weights[1],
               "fold_accuracy": {0: 0.90, 1: 0.91}}],
        methods=[{"method": m.name, "summary": m.summary, "accuracy": 0.92 + 0.001 * i, "log_loss": 0.3,
                  "fits": m.fits, "weighted": m.weighted, "weights": [0.6, 0.4] if m.weighted else None}
                 for i, m in enumerate(blend.REGISTRY.values())],
        oof_confusion=cm, per_class={"blend (weights)": {lab: 0.9 for lab in LABELS},
                                     "best run": {**{lab: 0.85 for lab in LABELS}, "yes": None}},
        train_priors=train, test_priors=np.full(C, 1 / C),
        calibration=Calibration(0.8, np.linspace(-0.5, 2.5, C)),
        facts=[("submission", "artifacts/submissions/rep.csv"), ("note", "<b>escaped</b>")],
        notes=["warning: something to see"],
        test=[{"what": "blend (weights)", "raw": 0.88, "accuracy": 0.90}] if with_test else None,
        test_confusion=cm if with_test else None, solution="data/raw/test_solution.csv",
        answer_key_priors=np.full(C, 1 / C) if with_test else None)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return report.write_report(_data(), out)


def test_the_page_and_its_images_exist(written):
    assert written.name == "index.html" and written.is_file()
    pngs = sorted(p.name for p in written.parent.glob("*.png"))
    assert pngs == ["accuracy.png", "confusion_oof.png", "confusion_test.png", "per_class.png", "priors.png",
                    "weights.png"]
    for name in pngs:
        data = (written.parent / name).read_bytes()
        assert data.startswith(PNG_MAGIC)
    assert not list(written.parent.parent.glob(".*.tmp"))


def test_images_are_inlined_and_decode(written):
    import matplotlib.image

    html = written.read_text()
    inlined = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(inlined) == 6
    for b64 in inlined:
        data = base64.b64decode(b64)
        assert data.startswith(PNG_MAGIC)
        image = matplotlib.image.imread(io.BytesIO(data), format="png")
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300


def test_the_page_has_the_tables(written):
    html = written.read_text()
    assert html.count("<table>") == 6  # facts, runs, methods, per class, priors, test score
    for text in ("honest CV accuracy", "crnn_resnet/r1", "0.9120", "caruana", "<tr class=chosen><td>weights",
                 "fold 1", "training prior", "T = 0.800", "calibration bias", "+2.500", "answer key share (not used)", "Test score on the answer key",
                 "nothing in the blend was chosen by it", "warning: something to see", *LABELS):
        assert text in html, text
    assert "&lt;b&gt;escaped&lt;/b&gt;" in html and "<b>escaped</b>" not in html


def test_the_page_needs_no_network(written):
    html = written.read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert 'src="data:' in html and not re.search(r'src="(?!data:)', html)


def test_without_an_answer_key_there_is_no_test_section(tmp_path):
    html = report.write_report(_data("nokey", with_test=False, chosen="stack"), tmp_path).read_text()
    assert "Test score" not in html and "no single weight per run" in html
    assert "confusion_test.png" not in html and "weights.png" not in html and "answer key share" not in html
    assert not (tmp_path / "nokey" / "confusion_test.png").exists()


def test_rewriting_replaces_the_folder(tmp_path):
    report.write_report(_data("same"), tmp_path)
    (tmp_path / "same" / "stale.png").write_bytes(b"old")
    report.write_report(_data("same", with_test=False), tmp_path)
    assert not (tmp_path / "same" / "stale.png").exists()
    assert not (tmp_path / "same" / "confusion_test.png").exists()
