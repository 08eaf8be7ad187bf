"""C2PA content credentials: build, sign and read back the manifest of a delivered file.

The manifest is what lets anyone check, without asking us, that a file came out of
this service as AI-generated media: a `c2pa.created` action with IPTC's
`trainedAlgorithmicMedia` source type, the CreativeWork fields (author, title, ...),
and our own `com.imgen.generation` assertion with the model/style/seed. The embedded
auto-thumbnail is turned off: it costs 10x the signing time and >100 KiB per file,
and we deliver our own thumbnail next to the image.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import c2pa

from services.provenance.signing import PemKeySigner, SignerSource

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_LABEL = "com.imgen.generation"
SOFTWARE_NAME = "imgen"

#: States `verify_manifest` reports; "Absent" is ours for a file without a manifest.
STATE_TRUSTED = "Trusted"
STATE_VALID = "Valid"
STATE_INVALID = "Invalid"
STATE_ABSENT = "Absent"


@dataclass(frozen=True)
class CreativeWork:
    """The credential fields written into `stds.schema-org.CreativeWork`."""

    author: str
    title: str
    description: str
    organization: str
    vendor: str


@dataclass(frozen=True)
class GenerationFacts:
    """How the pixels were made, recorded in the `com.imgen.generation` assertion."""

    gen_id: str
    model: str
    style: str
    seed: int
    watermark_payload: str = ""
    fingerprint: str = ""


@dataclass(frozen=True)
class ManifestVerification:
    """What the C2PA reader concluded about a file."""

    state: str
    manifest_json: str
    status_codes: list[str] = field(default_factory=list)


def build_manifest(
    work: CreativeWork, facts: GenerationFacts, software_version: str, title_suffix: str = ""
) -> dict[str, Any]:
    """The manifest definition c2pa's Builder takes; a pure function so tests can inspect it."""
    agent = {"name": SOFTWARE_NAME, "version": software_version}
    creative_work: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "CreativeWork",
        "name": work.title + title_suffix,
        "author": [{"@type": "Person", "name": work.author}],
    }
    if work.description:
        creative_work["description"] = work.description
    if work.organization:
        creative_work["publisher"] = {"@type": "Organization", "name": work.organization}
    if work.vendor:
        creative_work["provider"] = {"@type": "Organization", "name": work.vendor}
    generation: dict[str, Any] = {
        "gen_id": facts.gen_id,
        "model": facts.model,
        "style": facts.style,
        "seed": facts.seed,
    }
    if facts.watermark_payload:
        generation["watermark_payload"] = facts.watermark_payload
    if facts.fingerprint:
        generation["pdq"] = facts.fingerprint
    return {
        "claim_generator_info": [agent],
        "title": work.title + title_suffix,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_SOURCE_TYPE,
                            "softwareAgent": agent,
                        }
                    ]
                },
            },
            {"label": "stds.schema-org.CreativeWork", "data": creative_work, "kind": "Json"},
            {"label": GENERATION_LABEL, "data": generation},
        ],
    }


class ManifestSigner:
    """Signs files with one certificate chain; safe to share across threads.

    c2pa's native Signer is consumed by use, so one is made per signature by the
    `SignerSource` held here (microseconds next to the signing itself). By default that
    is the PEM key itself; ``source`` swaps in a callback signer (KMS/HSM).
    """

    def __init__(
        self,
        chain_pem: bytes,
        key_pem: bytes,
        software_version: str,
        *,
        tsa_url: str | None = None,
        source: SignerSource | None = None,
    ) -> None:
        self.source: SignerSource = source or PemKeySigner(chain_pem, key_pem, tsa_url)
        self.software_version = software_version
        # verify_after_sign re-reads every file just signed (~40% of the signing time). With
        # a PEM key c2pa makes the signature itself, so the check is skipped; a callback's
        # signature comes from outside (a KMS may answer with the wrong key or format) and
        # is always checked, so a bad one fails the call instead of shipping.
        self._settings = {
            "builder": {"thumbnail": {"enabled": False}},
            "verify": {"verify_after_sign": not isinstance(self.source, PemKeySigner)},
        }

    def sign(
        self,
        data: bytes,
        mime_type: str,
        work: CreativeWork,
        facts: GenerationFacts,
        title_suffix: str = "",
    ) -> bytes:
        """Return ``data`` with an embedded, signed manifest (pixels untouched)."""
        manifest = build_manifest(work, facts, self.software_version, title_suffix)
        context = c2pa.Context(settings=c2pa.Settings.from_dict(self._settings))
        signer = self.source.create()
        builder = c2pa.Builder(json.dumps(manifest), context=context)
        destination = io.BytesIO()
        builder.sign(signer, mime_type, io.BytesIO(data), destination)
        return destination.getvalue()


