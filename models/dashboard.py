"""`make dashboard`: browse a `make tune` study live with optuna-dashboard.

    make dashboard MODEL=crnn_resnet PORT=8080    then open http://127.0.0.1:8080

Reads the study's storage as `make tune` writes it (artifacts/tune/<model>/journal.log, or
OPTUNA_STORAGE); it may run while trials are added. optuna-dashboard is an optional extra
(`dashboard`): the make target installs it when it is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from competition.cli import run_stage
from competition.workspace import Workspace
from models.tune import TuneError, redact_url, storage_for


def serve(model: str, url: str | None, ws: Workspace, host: str, port: int, log=print) -> None:
    if not url and not (ws.tune_dir(model) / "journal.log").is_file():
        raise TuneError(f"no study of {model} in {ws.tune_dir(model)}: run `make tune MODEL={model}` first "
                        "(or set OPTUNA_STORAGE to the database that holds it)")
    try:
        from optuna_dashboard import run_server
    except ImportError:
        raise TuneError("optuna-dashboard is not installed: `make dashboard` installs it "
                        "(or pip install 'kws-harness[dashboard]')") from None
    log(f"optuna-dashboard on http://{host}:{port} for {redact_url(url) if url else ws.tune_dir(model)} "
        "(Ctrl-C stops it)")
    run_server(storage_for(model, url, ws), host=host, port=port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1: this machine only")
    parser.add_argument("--storage", default=os.environ.get("OPTUNA_STORAGE") or None)
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    args = parser.parse_args(argv)
    return run_stage("dashboard", lambda: serve(args.model, args.storage, Workspace(args.workspace), args.host,
                                                args.port), "the study is unchanged")


if __name__ == "__main__":
    sys.exit(main())
