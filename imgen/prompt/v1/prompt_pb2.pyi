from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("characters", "models")
    CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    characters: _containers.RepeatedScalarFieldContainer[str]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, characters: _Optional[_Iterable[str]] = ..., models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("key", "label", "default_style", "styles")
    KEY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_STYLE_FIELD_NUMBER: _ClassVar[int]
    STYLES_FIELD_NUMBER: _ClassVar[int]
    key: str
    label: str
    default_style: str
    styles: _containers.RepeatedCompositeFieldContainer[StyleInfo]
    def __init__(self, key: _Optional[str] = ..., label: _Optional[str] = ..., default_style: _Optional[str] = ..., styles: _Optional[_Iterable[_Union[StyleInfo, _Mapping]]] = ...) -> None: ...

class StyleInfo(_message.Message):
    __slots__ = ("key", "label")
    KEY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    key: str
    label: str
    def __init__(self, key: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class BuildPromptRequest(_message.Message):
    __slots__ = ("raw_prompt", "model", "style", "explicit_negative", "optimize")
    RAW_PROMPT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZE_FIELD_NUMBER: _ClassVar[int]
    raw_prompt: str
    model: str
    style: str
    explicit_negative: str
    optimize: bool
    def __init__(self, raw_prompt: _Optional[str] = ..., model: _Optional[str] = ..., style: _Optional[str] = ..., explicit_negative: _Optional[str] = ..., optimize: _Optional[bool] = ...) -> None: ...

class BuildPromptResponse(_message.Message):
    __slots__ = ("raw_prompt", "model", "style", "character", "positive", "negative", "optimized", "preset", "lora", "review_texts", "notes")
    RAW_PROMPT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZED_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    LORA_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TEXTS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    raw_prompt: str
    model: str
    style: str
    character: str
    positive: str
    negative: str
    optimized: bool
    preset: GenerationPreset
    lora: LoraRef
    review_texts: _containers.RepeatedCompositeFieldContainer[ReviewText]
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, raw_prompt: _Optional[str] = ..., model: _Optional[str] = ..., style: _Optional[str] = ..., character: _Optional[str] = ..., positive: _Optional[str] = ..., negative: _Optional[str] = ..., optimized: _Optional[bool] = ..., preset: _Optional[_Union[GenerationPreset, _Mapping]] = ..., lora: _Optional[_Union[LoraRef, _Mapping]] = ..., review_texts: _Optional[_Iterable[_Union[ReviewText, _Mapping]]] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class GenerationPreset(_message.Message):
    __slots__ = ("model_source", "scheduler", "steps", "guidance_scale", "width", "height")
    MODEL_SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    model_source: str
    scheduler: str
    steps: int
    guidance_scale: float
    width: int
    height: int
    def __init__(self, model_source: _Optional[str] = ..., scheduler: _Optional[str] = ..., steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class LoraRef(_message.Message):
    __slots__ = ("name", "source", "weight")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: str
    weight: float
    def __init__(self, name: _Optional[str] = ..., source: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class ReviewText(_message.Message):
    __slots__ = ("source", "text")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    source: str
    text: str
    def __init__(self, source: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class OptimizePromptRequest(_message.Message):
    __slots__ = ("raw_prompt", "model", "style")
    RAW_PROMPT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    raw_prompt: str
    model: str
    style: str
    def __init__(self, raw_prompt: _Optional[str] = ..., model: _Optional[str] = ..., style: _Optional[str] = ...) -> None: ...

class OptimizePromptResponse(_message.Message):
    __slots__ = ("raw_prompt",)
    RAW_PROMPT_FIELD_NUMBER: _ClassVar[int]
    raw_prompt: str
    def __init__(self, raw_prompt: _Optional[str] = ...) -> None: ...

class RandomPromptRequest(_message.Message):
    __slots__ = ("character", "model", "style", "seed")
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    character: str
    model: str
    style: str
    seed: int
    def __init__(self, character: _Optional[str] = ..., model: _Optional[str] = ..., style: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class RandomPromptResponse(_message.Message):
    __slots__ = ("raw_prompt",)
    RAW_PROMPT_FIELD_NUMBER: _ClassVar[int]
    raw_prompt: str
    def __init__(self, raw_prompt: _Optional[str] = ...) -> None: ...