def verify_manifest(data: bytes, mime_type: str, trust_anchor_pem: bytes | None) -> ManifestVerification:
    """Validate a file's manifest against our trust anchor.

    `Trusted` means the chain ends at the anchor; `Valid` a well-formed, intact manifest
    from someone else; `Invalid` a manifest whose hashes or signature fail (the file was
    changed after signing); `Absent` no manifest at all.
    """
    settings: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}}
    if trust_anchor_pem:
        settings["trust"] = {"trust_anchors": trust_anchor_pem.decode("ascii")}
    context = c2pa.Context(settings=c2pa.Settings.from_dict(settings))
    try:
        reader = c2pa.Reader.try_create(mime_type or None, io.BytesIO(data), None, context)
    except c2pa.C2paError as exc:
        return ManifestVerification(STATE_INVALID, "", [f"reader.error: {type(exc).__name__}"])
    if reader is None:
        return ManifestVerification(STATE_ABSENT, "", [])
    with reader:
        store = json.loads(reader.json())
    state = str(store.get("validation_state") or STATE_INVALID)
    active_label = store.get("active_manifest")
    active = (store.get("manifests") or {}).get(active_label, {}) if active_label else {}
    return ManifestVerification(
        state=state,
        manifest_json=json.dumps(active, sort_keys=True) if active else "",
        status_codes=_status_codes(store),
    )


@dataclass(frozen=True)
class ManifestSummary:
    """The few manifest fields a person checks first; mirrors the proto message."""

    title: str = ""
    authors: list[str] = field(default_factory=list)
    organization: str = ""
    generator: str = ""
    digital_source_type: str = ""
    signer: str = ""
    signed_at: str = ""
    gen_id: str = ""
    model: str = ""
    style: str = ""


def summarize_manifest(manifest_json: str) -> ManifestSummary | None:
    """Summary of an active manifest as `verify_manifest` returns it; None when there is none.

    Written defensively: a manifest from another tool may lack any of these fields or
    shape them differently, and a summary must never fail the verification.
    """
    if not manifest_json:
        return None
    manifest = json.loads(manifest_json)
    assertions = {
        str(a.get("label", "")): a.get("data")
        for a in manifest.get("assertions") or []
        if isinstance(a, dict)
    }
    work = _as_dict(assertions.get("stds.schema-org.CreativeWork"))
    authors = [str(a.get("name", "")) for a in work.get("author") or [] if isinstance(a, dict)]
    generator_info = (manifest.get("claim_generator_info") or [{}])[0]
    generator = "/".join(
        str(part) for part in (generator_info.get("name"), generator_info.get("version")) if part
    )
    created = next(
        (
            action
            for label, data in assertions.items()
            if label.startswith("c2pa.actions")
            for action in _as_dict(data).get("actions") or []
            if isinstance(action, dict) and action.get("action") == "c2pa.created"
        ),
        {},
    )
    signature = _as_dict(manifest.get("signature_info"))
    generation = _as_dict(assertions.get(GENERATION_LABEL))
    return ManifestSummary(
        title=str(manifest.get("title") or work.get("name") or ""),
        authors=[a for a in authors if a],
        organization=str(_as_dict(work.get("publisher")).get("name", "")),
        generator=generator,
        digital_source_type=str(created.get("digitalSourceType", "")),
        signer=str(signature.get("issuer") or signature.get("common_name") or ""),
        signed_at=str(signature.get("time") or ""),
        gen_id=str(generation.get("gen_id", "")),
        model=str(generation.get("model", "")),
        style=str(generation.get("style", "")),
    )


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _status_codes(store: dict[str, Any]) -> list[str]:
    """Failure and informational codes of the active manifest, deduplicated in order."""
    codes: list[str] = []
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    for bucket in ("failure", "informational"):
        for entry in active.get(bucket) or []:
            code = entry.get("code")
            if code and code not in codes:
                codes.append(code)
    for entry in store.get("validation_status") or []:
        code = entry.get("code")
        if code and code not in codes:
            codes.append(code)
    return codes
