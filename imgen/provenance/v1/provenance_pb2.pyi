from imgen.common.v1 import image_pb2 as _image_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FinalizeRequest(_message.Message):
    __slots__ = ("image", "job_id", "gen_id", "format", "quality", "lossless", "brand", "credentials", "generation", "enable_invisimark", "enable_c2pa", "compute_pdq")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    GEN_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    LOSSLESS_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    ENABLE_INVISIMARK_FIELD_NUMBER: _ClassVar[int]
    ENABLE_C2PA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_PDQ_FIELD_NUMBER: _ClassVar[int]
    image: _image_pb2.RawImage
    job_id: str
    gen_id: str
    format: str
    quality: int
    lossless: bool
    brand: BrandWatermark
    credentials: Credentials
    generation: GenerationInfo
    enable_invisimark: bool
    enable_c2pa: bool
    compute_pdq: bool
    def __init__(self, image: _Optional[_Union[_image_pb2.RawImage, _Mapping]] = ..., job_id: _Optional[str] = ..., gen_id: _Optional[str] = ..., format: _Optional[str] = ..., quality: _Optional[int] = ..., lossless: _Optional[bool] = ..., brand: _Optional[_Union[BrandWatermark, _Mapping]] = ..., credentials: _Optional[_Union[Credentials, _Mapping]] = ..., generation: _Optional[_Union[GenerationInfo, _Mapping]] = ..., enable_invisimark: _Optional[bool] = ..., enable_c2pa: _Optional[bool] = ..., compute_pdq: _Optional[bool] = ...) -> None: ...

class BrandWatermark(_message.Message):
    __slots__ = ("image_data_uri", "position", "scale", "transparency", "rotation", "padding_x", "padding_y")
    IMAGE_DATA_URI_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    TRANSPARENCY_FIELD_NUMBER: _ClassVar[int]
    ROTATION_FIELD_NUMBER: _ClassVar[int]
    PADDING_X_FIELD_NUMBER: _ClassVar[int]
    PADDING_Y_FIELD_NUMBER: _ClassVar[int]
    image_data_uri: str
    position: str
    scale: int
    transparency: int
    rotation: int
    padding_x: int
    padding_y: int
    def __init__(self, image_data_uri: _Optional[str] = ..., position: _Optional[str] = ..., scale: _Optional[int] = ..., transparency: _Optional[int] = ..., rotation: _Optional[int] = ..., padding_x: _Optional[int] = ..., padding_y: _Optional[int] = ...) -> None: ...

class Credentials(_message.Message):
    __slots__ = ("author", "title", "description", "organization", "vendor")
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    author: str
    title: str
    description: str
    organization: str
    vendor: str
    def __init__(self, author: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., organization: _Optional[str] = ..., vendor: _Optional[str] = ...) -> None: ...

