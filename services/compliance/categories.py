"""The policy file: categories as data, the term lists that feed them, and per-model rules.

Everything a deployment may want to tune lives in one YAML document validated here:
which categories exist (id, display name, description), which detectors feed each one
with which thresholds, the lexicon's terms, and which categories block on which model.
The packaged ``default_policy.yaml`` is used unless the settings name another file.

One rule is not configurable: ``minors`` exists, is fed by the lexicon and the hash
lists, and blocks on every model. A document that tries to relax it is corrected (with
a warning in the log) or, where it cannot be corrected, refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.shared.logging import get_logger

log = get_logger(__name__)

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.yaml")
#: The category no configuration can switch off.
MINORS = "minors"

Action = Literal["block", "flag", "off"]
_ID = r"^[a-z][a-z0-9_]*$"


class PolicyError(ValueError):
    """The policy file is missing, unreadable or invalid; the message names the spot."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermGroup(_Strict):
    """A named family of terms that several categories combine (e.g. "minor", "sexual")."""

    description: str = Field("", description="What the group indicates.")
    terms: list[str] = Field(default_factory=list, description="Terms matched in positive texts.")
    negative_terms: list[str] = Field(
        default_factory=list,
        description="Terms that indicate the group when a negative prompt asks to avoid them "
        "(e.g. 'clothes' in a negative prompt steers towards nudity).",
    )
    patterns: list[str] = Field(
        default_factory=list,
        description="Regular expressions matched against the character-folded text (digits kept), "
        "e.g. ages under 18.",
    )
    include: list[str] = Field(
        default_factory=list, description="Other groups whose terms this one includes."
    )
    names: list[str] = Field(
        default_factory=list,
        description="Proper names (one or more words) matched whole by a hash lookup, so a list of "
        "thousands costs what a short one does; no endings or wildcards.",
    )
    names_files: list[str] = Field(
        default_factory=list,
        description="Text files of more names, one per line ('#' starts a comment), relative to the "
        "policy file's folder, else to the packaged policy's (so a copied policy finds the shipped "
        "lists); read when the policy is loaded.",
    )

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} does not compile: {exc}") from exc
        return patterns


class LexiconRules(_Strict):
    """How the prompt lexicon feeds one category."""

    threshold: float = Field(
        1.0, ge=0.0, le=1.0, description="A lexicon hit scores 1.0; it counts at or above this."
    )
    terms: list[str] = Field(default_factory=list, description="Terms that flag the category on their own.")
    negative_terms: list[str] = Field(
        default_factory=list, description="Terms that flag the category when found in a negative prompt."
    )
    groups: list[str] = Field(
        default_factory=list, description="Term groups any term of which flags the category."
    )
    combinations: list[list[str]] = Field(
        default_factory=list,
        description="Each entry lists term groups that must all appear in one prompt to flag the category.",
    )

    @field_validator("combinations")
    @classmethod
    def _combinations_have_two_groups(cls, combinations: list[list[str]]) -> list[list[str]]:
        for combination in combinations:
            if len(combination) < 2:
                raise ValueError(f"combination {combination} needs two or more groups (use 'groups' for one)")
        return combinations


class PdqRules(_Strict):
    """How the PDQ hash lists feed one category (ThreatExchange HMA defaults)."""

    max_distance: int = Field(
        31, ge=0, le=64, description="Largest Hamming distance (of 256 bits) that matches."
    )
    min_quality: int = Field(
        50, ge=0, le=100, description="Smallest PDQ quality of the reviewed image that is trusted."
    )


class SemanticRules(_Strict):
    """How the sentence-embedding stage feeds one category: nearest exemplar vs a threshold."""

    threshold: float = Field(
        ge=0.0, le=1.0, description="Cosine similarity to the nearest exemplar at or above which it flags."
    )
    exemplars: list[str] = Field(
        min_length=1, description="Sentences that describe the category; embedded once at load."
    )


class ClassifierRules(_Strict):
    """How the trained classifier head of a category (``semantic_heads.npz``) feeds it."""

    threshold: float = Field(
        ge=0.0,
        le=1.0,
        description="Head probability at or above which it flags (chosen on out-of-fold scores).",
    )
    window_margin: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="How much more a long prompt's clause window must score than the threshold: "
        "a clause read alone is read without the scene that makes it innocent.",
    )


#: NudeNet 3.4's labels (320n.onnx); a policy naming any other class is refused.
NUDENET_CLASSES = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


