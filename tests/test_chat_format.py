import pytest

from labeling.chat_format import Turn, render, to_text
from labeling.special_tokens import SPECIAL_TOKENS


def conversation():
    return [
        Turn("system", "You are Rosie."),
        Turn("user", action="drag"),
        Turn("rosie", "Eep! Where are we going?", emotion="surprised"),
        Turn("user", "How are you? <|rosie|>"),
        Turn("rosie", "Great!", emotion="happy"),
    ]


def test_render_layout_and_loss_mask():
    segments = render(conversation())
    assert to_text(segments) == (
        "<|system|>You are Rosie.<|end|><|user|><|action:drag|><|end|>"
        "<|rosie|><|emotion:surprised|>Eep! Where are we going?<|end|>"
        "<|user|>How are you? <|rosie|><|end|><|rosie|><|emotion:happy|>Great!<|end|><|endoftext|>"
    )
    trained = [s.text for s in segments if s.trained]
    assert trained == [
        "<|emotion:surprised|>",
        "Eep! Where are we going?",
        "<|end|>",
        "<|emotion:happy|>",
        "Great!",
        "<|end|>",
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
        dict(role="rosie", text="hi"),  # no emotion
        dict(role="user", text="hi", emotion="happy"),
        dict(role="rosie", text="hi", emotion="happy", action="drag"),
        dict(role="user", action="dance"),
        dict(role="user"),
        dict(role="narrator", text="x"),
    ],
)
def test_invalid_turns_are_rejected(bad):
    with pytest.raises(ValueError):
        Turn(**bad)
