"""Submission files: validation, atomic writes, scoring against an answer key, and `make submit`
through a stand-in Kaggle client (nothing reaches Kaggle; no secret reaches the output)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from competition import kaggle_api, layout
from competition.labels import LABEL_INDEX, LABELS
from submissions import score as score_cli
from submissions import submission, submit
from submissions.submission import SubmissionError

C = len(LABELS)
TOKEN = "KGAT_s3cr3t0ken5ecret9f8e7d6c5b4a"  # distinctive: any leak shows up in a substring test
NAMES = [f"clip_{i:09x}.wav" for i in range(30)]


def _probs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(C), size=n).astype(np.float32)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _valid_text(names=NAMES) -> str:
    return "fname,label\n" + "".join(f"{n},{LABELS[i % C]}\n" for i, n in enumerate(names))


# --- validation ---------------------------------------------------------------------------


def test_a_valid_file_passes(tmp_path):
    frame = submission.validate(_write(tmp_path / "s.csv", _valid_text()), NAMES)
    assert len(frame) == len(NAMES) and list(frame.columns) == ["fname", "label"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rows: rows[:-1], "1 of the 30 test clips are missing: clip_00000001d.wav"),
    (lambda rows: [*rows, rows[3]], "1 clip(s) appear more than once: clip_000000003.wav (2 times)"),
    (lambda rows: [*rows, "clip_deadbeef.wav,yes"], "1 name(s) are not test clips: clip_deadbeef.wav"),
    (lambda rows: [rows[0].replace("yes", "maybe"), *rows[1:]], "1 label(s) are not among the 12"),
    (lambda rows: [rows[0].replace("yes", "NA"), *rows[1:]], "'NA' (row 2)"),
    (lambda rows: [rows[0].replace("yes", "Yes"), *rows[1:]], "'Yes' (row 2)"),
])
def test_each_kind_of_problem_is_named(tmp_path, edit, message):
    rows = _valid_text().splitlines()[1:]
    path = _write(tmp_path / "s.csv", "\n".join(["fname,label", *edit(rows)]) + "\n")
    with pytest.raises(SubmissionError, match="not a valid submission") as e:
        submission.validate(path, NAMES)
    assert message in str(e.value)


@pytest.mark.parametrize("header", ["file,label", "fname,label,score", "fname;label", "label,fname"])
def test_a_wrong_header_is_named(tmp_path, header):
    path = _write(tmp_path / "s.csv", _valid_text().replace("fname,label", header, 1))
    with pytest.raises(SubmissionError, match="must be 'fname,label'"):
        submission.validate(path, NAMES)


def test_an_empty_or_missing_file(tmp_path):
    with pytest.raises(SubmissionError, match="not a readable CSV"):
        submission.validate(_write(tmp_path / "empty.csv", ""), NAMES)
    with pytest.raises(SubmissionError, match="does not exist"):
        submission.validate(tmp_path / "nowhere.csv", NAMES)


def test_many_problems_show_only_the_first_few(tmp_path):
    path = _write(tmp_path / "s.csv", "fname,label\n")
    with pytest.raises(SubmissionError) as e:
        submission.validate(path, NAMES)
    assert "30 of the 30 test clips are missing" in str(e.value) and "and 27 more" in str(e.value)
    assert "\n" not in str(e.value)


# --- writing ------------------------------------------------------------------------------


def test_write_makes_three_files_that_agree(tmp_path):
    probs = _probs(len(NAMES))
    paths = submission.write("first", NAMES, probs, {"method": "mean"}, out_dir=tmp_path)
    frame = submission.validate(paths["csv"], NAMES)
    assert (frame["label"] == np.asarray(LABELS)[probs.argmax(axis=1)]).all()
    assert np.array_equal(np.load(paths["npy"]), probs)
    info = json.loads(paths["json"].read_text())
    assert info["method"] == "mean" and info["rows"] == len(NAMES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.csv", "first.json", "first.npy"]


def test_a_failed_write_leaves_the_earlier_submission_alone(tmp_path, monkeypatch):
    paths = submission.write("sub", NAMES, _probs(len(NAMES)), {"v": 1}, out_dir=tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # rows that do not cover the test clips: refused before anything is written
    with pytest.raises(SubmissionError, match="refusing to write submission 'sub'.*missing"):
        submission.write("sub", NAMES[:-1], _probs(len(NAMES) - 1, 1), {"v": 2}, NAMES, out_dir=tmp_path)
    # a crash halfway (here while saving the probabilities): nothing is replaced either
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        submission.write("sub", NAMES, _probs(len(NAMES), 2), {"v": 3}, out_dir=tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # and no temporary files
    assert json.loads(paths["json"].read_text())["v"] == 1


def test_bad_names_are_refused(tmp_path):
    for name in ("../up", "a/b", "x.csv", ".hidden", ""):
        with pytest.raises(SubmissionError, match="submission name"):
            submission.write(name, NAMES, _probs(len(NAMES)), {}, out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_newest_is_the_last_written_not_the_last_by_name(tmp_path):
    import os

    with pytest.raises(SubmissionError, match="make ensemble"):
        submission.newest(tmp_path)
    b = submission.write("b", NAMES, _probs(len(NAMES)), {}, out_dir=tmp_path)["csv"]
    a = submission.write("a", NAMES, _probs(len(NAMES)), {}, out_dir=tmp_path)["csv"]
    os.utime(b, (1_000_000, 1_000_000))  # b written long before a
    assert submission.newest(tmp_path) == a
    os.utime(a, (500_000, 500_000))
    assert submission.newest(tmp_path) == b


# --- scoring ------------------------------------------------------------------------------


@pytest.fixture
def keyed(tmp_path) -> dict:
    """An answer key for NAMES and a submission that gets 2 of them wrong."""
    truth = [LABELS[i % C] for i in range(len(NAMES))]
    usage = ["Public" if i < 10 else "Private" for i in range(len(NAMES))]
    key = tmp_path / "solution.csv"
    pd.DataFrame({"fname": NAMES, "label": truth, "Usage": usage}).to_csv(key, index=False)
    guess = list(truth)
    guess[0], guess[15] = "unknown", "silence"  # a "yes" (public) and a "down" (private) missed
    sub = tmp_path / "sub.csv"
    pd.DataFrame({"fname": NAMES[::-1], "label": guess[::-1]}).to_csv(sub, index=False)  # order does not matter
    return {"key": key, "sub": sub, "truth": truth}


def test_score_counts_right_answers(keyed):
    result = submission.score(keyed["sub"], keyed["key"])
    assert result["accuracy"] == pytest.approx(28 / 30) and result["n"] == 30
    assert result["per_class"]["yes"] == pytest.approx(2 / 3) and result["per_class"]["no"] == 1.0
    assert result["per_class"]["down"] == pytest.approx(2 / 3)
    cm = np.array(result["confusion"])
    assert cm.sum() == 30 and cm[LABEL_INDEX["yes"], LABEL_INDEX["unknown"]] == 1
    assert result["usage"] == {"Private": pytest.approx(19 / 20), "Public": pytest.approx(9 / 10)}


def test_score_refuses_files_that_do_not_match(keyed, tmp_path):
    short = _write(tmp_path / "short.csv", "fname,label\n" + f"{NAMES[0]},yes\n")
    with pytest.raises(SubmissionError, match="does not match the answer key.*29 of the 30"):
        submission.score(short, keyed["key"])
    bad_key = _write(tmp_path / "bad_key.csv", "fname,label\nclip_a.wav,yes\nclip_a.wav,no\n")
    with pytest.raises(SubmissionError, match="answer key .* is broken: 1 duplicate"):
        submission.score(keyed["sub"], bad_key)
    with pytest.raises(SubmissionError, match="must start with fname,label"):
        submission.score(keyed["sub"], _write(tmp_path / "k.csv", "id,answer\n1,yes\n"))


def test_score_cli(keyed, tmp_path, capsys):
    assert score_cli.main(["--submission", str(keyed["sub"]), "--solution", str(keyed["key"]), "--confusion"]) == 0
    out = capsys.readouterr().out
    assert "accuracy 0.9333 on 30 clips" in out and "Public: 0.9000" in out and "yes 0.667" in out
    assert "confusion (rows: true" in out
    assert score_cli.main(["--submission", str(keyed["sub"]), "--workspace", str(tmp_path / "nodata")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("make score: error: no answer key given") and "make data" in err


# --- make submit --------------------------------------------------------------------------


def _http_error(status: int, text: str = "") -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.url = "https://www.kaggle.com/api/v1/competitions/submissions/submit"
    return requests.HTTPError(f"{status} Client Error {text}", response=response)


@pytest.fixture
def kaggle_project(tmp_path, kaggle_env, monkeypatch) -> dict:
    """Kaggle's data (3 test clips, source kaggle) and a valid submission for it; cwd = the project."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "data" / "kaggle"
    names = ["clip_000044442.wav", "clip_0000adecb.wav", "clip_0000d4322.wav"]
    (root / "test" / "audio").mkdir(parents=True)
    for n in names:
        (root / "test" / "audio" / n).touch()
    (tmp_path / "data" / "raw").symlink_to("kaggle")
    (tmp_path / "data" / "manifest.json").write_text(json.dumps(
        {"source": "kaggle", "root": str(root), "fingerprint": "kagglefp", "solution": None,
         "stamp": layout.fingerprint(root)[1]}))
    paths = submission.write("blend", names, _probs(3), {"method": "weights", "honest_cv": {"accuracy": 0.9, "expected_test_accuracy": 0.87},
                                                          "runs": [{"name": "a"}, {"name": "b"}], "priors": {"mode": "em"},
                                                          "data": {"fingerprint": "kagglefp"}},
                             out_dir=tmp_path / "artifacts" / "submissions")
    return {"csv": paths["csv"], "names": names, "root": tmp_path}


