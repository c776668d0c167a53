"""The one place that talks to Kaggle.

`import kaggle` authenticates at import time and exits the process when no credentials
exist, so the package is imported only inside `RealKaggleClient`, after `find_credentials`
has said there is something to authenticate with. Discovery is the package's: kagglesdk's
own helpers find access tokens and the `kaggle auth login` login; the legacy username/key is
read where the package reads it. Nothing here sets an environment variable for the package
to find later. Tests replace the package's API object (tests/helpers.py FakeKaggleApi), so
this module's own code runs in them.

Secrets: a `Credentials` object never prints its values, and every message that leaves
this module goes through `redact`.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import time
from collections.abc import Iterator
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
    "run `kaggle auth login`, or create an API token at https://www.kaggle.com/settings (section 'API', "
    "'Create New Token') and put it in the KAGGLE_API_TOKEN environment variable or in ~/.kaggle/access_token "
    "(a legacy ~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY work too); "
    "or run offline on the embedded demo data with `make data DATA=demo`"
)
# What kaggle/kagglesdk call where they found an access token, in words for messages.
TOKEN_SOURCES = {
    "KAGGLE_API_V1_TOKEN": "the Kaggle Notebook's token file (KAGGLE_API_V1_TOKEN)",
    "KAGGLE_API_TOKEN": "KAGGLE_API_TOKEN",
    "access_token": "~/.kaggle/access_token",
}
UPLOAD_FAILED = "Could not submit to competition"  # kaggle's message when competition_submit's upload fails


class KaggleError(UserError):
    """A Kaggle problem the user can fix; the message says how and holds no secret."""


@dataclass(frozen=True)
class Credentials:
    """Where Kaggle credentials were found. `secrets` are only used to redact messages."""

    kind: str  # "token", "legacy" (username/key) or "oauth" (`kaggle auth login`)
    source: str  # an environment variable name or a file path, never a value
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        what = {"token": "API token", "legacy": "username/key", "oauth": "login (kaggle auth login)"}[self.kind]
        return f"Kaggle {what} from {self.source}"


def config_dir() -> Path:
    """The folder of kaggle.json, as the kaggle package finds it: KAGGLE_CONFIG_DIR, else
    ~/.kaggle, else (on Linux, when ~/.kaggle does not exist) the XDG config folder."""
    env = os.environ
    if env.get("KAGGLE_CONFIG_DIR"):
        return Path(env["KAGGLE_CONFIG_DIR"]).expanduser()
    home = Path(env.get("HOME") or Path.home())
    legacy = home / ".kaggle"
    if legacy.exists():
        return legacy
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"
    return xdg if xdg.exists() else legacy


def _access_token() -> Credentials | None:
    """An access token where kagglesdk looks for one (it is what the kaggle package calls): in a
    Kaggle Notebook the file KAGGLE_API_V1_TOKEN names, then KAGGLE_API_TOKEN (a token, or a
    file holding one), then ~/.kaggle/access_token(.txt). kagglesdk is imported here, not
    `kaggle`, whose import authenticates and may exit."""
    from kagglesdk import get_access_token_from_env

    token, source = get_access_token_from_env()
    if not token:
        return None
    return Credentials("token", TOKEN_SOURCES.get(source, str(source)), (token,))


def _legacy() -> Credentials | None:
    """A username and key as the kaggle package reads them: KAGGLE_USERNAME/KAGGLE_KEY over
    kaggle.json in `config_dir()` (the package has no helper for this that does not authenticate)."""
    env = os.environ
    kjson = config_dir() / "kaggle.json"
    data: dict = {}
    if kjson.is_file():
        try:
            data = json.loads(kjson.read_text())
        except (OSError, ValueError):
            raise KaggleError(f"{kjson} is not valid JSON; download a fresh one: {HOW_TO_GET_A_TOKEN}") from None
        if not isinstance(data, dict):
            raise KaggleError(f"{kjson} is not a JSON object; {HOW_TO_GET_A_TOKEN}")
    user, key = env.get("KAGGLE_USERNAME") or data.get("username"), env.get("KAGGLE_KEY") or data.get("key")
    secrets = tuple(str(v) for v in (env.get("KAGGLE_KEY"), data.get("key")) if v)
    if user and key:
        source = "KAGGLE_USERNAME/KAGGLE_KEY" if env.get("KAGGLE_KEY") and env.get("KAGGLE_USERNAME") else str(kjson)
        return Credentials("legacy", source, secrets)
    if kjson.is_file():
        raise KaggleError(f"{kjson} lacks 'username' or 'key'; {HOW_TO_GET_A_TOKEN}")
    return None


def _oauth() -> Credentials | None:
    """The login `kaggle auth login` saved (~/.kaggle/credentials.json with a refresh token), read
    by kagglesdk's own loader; its refresh and access tokens are the secrets."""
    from kagglesdk.kaggle_creds import KaggleCredentials

    if KaggleCredentials.load(client=None) is None:
        return None
    path = Path(KaggleCredentials.DEFAULT_CREDENTIALS_FILE).expanduser()
    data = json.loads(path.read_text())
    return Credentials("oauth", str(path), tuple(str(data[k]) for k in ("refresh_token", "access_token") if data.get(k)))


def find_credentials() -> Credentials | None:
    """The credentials the kaggle package would use, in its order (kaggle 2.x): an access token
    (kagglesdk's discovery), a legacy username/key, then the OAuth login of `kaggle auth login`;
    None when there are none. Reads files and os.environ only (as kaggle and kagglesdk do);
    nothing is sent anywhere."""
    return _access_token() or _legacy() or _oauth()


