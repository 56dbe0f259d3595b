"""Texts the tests send: several scripts, emoji, the empty string, and lengths from 0 to past any maximum."""

MEGABYTE_TEXT = "All work and no play makes a dull day. " * 26_900  # just over 1 MB
LONG_TEXT = " ".join(["This sentence repeats until the text is far longer than the model's maximum input."] * 60)

PARITY_TEXTS = [
    "",
    " ",
    "meh",
    "I love this!",
    "I hate mondays",
    "The meeting has been moved to Thursday at 3pm.",
    "Can't wait for the weekend 🎉🎉",
    "Worst customer service I have ever experienced. Never again 😡",
    "Thank you all for the birthday wishes ❤️",
    "@airline my flight was cancelled and nobody answers the phone #fail",
    "Visit https://example.com/path?q=1 for more information.",
    "Das Wetter ist heute schön und sonnig.",
    "Le film était vraiment excellent, je le recommande.",
    "今日はとても良い天気ですね。",
    "这家餐厅的菜非常好吃。",
    "오늘 정말 행복해요!",
    "Это был отличный день.",
    "هذا المنتج رائع جدا",
    "यह फिल्म बहुत अच्छी थी",
    "👍👍👍",
    "Numbers like 42, 3.14 and 1,000,000 appear in text too.",
    "The report contains twelve pages of quarterly figures, a summary, and an appendix with the raw data.",
    LONG_TEXT,
]

# Obvious cases the offline default model must get right.
PLAIN_CASES = {
    "positive": ["I love this", "What a wonderful day, I'm so happy!", "The concert was amazing"],
    "negative": ["I hate mondays", "This is the worst customer service ever.", "The food was cold and disgusting"],
    "neutral": ["The meeting is at 10am tomorrow.", "The train to Boston departs at noon.", "The report is due on Friday."],
}