class NudeNetRules(_Strict):
    """Which NudeNet exposure classes feed a category, and from which detection score."""

    threshold: float = Field(
        ge=0.2, le=1.0, description="Detection score from which a class counts (NudeNet reports >= 0.2)."
    )
    classes: list[str] = Field(min_length=1, description="NudeNet labels, e.g. FEMALE_BREAST_EXPOSED.")

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, classes: list[str]) -> list[str]:
        unknown = sorted(set(classes) - set(NUDENET_CLASSES))
        if unknown:
            raise ValueError(f"unknown NudeNet classes {unknown}; known: {list(NUDENET_CLASSES)}")
        return classes


class OpenNsfwRules(_Strict):
    """The OpenNSFW whole-image score as a second signal for a category."""

    threshold: float = Field(ge=0.0, le=1.0, description="NSFW probability at or above which it flags.")


class CategoryDetectors(_Strict):
    """The detectors that feed a category; a detector left out never flags it."""

    lexicon: LexiconRules | None = None
    semantic: SemanticRules | None = None
    classifier: ClassifierRules | None = None
    pdq: PdqRules | None = None
    nudenet: NudeNetRules | None = None
    opennsfw: OpenNsfwRules | None = None


class Category(_Strict):
    """A kind of content with a stable id, the name shown to users and a description."""

    id: str = Field(pattern=_ID, description="Stable identifier, e.g. 'minors'.")
    name: str = Field(min_length=1, description="Display name used in the blocked message.")
    description: str = Field(min_length=1, description="What the category covers.")
    detectors: CategoryDetectors = Field(default_factory=CategoryDetectors)


class ModelPolicies(BaseModel):
    """Which categories block, flag or are ignored, by default and per model key."""

    model_config = ConfigDict(extra="forbid")

    default: dict[str, Action] = Field(
        default_factory=dict, description="Action per category id; a category left out blocks."
    )
    models: dict[str, dict[str, Action]] = Field(
        default_factory=dict, description="Per model key, actions that override the default."
    )


class HashListDefaults(_Strict):
    """What a hash-list line without its own category id belongs to."""

    default_category: str = Field(MINORS, pattern=_ID, description="Category of hash lines that name none.")


class PolicyDocument(BaseModel):
    """The whole policy file, validated and with the minors rule enforced."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    term_groups: dict[str, TermGroup] = Field(default_factory=dict)
    safe_phrases: list[str] = Field(
        default_factory=list,
        description="Innocent phrases blanked out before any term is matched, for listed words with an "
        "everyday sense ('nude lipstick' is a colour); a trailing * accepts any ending.",
    )
    categories: list[Category] = Field(min_length=1)
    policies: ModelPolicies = Field(default_factory=ModelPolicies)
    hash_lists: HashListDefaults = Field(default_factory=HashListDefaults)

    @model_validator(mode="after")
    def _consistent(self) -> PolicyDocument:
        ids = [c.id for c in self.categories]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate category ids: {duplicates}")
        self._check_groups()
        self._check_minors()
        known = set(ids)
        for where, actions in [("default", self.policies.default), *self.policies.models.items()]:
            unknown = sorted(set(actions) - known)
            if unknown:
                raise ValueError(f"policies.{where} names unknown categories: {unknown}")
        if self.hash_lists.default_category not in known:
            raise ValueError(
                f"hash_lists.default_category {self.hash_lists.default_category!r} is not a category"
            )
        self._force_minors_blocking()
        return self

    def _check_groups(self) -> None:
        for name, group in self.term_groups.items():
            missing = [g for g in group.include if g not in self.term_groups]
            if missing:
                raise ValueError(f"term group {name!r} includes unknown groups {missing}")
            self.group_members(name)  # raises on an include cycle
        for category in self.categories:
            rules = category.detectors.lexicon
            if rules is None:
                continue
            named = set(rules.groups) | {g for combo in rules.combinations for g in combo}
            missing = sorted(named - set(self.term_groups))
            if missing:
                raise ValueError(f"category {category.id!r} uses unknown term groups {missing}")

    def _check_minors(self) -> None:
        minors = next((c for c in self.categories if c.id == MINORS), None)
        if minors is None:
            raise ValueError(f"category {MINORS!r} is required and cannot be removed")
        lexicon = minors.detectors.lexicon
        if lexicon is None or not (lexicon.terms or lexicon.groups or lexicon.combinations):
            raise ValueError(f"category {MINORS!r} must keep its lexicon (terms or combinations)")
        if minors.detectors.pdq is None:
            raise ValueError(f"category {MINORS!r} must keep its pdq hash-list detector")

    def _force_minors_blocking(self) -> None:
        """Whatever the file says, minors blocks on every model; say so when it tried otherwise."""
        for where, actions in [("default", self.policies.default), *self.policies.models.items()]:
            action = actions.get(MINORS, "block")
            if action != "block":
                log.warning("policy tried to relax minors; forced to block", policy=where, requested=action)
            actions[MINORS] = "block"

    def group_members(self, name: str, _seen: tuple[str, ...] = ()) -> TermGroup:
        """The group with its includes flattened into one set of terms, negatives and patterns."""
        if name in _seen:
            raise ValueError(f"term groups include each other in a cycle: {' -> '.join([*_seen, name])}")
        group = self.term_groups[name]
        terms, negatives, patterns = list(group.terms), list(group.negative_terms), list(group.patterns)
        names = list(group.names)
        for included in group.include:
            member = self.group_members(included, (*_seen, name))
            terms += member.terms
            negatives += member.negative_terms
            patterns += member.patterns
            names += member.names
        return TermGroup(
            description=group.description,
            terms=terms,
            negative_terms=negatives,
            patterns=patterns,
            names=names,
        )

    def category(self, category_id: str) -> Category:
        """The category with ``category_id`` (KeyError when there is none)."""
        for category in self.categories:
            if category.id == category_id:
                return category
        raise KeyError(category_id)


def load_policy(path: Path | None = None) -> PolicyDocument:
    """Read and validate the policy file (the packaged default when ``path`` is None)."""
    source = path or DEFAULT_POLICY_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read policy file {source}: {exc}") from exc
    return parse_policy(raw, str(source), source.parent)


def read_names_file(path: Path) -> list[str]:
    """The names of one names file: one per line, blank lines and ``#`` comments skipped."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def resolve_names_file(entry: str, base_dir: Path) -> Path:
    """Where a ``names_files`` entry points: beside the policy, else beside the packaged policy.

    The fallback lets a copy of the packaged policy find the lists shipped with the original.
    """
    path = base_dir / entry
    if not path.exists() and not Path(entry).is_absolute():
        return DEFAULT_POLICY_PATH.parent / entry
    return path


