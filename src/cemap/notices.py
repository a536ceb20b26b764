"""Library notices that say nothing about a user's run, kept off the console.

Imported first by ``cemap.settings`` (which Kedro loads before any project code runs) and by
the ``cemap`` command: the filters below must be in place before the libraries that warn are
imported. Everything else that warns still shows.
"""

from __future__ import annotations

import warnings

#: ``(message regex, category)``: matched at the start of the warning's text.
LIBRARY_NOTICES = (
    # Kedro 1.7 and kedro-mlflow call OmegaConf's deprecated register_new_resolver().
    (r"register_new_resolver\(\) is deprecated", UserWarning),
    # MLflow asks each PythonModel for type hints on predict(); cemap.serving checks its rows
    # itself, naming the bad row (the text starts with a colour code).
    (r"(\x1b\[\d+m)?Add type hints to the `predict` method", UserWarning),
    # Kedro's advice against '.' in dataset names: the project's namespaced datasets
    # (image.embeddings, ...) are Kedro's own namespacing.
    (r"One or more dataset names contain '\.'", UserWarning),
)


def hide_library_notices() -> None:
    """Ignore the notices of ``LIBRARY_NOTICES`` in this process."""
    for message, category in LIBRARY_NOTICES:
        warnings.filterwarnings("ignore", message=message, category=category)


hide_library_notices()
