import pytest

from labeling.chat_format import Turn, render, to_text
from labeling.special_tokens import SPECIAL_TOKENS


def conversation():
    return [
        Turn("system", "You are Rosie."),
        Turn("user", action="drag"),
        Turn("rosie", "Eep! Where are we going?", emotion="surprised"),
        Turn("user", "How are you? <|rosie|>", emotion="curious"),
        Turn("rosie", "Great!", emotion="happy"),
    ]


def test_render_layout_loss_mask_and_emotion_targets():
    segments = render(conversation())
    # no emotion token anywhere: a turn's label is never part of what the model reads
    assert to_text(segments) == (
        "<|system|>You are Rosie.<|end|><|user|><|action:drag|><|end|>"
        "<|rosie|>Eep! Where are we going?<|end|>"
        "<|user|>How are you? <|rosie|><|end|><|rosie|>Great!<|end|><|endoftext|>"
    )
    trained = [s.text for s in segments if s.trained]
    assert trained == ["Eep! Where are we going?", "<|end|>", "Great!", "<|end|>"]
    # each label sits on its own turn's <|end|>, the user's included; unlabelled turns have none
    labelled = [(i, s.text, s.emotion) for i, s in enumerate(segments) if s.emotion]
    assert [(text, emotion) for _, text, emotion in labelled] == [
        ("<|end|>", "surprised"),
        ("<|end|>", "curious"),
        ("<|end|>", "happy"),
    ]
    assert [segments[i - 1].text for i, _, _ in labelled] == [
        "Eep! Where are we going?",
        "How are you? <|rosie|>",
        "Great!",
    ]
    # user text that spells a special token stays ordinary text
    user_text = [s for s in segments if "How are you" in s.text]
    assert len(user_text) == 1 and not user_text[0].special
    assert all(s.text in SPECIAL_TOKENS for s in segments if s.special)


def test_generation_prompt_ends_with_rosie_role():
    segments = render(conversation()[:2], add_generation_prompt=True)
    assert segments[-1].text == "<|rosie|>" and segments[-1].special


@pytest.mark.parametrize(
    "bad",
    [
        dict(role="system", text="hi", emotion="happy"),
        dict(role="rosie", text="hi", emotion="giddy"),
        dict(role="rosie", text="hi", emotion="happy", action="drag"),
        dict(role="user", action="dance"),
        dict(role="user"),
        dict(role="narrator", text="x"),
    ],
)
def test_invalid_turns_are_rejected(bad):
    with pytest.raises(ValueError):
        Turn(**bad)
