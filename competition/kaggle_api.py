"""The one place that talks to Kaggle.

`import kaggle` authenticates at import time and exits the process when no credentials
exist, so the package is imported only inside `KaggleClient`, after `find_credentials`
has said there is something to authenticate with. Everything else (which files, where,
what an error means) lives outside the client, so tests swap in a stand-in client and
exercise the real logic.

Secrets: a `Credentials` object never prints its values, and every message that leaves
this module goes through `redact`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from competition.errors import UserError

COMPETITION = "tensorflow-speech-recognition-challenge"
COMPETITION_URL = f"https://www.kaggle.com/competitions/{COMPETITION}"
RULES_URL = f"{COMPETITION_URL}/rules"
ARCHIVES = ("train.7z", "test.7z")
KAGGLE_TEST_CLIPS = 158_538  # test/audio of the competition: a local copy of it is Kaggle's data too

HOW_TO_GET_A_TOKEN = (
    "create an API token at https://www.kaggle.com/settings (section 'API', 'Create New Token') "
    "and put it in the KAGGLE_API_TOKEN environment variable or in ~/.kaggle/access_token "
    "(a legacy ~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY work too); "
    "or run offline on the embedded demo data with `make data DATA=demo`"
)


class KaggleError(UserError):
    """A Kaggle problem the user can fix; the message says how and holds no secret."""


@dataclass(frozen=True)
class Credentials:
    """Where Kaggle credentials were found. `secrets` are only used to redact messages."""

    kind: str  # "token" or "legacy"
    source: str  # an environment variable name or a file path, never a value
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        return f"Kaggle {'API token' if self.kind == 'token' else 'username/key'} from {self.source}"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder of kaggle.json and access_token: KAGGLE_CONFIG_DIR, else ~/.kaggle
    (else the XDG folder the kaggle package falls back to on Linux)."""
    env = os.environ if env is None else env
    if env.get("KAGGLE_CONFIG_DIR"):
        return Path(env["KAGGLE_CONFIG_DIR"]).expanduser()
    home = Path(env.get("HOME") or Path.home())
    legacy = home / ".kaggle"
    if legacy.exists():
        return legacy
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"
    return xdg if xdg.exists() else legacy


def _read_token(path: Path) -> str | None:
    try:
        token = path.read_text().strip()
    except OSError:
        return None
    return token or None


def find_credentials(env: Mapping[str, str] | None = None) -> Credentials | None:
    """Look for Kaggle credentials in the order the kaggle package uses them; None if there are none.

    Reads files and the environment only; nothing is sent anywhere.
    """
    env = os.environ if env is None else env
    cdir = config_dir(env)
    token = env.get("KAGGLE_API_TOKEN", "").strip()
    if token:
        if Path(token).expanduser().is_file():  # the variable may name a file holding the token
            value = _read_token(Path(token).expanduser())
            if value:
                return Credentials("token", "the file named by KAGGLE_API_TOKEN", (value,))
        else:
            return Credentials("token", "KAGGLE_API_TOKEN", (token,))
    for path in (cdir / "access_token", cdir / "access_token.txt"):
        value = _read_token(path)
        if value:
            return Credentials("token", str(path), (value,))
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return Credentials("legacy", "KAGGLE_USERNAME/KAGGLE_KEY", (env["KAGGLE_KEY"],))
    kjson = cdir / "kaggle.json"
    if kjson.is_file():
        try:
            data = json.loads(kjson.read_text())
        except (OSError, ValueError):
            raise KaggleError(f"{kjson} is not valid JSON; download a fresh one: {HOW_TO_GET_A_TOKEN}") from None
        if data.get("username") and data.get("key"):
            return Credentials("legacy", str(kjson), (str(data["key"]),))
        raise KaggleError(f"{kjson} lacks 'username' or 'key'; {HOW_TO_GET_A_TOKEN}")
    return None


def require_credentials(env: Mapping[str, str] | None = None) -> Credentials:
    creds = find_credentials(env)
    if creds is None:
        raise KaggleError(f"no Kaggle credentials found. To download or submit, {HOW_TO_GET_A_TOKEN}")
    return creds


def redact(text: str, creds: Credentials | None) -> str:
    """`text` with every secret value of `creds` replaced by ***."""
    if creds:
        for secret in creds.secrets:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
    return text


