"""The inference service: durable jobs and the diffusion workers that run them.

Hugging Face libraries read ``HF_HUB_OFFLINE`` when they are first imported, and a
mistyped local path is otherwise taken for a hub id and fetched over the network. Every
module of this package is imported through this file first, so offline is the default
here; a deployment that does reach a hub sets ``HF_HUB_OFFLINE=0`` explicitly. Loading
progress bars are off too: they are terminal animation, not log lines, and would
garble the one-JSON-object-per-line logs.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
