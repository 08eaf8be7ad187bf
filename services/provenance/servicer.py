"""gRPC glue for ProvenanceService: messages in and out, CPU work off the event loop.

Finalize and Verify are CPU-bound (watermark maths, encoders, signing); they run in
worker threads behind a semaphore so the loop keeps answering health checks and the
2-core budget is not oversubscribed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from imgen.common.v1 import image_pb2
from imgen.provenance.v1 import provenance_pb2, provenance_pb2_grpc
from services.provenance.brand import BrandPlacement, check_data_uri
from services.provenance.c2pa_manifest import CreativeWork
from services.provenance.encode import EncodeRequest
from services.provenance.finalize import BrandRequest, DeliveredFile, FinalizeRequest, FinalizeResult
from services.provenance.registry import IndexedGeneration
from services.provenance.state import ProvenanceState
from services.provenance.verify import VerifyResult, verify_image
from services.shared.errors import InvalidArgument, Unavailable
from services.shared.logging import get_logger

log = get_logger(__name__)


class ProvenanceServicer(provenance_pb2_grpc.ProvenanceServiceServicer):
    """Thin adapter over `Finalizer` and `verify_image`."""

    def __init__(self, max_concurrent: int = 2) -> None:
        self._state: ProvenanceState | None = None
        self._slots = asyncio.Semaphore(max(1, max_concurrent))

    def attach(self, state: ProvenanceState) -> None:
        """Install the loaded keys and pipeline (done by the startup hook)."""
        self._state = state

    @property
    def state(self) -> ProvenanceState:
        if self._state is None:
            raise Unavailable("provenance service is still starting")
        return self._state

    async def Finalize(
        self, request: provenance_pb2.FinalizeRequest, context: Any
    ) -> provenance_pb2.FinalizeResponse:
        state = self.state
        rgb = raw_to_array(request.image, state.max_image_pixels)
        if not request.gen_id:
            raise InvalidArgument("gen_id is required")
        domain_request = to_finalize_request(request)
        async with self._slots:
            result = await asyncio.to_thread(state.finalizer.finalize, rgb, domain_request)
            await asyncio.to_thread(
                state.registry.record,
                request.gen_id,
                request.job_id,
                result.watermark_payload,
                result.fingerprint,
                result.fingerprint_quality,
            )
        log.info(
            "finalized",
            job_id=request.job_id,
            gen_id=request.gen_id,
            format=result.image.extension,
            bytes=len(result.image.data),
            timings_ms={k: round(v * 1000, 1) for k, v in result.timings_s.items()},
        )
        return to_finalize_response(result)

    async def Verify(
        self, request: provenance_pb2.VerifyRequest, context: Any
    ) -> provenance_pb2.VerifyResponse:
        state = self.state
        async with self._slots:
            result = await asyncio.to_thread(
                verify_image,
                request.data,
                request.mime_type,
                state.codec,
                state.trust_anchor_pem,
                state.watermark_threshold,
                state.verify_limits,
                state.registry,
            )
        return to_verify_response(result)

    async def CheckBrandImage(
        self, request: provenance_pb2.CheckBrandImageRequest, context: Any
    ) -> provenance_pb2.CheckBrandImageResponse:
        """Validate a client's logo with Finalize's own code, so the gateway can refuse it at submission.

        Not behind the Finalize slots: the decode is bounded by the brand limits (a few MB,
        a few megapixels), and a submission should not queue behind whole images being finalized.
        """
        info = await asyncio.to_thread(
            check_data_uri, request.image_data_uri, self.state.finalizer.brand_limits
        )
        return provenance_pb2.CheckBrandImageResponse(
            width=info.width, height=info.height, mime_type=info.mime_type
        )


def to_verify_response(result: VerifyResult) -> provenance_pb2.VerifyResponse:
    response = provenance_pb2.VerifyResponse(
        c2pa_state=result.c2pa.state,
        c2pa_manifest_json=result.c2pa.manifest_json,
        watermark_found=result.watermark_found,
        watermark_payload=result.watermark_payload,
        watermark_confidence=result.watermark_confidence,
        fingerprint=result.fingerprint,
        fingerprint_quality=result.fingerprint_quality,
        c2pa_status_codes=result.c2pa.status_codes,
    )
    if result.summary is not None:
        summary = result.summary
        response.c2pa_summary.CopyFrom(
            provenance_pb2.ManifestSummary(
                title=summary.title,
                authors=summary.authors,
                organization=summary.organization,
                generator=summary.generator,
                digital_source_type=summary.digital_source_type,
                signer=summary.signer,
                signed_at=summary.signed_at,
                gen_id=summary.gen_id,
                model=summary.model,
                style=summary.style,
            )
        )
    if result.watermark_match is not None:
        response.watermark_generation.CopyFrom(_indexed(result.watermark_match.generation))
        response.watermark_bit_errors = result.watermark_match.bit_errors
    if result.nearest_match is not None:
        response.nearest_match.CopyFrom(_indexed(result.nearest_match.generation))
        response.nearest_match_distance = result.nearest_match.distance
    return response


def _indexed(generation: IndexedGeneration) -> provenance_pb2.IndexedGeneration:
    return provenance_pb2.IndexedGeneration(
        gen_id=generation.gen_id,
        job_id=generation.job_id,
        watermark_payload=generation.watermark_payload,
        fingerprint=generation.fingerprint,
        created_at_unix=int(generation.created_at.timestamp()),
    )


def raw_to_array(raw: image_pb2.RawImage, max_pixels: int) -> np.ndarray:
    """Validate a RawImage and view it as (H, W, 3) uint8 without copying."""
    width, height = raw.width, raw.height
    if width == 0 or height == 0:
        raise InvalidArgument("image width and height are required")
    if width * height > max_pixels:
        raise InvalidArgument(f"image has {width * height} pixels; at most {max_pixels} are allowed")
    if len(raw.rgb) != width * height * 3:
        raise InvalidArgument(f"image rgb must be exactly width*height*3 = {width * height * 3} bytes")
    return np.frombuffer(raw.rgb, dtype=np.uint8).reshape(height, width, 3)


def to_finalize_request(request: provenance_pb2.FinalizeRequest) -> FinalizeRequest:
    brand = request.brand
    credentials = request.credentials
    return FinalizeRequest(
        gen_id=request.gen_id,
        job_id=request.job_id,
        encode=EncodeRequest(format=request.format, quality=request.quality, lossless=request.lossless),
        brand=BrandRequest(
            image_data_uri=brand.image_data_uri,
            placement=BrandPlacement.clamped(
                position=brand.position,
                scale=brand.scale,
                opacity=brand.transparency,
                rotation=brand.rotation,
                padding_x=brand.padding_x,
                padding_y=brand.padding_y,
            ),
        ),
        credentials=CreativeWork(
            author=credentials.author,
            title=credentials.title,
            description=credentials.description,
            organization=credentials.organization,
            vendor=credentials.vendor,
        ),
        model=request.generation.model,
        style=request.generation.style,
        seed=request.generation.seed,
        enable_invisimark=request.enable_invisimark,
        enable_c2pa=request.enable_c2pa,
        compute_pdq=request.compute_pdq,
    )


def to_finalize_response(result: FinalizeResult) -> provenance_pb2.FinalizeResponse:
    credentials = result.credentials
    return provenance_pb2.FinalizeResponse(
        image=_encoded(result.image),
        thumbnail=_encoded(result.thumbnail),
        fingerprint=result.fingerprint,
        fingerprint_quality=result.fingerprint_quality,
        watermark_payload=result.watermark_payload,
        credentials=provenance_pb2.Credentials(
            author=credentials.author,
            title=credentials.title,
            description=credentials.description,
            organization=credentials.organization,
            vendor=credentials.vendor,
        ),
        notes=result.notes,
    )


def _encoded(delivered: DeliveredFile) -> image_pb2.EncodedImage:
    return image_pb2.EncodedImage(
        data=delivered.data,
        mime_type=delivered.mime_type,
        extension=delivered.extension,
        width=delivered.width,
        height=delivered.height,
    )
