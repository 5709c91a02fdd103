"""The well-formed reply check model_eval reports."""

from __future__ import annotations

import pytest

from model.reply_quality import Reference, problems

REFERENCE = Reference.from_texts(
    [
        "Hey there, what's up? I'm doing great and ready to help.",
        "Eep, where are we? I am great. I love it, do you know?",
    ]
)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Hey there! ✨ What's up?", []),
        ("I'm doing great! Ready to help~", []),
        ('"Where are we?" 🥰🥰', []),
        ("I am great 💕", []),  # she often closes with an emoji
        ('(Where are we?)"', []),  # closing quotes and brackets after the end
        ("Eep…", []),
        ("I love it, where are you? Do you know where we are?", []),  # one triple in five is enough
        ("", ["empty"]),
        ("🙂", ["empty"]),
        ("Hey there", ["unfinished"]),  # cut by the token budget
        ("I I I am great.", ["repeated_word"]),
        ("Ocurous wonderr thereby.", ["unknown_words", "word_salad"]),
        ("Great are I we ready and help.", ["word_salad"]),  # known words, no known triple
        ("great great great wonderr", ["unknown_words", "word_salad", "repeated_word", "unfinished"]),
    ],
)
def test_problems(reply: str, expected: list[str]):
    assert problems(reply, REFERENCE) == expected


def test_nine_known_words_in_ten_are_enough():
    reference = Reference.from_texts(["a b c d e f g h i"])
    assert "unknown_words" not in problems("a b c d e f g h i zz.", reference)  # 9 of 10
    assert "unknown_words" in problems("a b c d e f g h zz yy.", reference)  # 8 of 10