def policy_files(path: Path | None = None) -> list[Path]:
    """The policy file and every names file it names: what a reload must watch for changes.

    Best effort: a file that cannot be read or parsed lists only itself (the load reports why).
    """
    source = path or DEFAULT_POLICY_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return [source]
    return [source, *(p for paths in _names_files(raw, source.parent).values() for p in paths)]


def _names_files(raw: object, base_dir: Path) -> dict[str, list[Path]]:
    """Per term group of a raw (unvalidated) policy, the names files it lists, resolved."""
    groups = raw.get("term_groups") if isinstance(raw, dict) else None
    found: dict[str, list[Path]] = {}
    for name, group in groups.items() if isinstance(groups, dict) else ():
        entries = group.get("names_files") if isinstance(group, dict) else None
        if isinstance(entries, list) and entries:
            found[name] = [resolve_names_file(str(entry), base_dir) for entry in entries]
    return found


def _with_names_files_read(raw: dict[str, object], origin: str, base_dir: Path) -> dict[str, object]:
    """``raw`` with each term group's ``names_files`` read into its ``names`` (files stay listed)."""
    files = _names_files(raw, base_dir)
    if not files:
        return raw
    groups = cast("dict[str, dict[str, object]]", raw["term_groups"])  # a mapping: it listed files
    expanded: dict[str, object] = dict(groups)
    for name, paths in files.items():
        group = groups[name]
        names = list(group.get("names") or [])
        for path in paths:
            try:
                names += read_names_file(path)
            except OSError as exc:
                where = f"{origin}: term_groups.{name}.names_files"
                raise PolicyError(f"{where}: cannot read {path}: {exc}") from exc
        expanded[name] = {**group, "names": names}
    return {**raw, "term_groups": expanded}


def parse_policy(raw: object, origin: str = "<policy>", base_dir: Path | None = None) -> PolicyDocument:
    """Validate an already-parsed policy document, with errors that name the failing field.

    ``names_files`` are read relative to ``base_dir`` (the packaged policy's folder by default).
    """
    if not isinstance(raw, dict):
        raise PolicyError(f"{origin}: the policy must be a mapping")
    raw = _with_names_files_read(raw, origin, base_dir or DEFAULT_POLICY_PATH.parent)
    try:
        return PolicyDocument.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise PolicyError(f"{origin}: invalid policy: {problems}") from exc
