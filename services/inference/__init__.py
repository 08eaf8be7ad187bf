"""The inference service: durable jobs and the diffusion workers that run them.

Hugging Face libraries read ``HF_HUB_OFFLINE`` when they are first imported, and a
mistyped local path is otherwise taken for a hub id and fetched over the network. Every
module of this package is imported through this file first, so offline is the default
here; a deployment that does reach a hub sets ``HF_HUB_OFFLINE=0`` explicitly.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
