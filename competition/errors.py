"""The one base class of every error a user can cause and fix.

A stage's command line catches `UserError` (see `competition.cli.run_stage`) and prints its
message as one line that says what to do; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (missing data, a bad setting, a wrong folder); the message says how."""
