"""The normalized shape of each action's request, after the spec's defaults and fallbacks.

These are what the handlers work with: every field is present, typed and in range, so
no handler re-checks client input. :mod:`gateway.actions` builds them from raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The spec's seven valid (width, height) pairs.
VALID_SIZES: frozenset[tuple[int, int]] = frozenset(
    {(1024, 1024), (1344, 768), (768, 1344), (1216, 832), (832, 1216), (1152, 896), (896, 1152)}
)
DEFAULT_SIZE: tuple[int, int] = (1344, 768)
FORMATS: tuple[str, ...] = ("jpeg", "png", "webp", "avif")
WM_POSITIONS: tuple[str, ...] = (
    "top-left",
    "top-center",
    "top-right",
    "center-left",
    "center",
    "center-right",
    "bottom-left",
    "bottom-center",
    "bottom-right",
)
DEFAULT_MODEL = "eros"
#: Largest seed accepted: JavaScript clients can echo it back without losing digits.
MAX_SEED = 2**53 - 1


@dataclass(frozen=True)
class BrandOptions:
    """The visible watermark parameters (``wm_*``)."""

    image: str = ""
    position: str = "bottom-right"
    scale: int = 5
    transparency: int = 100
    rotation: int = 0
    padding_x: int = 10
    padding_y: int = 10


@dataclass(frozen=True)
class CredentialOverrides:
    """The ``cs_*`` C2PA overrides; empty means the configured default."""

    author: str = ""
    title: str = ""
    description: str = ""
    organization: str = ""
    vendor: str = ""


@dataclass(frozen=True)
class GenerateRequest:
    """A ``generate`` request with every default applied."""

    prompt: str
    model: str = DEFAULT_MODEL
    negative: str = ""
    optimize: bool = False
    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    #: False when the client gave neither width nor height, so a style's size may apply.
    size_given: bool = False
    style: str = ""
    format: str = "jpeg"
    quality: int = 95
    lossless: bool = False
    brand: BrandOptions = BrandOptions()
    credentials: CredentialOverrides = CredentialOverrides()
    #: None means "pick a random seed at submission".
    seed: int | None = None
    #: Beyond the spec: URL told about the job's end ("" for none), and the events wanted.
    webhook: str = ""
    webhook_events: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobRequest:
    """A ``status`` or ``cancel`` request: a well-formed job id."""

    id: str


@dataclass(frozen=True)
class OptimizeRequest:
    """An ``optimize`` request."""

    prompt: str
    model: str = DEFAULT_MODEL
    style: str = ""


@dataclass(frozen=True)
class RandomRequest:
    """A ``random`` request; ``character`` None means "omitted" (a random one)."""

    character: str | None = None
    model: str = DEFAULT_MODEL
    style: str = ""
    seed: int | None = None


@dataclass(frozen=True)
class Limits:
    """Input limits from the gateway settings, so normalization stays a pure function."""

    max_prompt_chars: int = 4000
    max_text_chars: int = 1000
    max_wm_image_bytes: int = 8 * 1024 * 1024