@pytest.fixture
def fake_kaggle(monkeypatch):
    """The kaggle package's API object replaced by the stand-in (kaggle 1.8), credentials set:
    `make submit` runs the harness's own adapter against it. Scored at the first poll."""
    from helpers import install_fake_kaggle

    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    fake = install_fake_kaggle(monkeypatch)
    fake.scores = [("0.88123", "0.87456")]
    return fake


def no_wait(_seconds) -> None:
    pass


def submits(fake) -> list[tuple]:
    return [c for c in fake.calls if c[0] == "competition_submit"]


def test_submit_sends_a_valid_file_and_records_both_scores(kaggle_project, fake_kaggle, capsys):
    got = submit.submit(message="first try", sleep=no_wait)
    assert (got.public, got.private, got.ref) == ("0.88123", "0.87456", fake_kaggle.NEW_REF)
    assert submits(fake_kaggle) == [("competition_submit", kaggle_api.COMPETITION, "blend.csv", "first try")]
    out = capsys.readouterr().out
    assert "public 0.88123, private 0.87456" in out and TOKEN not in out
    info = json.loads(Path("artifacts/submissions/blend.json").read_text())
    assert info["kaggle"][0] | {"time": None} == {"ref": fake_kaggle.NEW_REF, "time": None, "message": "first try",
                                                  "status": "complete", "public": "0.88123", "private": "0.87456"}
    log = pd.read_csv("artifacts/submissions/leaderboard.csv")
    row = log.to_dict("records")[0]
    assert row | {"time": None, "test_cv": None} == {
        "name": "blend", "time": None, "ref": fake_kaggle.NEW_REF, "runs": "a b", "honest_cv": 0.9,
        "test_cv": None, "expected": 0.87, "public": 0.88123, "private": 0.87456, "status": "complete"}
    assert np.isnan(row["test_cv"])  # the ensemble records no test-distribution CV yet: the column waits


