"""The CLIP token counter matches OpenAI CLIP's tokenizer; the fallback says it estimates."""

from __future__ import annotations

from services.prompt.clip_tokens import ClipBpeTokenizer, EstimatedTokenCounter, length_note


def test_known_clip_ids(clip_tokenizer: ClipBpeTokenizer) -> None:
    # Reference ids of openai/clip-vit-large-patch14 (and open_clip's SimpleTokenizer).
    assert clip_tokenizer.encode("a photo of a cat") == [320, 1125, 539, 320, 2368]
    assert clip_tokenizer.encode("A  PHOTO of a Cat") == [320, 1125, 539, 320, 2368]
    assert (clip_tokenizer.start_id, clip_tokenizer.end_id) == (49406, 49407)
    assert len(clip_tokenizer.encoder) == 49408


def test_tags_cost_more_than_words(clip_tokenizer: ClipBpeTokenizer) -> None:
    assert clip_tokenizer.count("looking_at_viewer") == 5
    assert clip_tokenizer.count("日本") > 0


def test_length_note(clip_tokenizer: ClipBpeTokenizer) -> None:
    assert length_note("positive", clip_tokenizer, "a photo of a cat") is None
    assert length_note("positive", clip_tokenizer, "cat " * 75) is None
    assert (
        length_note("positive", clip_tokenizer, "cat " * 76)
        == "positive prompt is 76 tokens; encoded in 2 chunks of 77"
    )
    assert (
        length_note("negative", clip_tokenizer, "cat " * 151)
        == "negative prompt is 151 tokens; encoded in 3 chunks of 77"
    )


def test_estimate_is_labelled() -> None:
    note = length_note("positive", EstimatedTokenCounter(), "cat " * 100)
    assert note is not None and "estimated" in note
