"""The catalog of models, styles and characters: schema, validation and lookups.

One YAML file is the single source of truth for what ``models`` lists and for every
string the builder adds to a prompt. Validation happens once at load time with errors
that name the key path and the line, so a bad edit is fixed in seconds and the request
path never has to second-guess the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from services.prompt.terms import split_terms, term_problem
from services.prompt.yaml_positions import KeyPath, PositionedDocument, YamlDocumentError, load_positioned

#: Width × height pairs the API accepts (spec "Valid Dimensions"); a style's default size must be one.
VALID_DIMENSIONS: frozenset[tuple[int, int]] = frozenset(
    {(1024, 1024), (1344, 768), (768, 1344), (1216, 832), (832, 1216), (1152, 896), (896, 1152)}
)
DEFAULT_CATALOG_RESOURCE = "default_catalog.yaml"


def _check_term(value: str) -> str:
    problem = term_problem(value)
    if problem:
        raise ValueError(f"term {value!r} {problem}")
    return value


def _terms_from_text(value: Any) -> Any:
    """Let operators write ``"a, b"`` where a list of terms is expected."""
    return split_terms(value) if isinstance(value, str) else value


Term = Annotated[str, AfterValidator(_check_term)]
TermList = Annotated[list[Term], BeforeValidator(_terms_from_text)]
KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
#: Character names are what follows ``@``: lowercase word characters only.
CHARACTER_NAME_PATTERN = r"^[a-z0-9_]{1,64}$"
SCHEDULER_PATTERN = r"^([A-Z][A-Za-z0-9]*Scheduler)?$"
#: What a pattern means, for error messages an operator can act on without reading regexes.
PATTERN_HINTS: dict[str, str] = {
    KEY_PATTERN: "must be 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit",
    CHARACTER_NAME_PATTERN: "must be 1-64 lowercase letters, digits or '_' (the name written after @)",
    SCHEDULER_PATTERN: "must be a diffusers scheduler class name (e.g. EulerDiscreteScheduler) or empty",
}
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
CharacterName = Annotated[str, StringConstraints(pattern=CHARACTER_NAME_PATTERN)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]


class _Strict(BaseModel):
    """Unknown keys are errors: a typo like ``qualty_tags`` must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Vocabulary(_Strict):
    """Phrases the random grammar and the expansion enhancer draw from."""

    subject: TermList = Field(default_factory=list, description="Who or what is shown, when no character is.")
    outfit: TermList = Field(default_factory=list, description="What a named character wears or does.")
    setting: TermList = Field(default_factory=list, description="Where it happens.")
    lighting: TermList = Field(default_factory=list, description="How it is lit.")
    composition: TermList = Field(default_factory=list, description="Framing and camera.")
    detail: TermList = Field(default_factory=list, description="Descriptive phrases for expansion.")

    def merged_over(self, fallback: Vocabulary) -> Vocabulary:
        """This vocabulary with each empty category taken from ``fallback``."""
        return Vocabulary(
            **{name: getattr(self, name) or getattr(fallback, name) for name in Vocabulary.model_fields}
        )


class Preset(_Strict):
    """What a style implies for the diffusion run."""

    scheduler: Annotated[str, StringConstraints(pattern=SCHEDULER_PATTERN)] = Field(
        "", description="diffusers scheduler class name; empty keeps the model's own."
    )
    steps: int = Field(..., ge=1, le=150, description="Denoising steps.")
    guidance_scale: float = Field(..., ge=0.0, le=30.0, description="Classifier-free guidance scale.")
    width: int | None = Field(None, description="Default width; set together with height.")
    height: int | None = Field(None, description="Default height; set together with width.")

    @model_validator(mode="after")
    def _valid_size(self) -> Preset:
        if (self.width is None) != (self.height is None):
            raise ValueError("width and height must be set together")
        if self.width is not None and (self.width, self.height) not in VALID_DIMENSIONS:
            valid = ", ".join(f"{w}x{h}" for w, h in sorted(VALID_DIMENSIONS))
            raise ValueError(f"{self.width}x{self.height} is not a valid size ({valid})")
        return self


class Style(_Strict):
    """A style preset of one model."""

    label: Label
    quality_tags: TermList = Field(default_factory=list, description="Appended to the positive prompt.")
    negatives: TermList = Field(default_factory=list, description="Added after the base negatives.")
    preset: Preset
    vocabulary: Vocabulary = Field(default_factory=Vocabulary, description="Overrides per category.")


class ModelEntry(_Strict):
    """One model key clients can pass as ``model``."""

    label: Label
    source: Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)] = Field(
        ..., description="builtin:<name>, a local folder, an s3:// prefix or a hub id."
    )
    default_style: Key
    styles: dict[Key, Style] = Field(..., min_length=1)


class LoraSpec(_Strict):
    """A character's LoRA adapter; an empty source means the character has none yet."""

    source: str = Field("", description="builtin:<name>, a local file/folder or an s3:// key.")
    weight: float = Field(0.8, ge=-4.0, le=4.0, description="Adapter weight for the job.")


class Character(_Strict):
    """A character usable with ``@name``."""

    trigger: Term
    positive: TermList = Field(default_factory=list)
    negative: TermList = Field(default_factory=list)
    lora: LoraSpec | None = None
    models: list[Key] = Field(default_factory=list, description="Models it may be used with; empty = all.")

    def allowed_on(self, model_key: str) -> bool:
        """Whether the character may be used with ``model_key``."""
        return not self.models or model_key in self.models


