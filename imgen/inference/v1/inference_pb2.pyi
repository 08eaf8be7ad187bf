from imgen.compliance.v1 import compliance_pb2 as _compliance_pb2
from imgen.prompt.v1 import prompt_pb2 as _prompt_pb2
from imgen.provenance.v1 import provenance_pb2 as _provenance_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_IN_QUEUE: _ClassVar[JobState]
    JOB_STATE_IN_PROGRESS: _ClassVar[JobState]
    JOB_STATE_COMPLETED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_TIMED_OUT: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_IN_QUEUE: JobState
JOB_STATE_IN_PROGRESS: JobState
JOB_STATE_COMPLETED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_TIMED_OUT: JobState
JOB_STATE_CANCELLED: JobState

class JobSpec(_message.Message):
    __slots__ = ("raw_prompt", "prompt", "width", "height", "seed", "format", "quality", "lossless", "brand", "credentials", "enable_invisimark", "enable_c2pa", "compute_pdq", "api_key_id", "traceparent")
    RAW_PROMPT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    LOSSLESS_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    ENABLE_INVISIMARK_FIELD_NUMBER: _ClassVar[int]
    ENABLE_C2PA_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_PDQ_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    raw_prompt: str
    prompt: _prompt_pb2.BuildPromptResponse
    width: int
    height: int
    seed: int
    format: str
    quality: int
    lossless: bool
    brand: _provenance_pb2.BrandWatermark
    credentials: _provenance_pb2.Credentials
    enable_invisimark: bool
    enable_c2pa: bool
    compute_pdq: bool
    api_key_id: str
    traceparent: str
    def __init__(self, raw_prompt: _Optional[str] = ..., prompt: _Optional[_Union[_prompt_pb2.BuildPromptResponse, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., seed: _Optional[int] = ..., format: _Optional[str] = ..., quality: _Optional[int] = ..., lossless: _Optional[bool] = ..., brand: _Optional[_Union[_provenance_pb2.BrandWatermark, _Mapping]] = ..., credentials: _Optional[_Union[_provenance_pb2.Credentials, _Mapping]] = ..., enable_invisimark: _Optional[bool] = ..., enable_c2pa: _Optional[bool] = ..., compute_pdq: _Optional[bool] = ..., api_key_id: _Optional[str] = ..., traceparent: _Optional[str] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("spec", "prompt_verdict")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERDICT_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    prompt_verdict: _compliance_pb2.Verdict
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., prompt_verdict: _Optional[_Union[_compliance_pb2.Verdict, _Mapping]] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "api_key_id", "model", "page_size", "page_token")
    STATES_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[JobState]
    api_key_id: str
    model: str
    page_size: int
    page_token: str
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., api_key_id: _Optional[str] = ..., model: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "gen_id", "state", "spec", "error", "compliance", "blocking_verdict", "compliance_codes", "result", "created_at", "finished_at", "queue_position", "step", "total_steps", "attempts")
    ID_FIELD_NUMBER: _ClassVar[int]
    GEN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    COMPLIANCE_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_VERDICT_FIELD_NUMBER: _ClassVar[int]
    COMPLIANCE_CODES_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    gen_id: str
    state: JobState
    spec: JobSpec
    error: str
    compliance: str
    blocking_verdict: _compliance_pb2.Verdict
    compliance_codes: _containers.RepeatedScalarFieldContainer[str]
    result: JobResult
    created_at: str
    finished_at: str
    queue_position: int
    step: int
    total_steps: int
    attempts: int
    def __init__(self, id: _Optional[str] = ..., gen_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., error: _Optional[str] = ..., compliance: _Optional[str] = ..., blocking_verdict: _Optional[_Union[_compliance_pb2.Verdict, _Mapping]] = ..., compliance_codes: _Optional[_Iterable[str]] = ..., result: _Optional[_Union[JobResult, _Mapping]] = ..., created_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., queue_position: _Optional[int] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., attempts: _Optional[int] = ...) -> None: ...

class JobResult(_message.Message):
    __slots__ = ("fingerprint", "fingerprint_quality", "watermark_payload", "credentials", "images", "notes")
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_QUALITY_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    fingerprint: str
    fingerprint_quality: int
    watermark_payload: str
    credentials: _provenance_pb2.Credentials
    images: _containers.RepeatedCompositeFieldContainer[StoredImage]
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, fingerprint: _Optional[str] = ..., fingerprint_quality: _Optional[int] = ..., watermark_payload: _Optional[str] = ..., credentials: _Optional[_Union[_provenance_pb2.Credentials, _Mapping]] = ..., images: _Optional[_Iterable[_Union[StoredImage, _Mapping]]] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class StoredImage(_message.Message):
    __slots__ = ("key", "filename", "type", "mime_type", "size")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    key: str
    filename: str
    type: str
    mime_type: str
    size: int
    def __init__(self, key: _Optional[str] = ..., filename: _Optional[str] = ..., type: _Optional[str] = ..., mime_type: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...