def test_submit_polls_the_new_submission_until_it_is_scored(kaggle_project, fake_kaggle):
    fake_kaggle.scores = [None, None, ("0.91000", "0.90500")]
    waited: list[float] = []
    got = submit.submit(message="m", sleep=waited.append, log=lambda *a: None)
    assert (got.status, got.public, got.private) == ("complete", "0.91000", "0.90500")
    assert [c[0] for c in fake_kaggle.calls].count("competition_submissions") == 3 and len(waited) == 2


def test_kaggle_2_fetches_the_submission_by_its_ref(kaggle_project, monkeypatch):
    from helpers import FakeKaggleApi2, install_fake_kaggle

    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    fake = install_fake_kaggle(monkeypatch, FakeKaggleApi2)
    fake.scores = [None, ("0.91000", "0.90500")]
    got = submit.submit(message="m", sleep=no_wait, log=lambda *a: None)
    assert got.private == "0.90500"
    assert [c for c in fake.calls if c[0] == "get_submission"] == [("get_submission", fake.NEW_REF)] * 2


def test_a_failed_upload_is_an_error_not_the_previous_score(kaggle_project, fake_kaggle, capsys):
    """kaggle answers a failed upload with a message, not an exception; the newest listed
    submission is then an older one, whose score must not be reported as this one's."""
    fake_kaggle.upload_fails = True
    with pytest.raises(kaggle_api.KaggleError) as e:
        submit.submit(message="m", sleep=no_wait)
    assert "did not take the submission (Could not submit to competition)" in str(e.value)
    assert "0.70000" not in capsys.readouterr().out + str(e.value)
    assert not Path("artifacts/submissions/leaderboard.csv").exists()
    assert submit.main(["--message", "m"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("make submit: error: Kaggle did not take the submission") and err.count("\n") == 1


def test_an_unscored_submission_is_recorded_as_pending_after_the_wait(kaggle_project, fake_kaggle, capsys):
    fake_kaggle.scores = []  # never scored
    clock = iter(range(0, 1000, 7)).__next__
    got = kaggle_api.wait_for_score(kaggle_api.make_client(kaggle_api.find_credentials()), fake_kaggle.NEW_REF,
                                    30, sleep=no_wait, clock=clock, log=lambda *a: None)
    assert got.status == "pending" and got.public is None
    submit.submit(message="m", wait=0, sleep=no_wait)
    assert "has not scored submission" in capsys.readouterr().out
    log = pd.read_csv("artifacts/submissions/leaderboard.csv", keep_default_na=False)
    assert log["status"].tolist() == ["pending"] and log["public"].tolist() == [""]


def test_a_submission_kaggle_cannot_score_says_why(kaggle_project, fake_kaggle):
    fake_kaggle.scores = [None, "error"]
    with pytest.raises(kaggle_api.KaggleError, match="could not score submission .*must have 158538 rows"):
        submit.submit(message="m", sleep=no_wait, log=lambda *a: None)
    log = pd.read_csv("artifacts/submissions/leaderboard.csv")
    assert log["status"].tolist() == ["error"]


def test_every_submission_is_a_row_of_the_leaderboard_and_the_report_plots_them(kaggle_project, fake_kaggle,
                                                                                 capsys):
    from submissions import leaderboard

    fake_kaggle.scores = [("0.88123", "0.87456"), ("0.89000", "0.88000")]
    submit.submit(message="one", sleep=no_wait)
    submit.submit(message="two", sleep=no_wait)
    assert leaderboard.main([]) == 0
    out = capsys.readouterr().out
    assert out.count("blend") >= 2 and "0.88123" in out and "0.88000" in out
    info = json.loads(Path("artifacts/submissions/blend.json").read_text())
    assert [k["message"] for k in info["kaggle"]] == ["one", "two"]
    past = leaderboard.past(leaderboard.Workspace())
    assert past["private"].tolist() == [0.87456, 0.88]
    from submissions import report

    png = report.leaderboard_chart(past.to_dict("records"))
    assert png.startswith(b"\x89PNG")


def test_submit_default_message_describes_the_blend(kaggle_project, fake_kaggle):
    submit.submit(kaggle_project["csv"], "", sleep=no_wait, log=lambda *a: None)
    assert submits(fake_kaggle)[0][3] == "blend: weights blend of 2 run(s), honest CV accuracy 0.9000, priors em"


def test_submit_403_names_the_rules_page(kaggle_project, fake_kaggle, capsys):
    fake_kaggle.error = _http_error(403)
    with pytest.raises(kaggle_api.KaggleError) as e:
        submit.submit(message="m", sleep=no_wait)
    assert kaggle_api.RULES_URL in str(e.value) and "403" in str(e.value)
    assert TOKEN not in str(e.value) + capsys.readouterr().out


def test_submit_without_credentials_says_how_to_get_a_token(kaggle_project, capsys, monkeypatch):
    from helpers import install_fake_kaggle

    fake = install_fake_kaggle(monkeypatch)
    with pytest.raises(kaggle_api.KaggleError, match="no Kaggle credentials"):
        submit.submit(message="m")
    assert submit.main(["--message", "m"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("make submit: error: no Kaggle credentials found")
    assert "https://www.kaggle.com/settings" in err and "\n" not in err.strip()
    assert fake.calls == []


def test_an_invalid_file_is_never_sent(kaggle_project, fake_kaggle, capsys):
    bad = _write(kaggle_project["root"] / "bad.csv", "fname,label\nclip_000044442.wav,yes\n")
    with pytest.raises(SubmissionError, match="2 of the 3 test clips are missing"):
        submit.submit(bad, "m")
    assert submit.main(["--submission", str(bad)]) == 2
    assert "not a valid submission" in capsys.readouterr().err
    assert fake_kaggle.calls == []


def test_the_token_never_appears_even_when_kaggle_echoes_it(kaggle_project, fake_kaggle, capsys):
    fake_kaggle.error = _http_error(500, f"bad token {TOKEN}")
    with pytest.raises(kaggle_api.KaggleError) as e:
        submit.submit(message="m", sleep=no_wait)
    captured = capsys.readouterr()
    assert TOKEN not in str(e.value) + captured.out + captured.err and "***" in str(e.value)


def test_submit_refuses_files_for_other_data(kaggle_project, fake_kaggle):
    manifest = kaggle_project["root"] / "data" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "source": "demo", "fingerprint": "kagglefp"}))
    with pytest.raises(SubmissionError, match="holds demo data, not Kaggle's test set.*make submit FORCE=1"):
        submit.submit(message="m")
    assert submit.submit(message="m", force=True, sleep=no_wait, log=lambda *a: None).public == "0.88123"
    manifest.write_text(json.dumps({**data, "fingerprint": "otherfp"}))
    with pytest.raises(SubmissionError, match="was made on data kagglefp"):
        submit.submit(message="m")
    assert len(submits(fake_kaggle)) == 1
