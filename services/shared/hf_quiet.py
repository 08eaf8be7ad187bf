"""Silence Hugging Face loading progress bars in services.

They are terminal animation written to stderr, not log lines: in a pod they garble the
one-JSON-object-per-line log stream. Call before loading any diffusers, transformers or
sentence-transformers model.
"""

from __future__ import annotations

import os


def disable_loading_bars() -> None:
    """Turn off the loading bars of huggingface_hub, transformers and (when installed) diffusers."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        from diffusers.utils import logging as diffusers_logging
    except ImportError:  # the compliance image has no diffusers
        return
    diffusers_logging.disable_progress_bar()