class GenerationInfo(_message.Message):
    __slots__ = ("model", "style", "seed")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    model: str
    style: str
    seed: int
    def __init__(self, model: _Optional[str] = ..., style: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class FinalizeResponse(_message.Message):
    __slots__ = ("image", "thumbnail", "fingerprint", "fingerprint_quality", "watermark_payload", "credentials", "notes")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_QUALITY_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    image: _image_pb2.EncodedImage
    thumbnail: _image_pb2.EncodedImage
    fingerprint: str
    fingerprint_quality: int
    watermark_payload: str
    credentials: Credentials
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, image: _Optional[_Union[_image_pb2.EncodedImage, _Mapping]] = ..., thumbnail: _Optional[_Union[_image_pb2.EncodedImage, _Mapping]] = ..., fingerprint: _Optional[str] = ..., fingerprint_quality: _Optional[int] = ..., watermark_payload: _Optional[str] = ..., credentials: _Optional[_Union[Credentials, _Mapping]] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckBrandImageRequest(_message.Message):
    __slots__ = ("image_data_uri",)
    IMAGE_DATA_URI_FIELD_NUMBER: _ClassVar[int]
    image_data_uri: str
    def __init__(self, image_data_uri: _Optional[str] = ...) -> None: ...

class CheckBrandImageResponse(_message.Message):
    __slots__ = ("width", "height", "mime_type")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    mime_type: str
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., mime_type: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("data", "mime_type")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    mime_type: str
    def __init__(self, data: _Optional[bytes] = ..., mime_type: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("c2pa_state", "c2pa_manifest_json", "watermark_found", "watermark_payload", "watermark_confidence", "fingerprint", "fingerprint_quality", "c2pa_status_codes", "c2pa_summary", "watermark_generation", "watermark_bit_errors", "nearest_match", "nearest_match_distance")
    C2PA_STATE_FIELD_NUMBER: _ClassVar[int]
    C2PA_MANIFEST_JSON_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_FOUND_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_QUALITY_FIELD_NUMBER: _ClassVar[int]
    C2PA_STATUS_CODES_FIELD_NUMBER: _ClassVar[int]
    C2PA_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_GENERATION_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_BIT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    NEAREST_MATCH_FIELD_NUMBER: _ClassVar[int]
    NEAREST_MATCH_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    c2pa_state: str
    c2pa_manifest_json: str
    watermark_found: bool
    watermark_payload: str
    watermark_confidence: float
    fingerprint: str
    fingerprint_quality: int
    c2pa_status_codes: _containers.RepeatedScalarFieldContainer[str]
    c2pa_summary: ManifestSummary
    watermark_generation: IndexedGeneration
    watermark_bit_errors: int
    nearest_match: IndexedGeneration
    nearest_match_distance: int
    def __init__(self, c2pa_state: _Optional[str] = ..., c2pa_manifest_json: _Optional[str] = ..., watermark_found: _Optional[bool] = ..., watermark_payload: _Optional[str] = ..., watermark_confidence: _Optional[float] = ..., fingerprint: _Optional[str] = ..., fingerprint_quality: _Optional[int] = ..., c2pa_status_codes: _Optional[_Iterable[str]] = ..., c2pa_summary: _Optional[_Union[ManifestSummary, _Mapping]] = ..., watermark_generation: _Optional[_Union[IndexedGeneration, _Mapping]] = ..., watermark_bit_errors: _Optional[int] = ..., nearest_match: _Optional[_Union[IndexedGeneration, _Mapping]] = ..., nearest_match_distance: _Optional[int] = ...) -> None: ...

class ManifestSummary(_message.Message):
    __slots__ = ("title", "authors", "organization", "generator", "digital_source_type", "signer", "signed_at", "gen_id", "model", "style")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    AUTHORS_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    GENERATOR_FIELD_NUMBER: _ClassVar[int]
    DIGITAL_SOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    GEN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    title: str
    authors: _containers.RepeatedScalarFieldContainer[str]
    organization: str
    generator: str
    digital_source_type: str
    signer: str
    signed_at: str
    gen_id: str
    model: str
    style: str
    def __init__(self, title: _Optional[str] = ..., authors: _Optional[_Iterable[str]] = ..., organization: _Optional[str] = ..., generator: _Optional[str] = ..., digital_source_type: _Optional[str] = ..., signer: _Optional[str] = ..., signed_at: _Optional[str] = ..., gen_id: _Optional[str] = ..., model: _Optional[str] = ..., style: _Optional[str] = ...) -> None: ...

class IndexedGeneration(_message.Message):
    __slots__ = ("gen_id", "job_id", "watermark_payload", "fingerprint", "created_at_unix")
    GEN_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    gen_id: str
    job_id: str
    watermark_payload: str
    fingerprint: str
    created_at_unix: int
    def __init__(self, gen_id: _Optional[str] = ..., job_id: _Optional[str] = ..., watermark_payload: _Optional[str] = ..., fingerprint: _Optional[str] = ..., created_at_unix: _Optional[int] = ...) -> None: ...
