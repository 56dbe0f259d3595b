"""Benchmark texts, generated from a fixed seed; every text in a corpus is different.

- `tweets`: tweet-length to a few sentences, about 8 to 120 tokens.
- `varied`: a few words to a few hundred tokens, tweets to paragraphs, with lengths spread evenly
  on a log scale, so most batches mix very short and long texts.
"""

import math
import random

SUBJECTS = [
    "the new phone", "my flight", "this restaurant", "the customer service", "our team", "the update",
    "the concert", "this movie", "the hotel", "my order", "the train", "the weather", "this book",
    "the app", "the meeting", "your support team", "the coffee here", "the new album", "this game",
    "the delivery", "the course", "the museum", "my internet connection", "the store", "the event",
]
OPINIONS = [
    "is absolutely amazing", "was a total disaster", "arrived two days late", "exceeded my expectations",
    "keeps crashing every time I open it", "is fine I guess", "made my whole week", "was cancelled again",
    "is scheduled for Thursday at 3pm", "was surprisingly good", "could be better", "is the worst",
    "works as described", "was loud and crowded", "is on the second floor", "broke after one day",
    "was worth every penny", "has a new menu since Monday", "left me speechless", "is really slow today",
]
ADDITIONS = [
    "Would recommend to anyone.", "Never again.", "Thanks for the quick help!", "Not sure how I feel about it.",
    "The staff were friendly and the prices were fair.", "I waited on hold for forty minutes.",
    "The tickets cost 45 dollars each.", "Can't wait to come back next year.", "Please fix this soon.",
    "It opens at 9am on weekdays and closes at 6pm.", "Honestly I expected a lot more for the price.",
    "My friends loved it too.", "The package was left at the front door.", "Five stars from me.",
    "I have already asked for a refund twice.", "The second half was much better than the first.",
]
DECORATIONS = ["", "", "", " 😍", " 😡", " 🎉", " 🙄", " #mondays", " #travel", " @support", " lol", "!!", " ..."]


def sentence(rng: random.Random) -> str:
    text = f"{rng.choice(SUBJECTS)} {rng.choice(OPINIONS)}".capitalize()
    return text + rng.choice([".", "!", "?", "..."])


def text(rng: random.Random) -> str:
    parts = [sentence(rng)] + [rng.choice(ADDITIONS) for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 4]))]
    rng.shuffle(parts)
    return " ".join(parts) + rng.choice(DECORATIONS)


FRAGMENTS = ["ok", "Never again.", "meh", "Love it!", "so slow", "Thanks!", "nope", "Five stars.", "why?", "great job"]


def varied_text(rng: random.Random) -> str:
    """A fragment of a few words, or 1 to about 40 sentences (log-uniform): up to a few hundred tokens."""
    if rng.random() < 0.1:
        return rng.choice(FRAGMENTS) + rng.choice(DECORATIONS)
    sentences = round(math.exp(rng.uniform(0, math.log(40))))
    parts = [sentence(rng) if rng.random() < 0.5 else rng.choice(ADDITIONS) for _ in range(sentences)]
    return " ".join(parts) + rng.choice(DECORATIONS)


CORPORA = {"tweets": text, "varied": varied_text}


def generate(count: int, seed: int = 0, corpus: str = "tweets") -> list[str]:
    """`count` distinct texts of a corpus, the same for the same seed."""
    make, rng, texts, seen = CORPORA[corpus], random.Random(seed), [], set()
    while len(texts) < count:
        candidate = make(rng)
        if candidate not in seen:
            seen.add(candidate)
            texts.append(candidate)
    return texts