def _status_code(exc: BaseException) -> int | None:
    """The HTTP status of an exception from requests, kagglesdk or the old swagger client."""
    response = getattr(exc, "response", None)
    for obj in (response, exc):
        code = getattr(obj, "status_code", None) or getattr(obj, "status", None)
        if isinstance(code, int):
            return code
    return None


@contextlib.contextmanager
def kaggle_errors(action: str, creds: Credentials | None) -> Iterator[None]:
    """Turn what the Kaggle client raises into one KaggleError that says what to do."""
    try:
        yield
    except KaggleError:
        raise
    except SystemExit:  # the kaggle package exits when it cannot authenticate
        raise KaggleError(f"{action}: Kaggle rejected the credentials ({creds}). {HOW_TO_GET_A_TOKEN}") from None
    except Exception as e:  # noqa: BLE001 - anything from the network layer ends here
        code = _status_code(e)
        if code == 403:
            msg = (f"{action}: Kaggle answered 403 Forbidden. Accept the competition rules at "
                   f"{RULES_URL} (signed in as the account of the {creds}), then rerun")
        elif code == 401:
            msg = f"{action}: Kaggle answered 401 Unauthorized: the {creds} is invalid or expired; {HOW_TO_GET_A_TOKEN}"
        elif code == 404:
            msg = f"{action}: Kaggle answered 404 Not Found for {COMPETITION}"
        else:
            # redact before cutting: a secret cut in half would no longer be recognised
            text = redact(str(e), creds).strip()
            detail = shorten(text.splitlines()[0]) if text else type(e).__name__
            resume = ", a download resumes where it stopped" if action.startswith("downloading") else ""
            msg = f"{action} failed ({type(e).__name__}: {detail}); check the network and rerun{resume}"
        raise KaggleError(redact(msg, creds)) from None


def shorten(text: str, limit: int = 200) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else text[:limit]) + " …"


class KaggleClient(Protocol):
    """The narrow interface to Kaggle; `RealKaggleClient` is the only one that reaches it."""

    def download(self, file_name: str, dest_dir: Path) -> Path:
        """Download one competition file into `dest_dir` (resuming a partial one); return its path."""

    def submit(self, path: Path, message: str) -> str | None:
        """Submit a CSV; return the public score once Kaggle has one, else None."""


class RealKaggleClient:
    """The kaggle package behind `KaggleClient`. Built only when credentials exist."""

    def __init__(self, creds: Credentials):
        self.creds = creds
        if creds.kind == "token" and creds.source not in ("KAGGLE_API_TOKEN", "the file named by KAGGLE_API_TOKEN"):
            # kagglesdk reads tokens from ~/.kaggle only; hand over one found via KAGGLE_CONFIG_DIR.
            os.environ.setdefault("KAGGLE_API_TOKEN", creds.source)
        from kaggle.api.kaggle_api_extended import KaggleApi  # lazy: see module docstring

        self.api = KaggleApi()
        self.api.authenticate()

    def download(self, file_name: str, dest_dir: Path) -> Path:
        dest_dir.mkdir(parents=True, exist_ok=True)
        before = {p.name for p in dest_dir.iterdir()}
        self.api.competition_download_file(COMPETITION, file_name, path=str(dest_dir), quiet=False)
        # Kaggle may serve the file under its own name or wrapped in a zip.
        for name in (file_name, f"{file_name}.zip"):
            if (dest_dir / name).is_file():
                return dest_dir / name
        new = sorted(p for p in dest_dir.iterdir() if p.name not in before)
        if new:
            return new[0]
        raise KaggleError(f"Kaggle download of {file_name} produced no file in {dest_dir}")

    def submit(self, path: Path, message: str) -> str | None:
        self.api.competition_submit(str(path), message, COMPETITION, quiet=False)
        for _ in range(24):  # Kaggle scores within seconds to a minute; do not wait forever
            subs = self.api.competition_submissions(COMPETITION, page_size=1) or []
            latest = subs[0] if subs else None
            status = str(getattr(latest, "status", "")).lower()
            score = getattr(latest, "public_score", "") or getattr(latest, "publicScore", "")
            if score:
                return str(score)
            if "error" in status:
                raise KaggleError(f"Kaggle could not score the submission: {getattr(latest, 'error_description', status)}")
            time.sleep(5)
        return None


def make_client(creds: Credentials) -> KaggleClient:
    """The client used by `make data` and `make submit`; tests pass their own instead."""
    with kaggle_errors("authenticating with Kaggle", creds):
        return RealKaggleClient(creds)
