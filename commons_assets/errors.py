"""The errors a person can act on. The CLI prints them as one line and exits 1; anything else is a bug and
keeps its traceback.

Each derives from `CommonsError` so that one `except` tells expected errors from bugs. Some also derive from
`ValueError`, as they did before this module existed, so that callers catching `ValueError` keep working.
"""

from __future__ import annotations


class CommonsError(Exception):
    """An error a person can fix: the message says what is wrong and, where it can, what to do."""


class SettingsError(CommonsError, ValueError):
    """A setting has a value we cannot use; the message names the setting."""


class WarehouseError(CommonsError, RuntimeError):
    """The warehouse cannot be reached or prepared."""


class WeekError(CommonsError, ValueError):
    """A week given by a person that we cannot read or release."""


class PolicyError(CommonsError, ValueError):
    """The privacy policy declared in the dbt project is incomplete or contradicts itself."""


class TargetError(CommonsError, RuntimeError):
    """A release target (folder, data.gouv.fr) cannot take the release."""


class InputError(CommonsError, ValueError):
    """An input given on the command line or in a file is malformed."""


class ManifestError(CommonsError, RuntimeError):
    """The dbt manifest the definitions need has not been prepared."""


class ReleaseRefused(InputError):
    """A release that would mislead its readers (an empty week, a week older than the last one published) and was
    not asked for explicitly (--allow-empty, --republish)."""