def require_credentials() -> Credentials:
    creds = find_credentials()
    if creds is None:
        named = os.environ.get("KAGGLE_API_TOKEN", "")
        empty = f"KAGGLE_API_TOKEN names the file {named}, which is empty (kaggle reads no token from it). " \
            if named and Path(named).expanduser().is_file() else ""
        raise KaggleError(f"no Kaggle credentials found. {empty}To download or submit, {HOW_TO_GET_A_TOKEN}")
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


@dataclass(frozen=True)
class Submitted:
    """What Kaggle says about one submission: `status` is pending, complete or error; the
    scores are Kaggle's strings (None until scored; this competition is closed, so a scored
    submission has both)."""

    ref: int
    status: str
    public: str | None = None
    private: str | None = None
    error: str = ""

    @property
    def scored(self) -> bool:
        return self.status == "complete"


def submitted(sub) -> Submitted:
    """A Submitted from the kaggle package's ApiSubmission (status: kagglesdk's SubmissionStatus)."""
    status = getattr(sub.status, "name", str(sub.status)).lower().rsplit(".", 1)[-1]
    return Submitted(int(sub.ref), status, str(getattr(sub, "public_score", "") or "") or None,
                     str(getattr(sub, "private_score", "") or "") or None,
                     str(getattr(sub, "error_description", "") or ""))


def wait_for_score(client: KaggleClient, ref: int, timeout: float, *, interval: float = 10.0, log=print,
                   sleep=None, clock=None) -> Submitted:
    """Poll submission `ref` until Kaggle has scored it or `timeout` seconds have passed (then
    the last answer, pending). A submission Kaggle could not score raises KaggleError.
    `sleep` and `clock` default to time.sleep and time.monotonic."""
    sleep, clock = sleep or time.sleep, clock or time.monotonic
    start = clock()
    while True:
        sub = client.submission(ref)
        if sub.status == "error":
            raise KaggleError(f"Kaggle could not score submission {ref}: {sub.error or 'no reason given'}; "
                              f"see {COMPETITION_URL}/submissions")
        if sub.scored:
            return sub
        left = timeout - (clock() - start)
        if left <= 0:
            return sub
        log(f"submission {ref}: {sub.status}; asking again in {min(interval, left):.0f} s")
        sleep(min(interval, left))


class KaggleClient(Protocol):
    """The narrow interface to Kaggle; `RealKaggleClient` is the only one that reaches it."""

    def download(self, file_name: str, dest_dir: Path) -> Path:
        """Download one competition file into `dest_dir` (resuming a partial one); return its path."""

    def submit(self, path: Path, message: str) -> int:
        """Upload a CSV as a submission; return its ref. A refused upload raises KaggleError."""

    def submission(self, ref: int) -> Submitted:
        """The state and scores of submission `ref`."""


@contextlib.contextmanager
def _oauth_enabled(creds: Credentials) -> Iterator[None]:
    """kaggle 1.8 uses the `kaggle auth login` credentials only with KAGGLE_ENABLE_OAUTH, and
    authenticates when imported: set it while the package is imported and authenticates, then
    put the environment back (no variable of ours outlives the client's start)."""
    if creds.kind != "oauth" or os.environ.get("KAGGLE_ENABLE_OAUTH"):
        yield
        return
    os.environ["KAGGLE_ENABLE_OAUTH"] = "1"
    try:
        yield
    finally:
        os.environ.pop("KAGGLE_ENABLE_OAUTH", None)


class RealKaggleClient:
    """The kaggle package (1.8 or 2.x) behind `KaggleClient`. Built only when credentials exist;
    the package itself finds them, where `find_credentials` found them."""

    def __init__(self, creds: Credentials):
        self.creds = creds
        with _oauth_enabled(creds):
            from kaggle.api.kaggle_api_extended import KaggleApi  # lazy: see module docstring

            oauth = creds.kind == "oauth" and "enable_oauth" in inspect.signature(KaggleApi).parameters
            self.api = KaggleApi(enable_oauth=True) if oauth else KaggleApi()
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

    def submit(self, path: Path, message: str) -> int:
        # A failed upload does not raise: the response says so in its message and has no ref.
        response = self.api.competition_submit(str(path), message, COMPETITION, quiet=False)
        ref = getattr(response, "ref", None)
        text = str(getattr(response, "message", "") or "").strip()
        if not ref or text == UPLOAD_FAILED:
            raise KaggleError(f"Kaggle did not take the submission ({shorten(text) or 'no reason given'}); "
                              "check the network and today's submission limit, then rerun")
        return int(ref)

    def submission(self, ref: int) -> Submitted:
        if hasattr(self.api, "get_submission"):  # kaggle 2.x
            return submitted(self.api.get_submission(ref))
        # kaggle 1.8 lists submissions only; a new one may take a moment to be listed
        for sub in self.api.competition_submissions(COMPETITION, page_size=20) or []:
            if sub is not None and int(getattr(sub, "ref", 0) or 0) == ref:
                return submitted(sub)
        return Submitted(ref, "pending")


def make_client(creds: Credentials) -> KaggleClient:
    """The client used by `make data` and `make submit`; tests pass their own instead."""
    with kaggle_errors("authenticating with Kaggle", creds):
        return RealKaggleClient(creds)
