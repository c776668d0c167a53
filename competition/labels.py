"""What the competition's labels are.

Kaggle's train set has 30 spoken words; 10 of them are commands to recognise, the
other 20 (and any word outside the 30, as in Speech Commands v0.02) are `unknown`.
`silence` has no folder of its own: it is cut from `_background_noise_`.
"""

from __future__ import annotations

COMMANDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "silence"
UNKNOWN = "unknown"
# The order of the 12 outputs of every model and of every oof.npy/test.npy column.
LABELS: tuple[str, ...] = (*COMMANDS, SILENCE, UNKNOWN)
LABEL_INDEX: dict[str, int] = {label: i for i, label in enumerate(LABELS)}

OTHER_WORDS: tuple[str, ...] = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
    "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero",
)
# The 30 word folders of the Kaggle download.
WORDS: tuple[str, ...] = (*COMMANDS, *OTHER_WORDS)
# Speech Commands v0.02 adds these; they are `unknown` too.
V2_EXTRA_WORDS: tuple[str, ...] = ("backward", "forward", "follow", "learn", "visual")

BACKGROUND_DIR = "_background_noise_"
SILENCE_WORD = "_silence_"


def word_to_label(word: str) -> str:
    """The 12-way label of a train folder name: the command itself, `silence`, or `unknown`."""
    if word in COMMANDS:
        return word
    if word in (SILENCE, SILENCE_WORD):
        return SILENCE
    return UNKNOWN


def is_word_folder(name: str) -> bool:
    """A folder under train/audio that holds spoken words (not noise, not hidden)."""
    return not name.startswith((".", "_"))