class Catalog(_Strict):
    """The whole catalog; dict order is catalog order."""

    base_negatives: TermList = Field(default_factory=list)
    vocabulary: Vocabulary = Field(
        default_factory=Vocabulary, description="Default vocabulary of all styles."
    )
    models: dict[Key, ModelEntry] = Field(..., min_length=1)
    characters: dict[CharacterName, Character] = Field(default_factory=dict)

    def resolve_model(self, key: str) -> tuple[str, ModelEntry]:
        """The named model, or the first one for an empty or unknown key (silent fallback)."""
        entry = self.models.get(key)
        if entry is not None:
            return key, entry
        first = next(iter(self.models))
        return first, self.models[first]

    def resolve_style(self, model: ModelEntry, key: str) -> tuple[str, Style]:
        """The named style of ``model``, or its default for an empty or unknown key."""
        style = model.styles.get(key)
        if style is not None:
            return key, style
        return model.default_style, model.styles[model.default_style]

    def vocabulary_of(self, style: Style) -> Vocabulary:
        """The style's vocabulary with the catalog-wide one filling its gaps."""
        return style.vocabulary.merged_over(self.vocabulary)

    def characters_for(self, model_key: str) -> list[str]:
        """Names allowed on ``model_key``, in catalog order."""
        return [name for name, character in self.characters.items() if character.allowed_on(model_key)]


@dataclass(frozen=True)
class CatalogIssue:
    """One thing wrong with a catalog file."""

    path: KeyPath
    line: int
    message: str

    def __str__(self) -> str:
        dotted = ".".join(str(part) for part in self.path) or "<root>"
        return f"line {self.line}: {dotted}: {self.message}"


class CatalogError(ValueError):
    """A catalog file that cannot be used; the message lists every issue with its line."""

    def __init__(self, source: str, issues: list[CatalogIssue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__(f"{source}: " + "; ".join(str(issue) for issue in issues))


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Validate catalog YAML text; raise :class:`CatalogError` naming key paths and lines."""
    try:
        document = load_positioned(text)
    except YamlDocumentError as exc:
        raise CatalogError(source, [CatalogIssue((), exc.line, f"invalid YAML: {exc.message}")]) from exc
    if not isinstance(document.data, dict):
        raise CatalogError(source, [CatalogIssue((), 1, "top level must be a mapping")])
    try:
        catalog = Catalog.model_validate(document.data)
    except ValidationError as exc:
        raise CatalogError(source, _issues_from_validation(exc, document)) from None
    issues = _reference_issues(catalog, document)
    if issues:
        raise CatalogError(source, issues)
    return catalog


def load_catalog_file(path: Path) -> Catalog:
    """Read and validate the catalog at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(str(path), [CatalogIssue((), 0, f"cannot read file: {exc}")]) from exc
    return parse_catalog(text, str(path))


def default_catalog_path() -> Path:
    """The catalog shipped inside the package (what runs when no path is configured)."""
    return Path(str(resources.files("services.prompt").joinpath(DEFAULT_CATALOG_RESOURCE)))


def _issues_from_validation(exc: ValidationError, document: PositionedDocument) -> list[CatalogIssue]:
    issues = []
    for error in exc.errors(include_url=False):
        # pydantic marks a bad dict key with a trailing "[key]"; the key's own line is what we want.
        path = tuple(part for part in error["loc"] if part != "[key]")
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] == "string_pattern_mismatch":
            pattern = str(error.get("ctx", {}).get("pattern", ""))
            message = f"{error['input']!r} {PATTERN_HINTS.get(pattern, message)}"
        issues.append(CatalogIssue(path, document.line_of(path), message))
    return issues


def _reference_issues(catalog: Catalog, document: PositionedDocument) -> list[CatalogIssue]:
    """Cross-references pydantic cannot check field by field."""
    issues: list[CatalogIssue] = []

    def add(path: KeyPath, message: str) -> None:
        issues.append(CatalogIssue(path, document.line_of(path), message))

    for key, model in catalog.models.items():
        if model.default_style not in model.styles:
            add(
                ("models", key, "default_style"),
                f"{model.default_style!r} is not a style of model {key!r} "
                f"(styles: {', '.join(model.styles)})",
            )
    for name, character in catalog.characters.items():
        for index, model_key in enumerate(character.models):
            if model_key not in catalog.models:
                add(("characters", name, "models", index), f"unknown model {model_key!r}")
    trigger_owners: dict[str, str] = {}
    for name, character in catalog.characters.items():
        owner = trigger_owners.setdefault(character.trigger.casefold(), name)
        if owner != name:
            add(
                ("characters", name, "trigger"),
                f"{character.trigger!r} is already the trigger of character {owner!r}",
            )
    for key, model in catalog.models.items():
        for style_key, style in model.styles.items():
            vocabulary = catalog.vocabulary_of(style)
            if not vocabulary.subject:
                add(
                    ("models", key, "styles", style_key, "vocabulary"),
                    "no subject phrases: set vocabulary.subject here or at the top level",
                )
    return issues


def catalog_sizes(catalog: Catalog) -> dict[str, int]:
    """Counts for a log line after a (re)load."""
    return {
        "models": len(catalog.models),
        "styles": sum(len(model.styles) for model in catalog.models.values()),
        "characters": len(catalog.characters),
    }
