"""String values for ``planexe.llm.synth``: readable text built from the prompt.

``Strings(context, rng)`` pulls salient phrases out of the prompt (the project idea
comes first, so earlier phrases rank higher; stopwords, JSON keys and code fences are
skipped) and fills templates whose shape follows the property name: names and titles
become title-case phrases, descriptions and rationales one or two sentences, ids slugs,
owners and roles job titles. It is a template filler, not a language model.

Length bounds are met exactly: text is cut at a word boundary, or padded with context
words. ``pattern`` is served by a small generator (see ``_parse_pattern`` for what it
understands); readable text is tried first and kept when it already matches.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
import unicodedata
import uuid
from typing import Any

_HEAD_CHARS = 3000  # of the prompt scanned for phrases; later text is earlier steps' output
_PRINTABLE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_."


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP = _wordset(
    """a an the and or but if then else of to in on at by for with from into onto over under about as
    is are was were be been being have has had do does did will would shall should can could may might
    must it its this that these those there here their they them we our us you your me my he she his her
    which who whom whose what when where why how all any each every some such no not only own same so than
    too very just also more most other out up down off again once both few nor per via etc new one two
    json schema object reply matches match following properties property type string array required
    title description items step steps output outputs response answer field fields value values format
    example plan project please open build create make want need help get set run use provide ensure
    include write describe generate give list return based using sure like within without between
    sell sells needs requires require offer offers serve serves aim aims wants plans hire hires become"""
)
# The word after one of these is a verb ("will sell", "to open"), not part of a noun phrase.
_MODALS = _wordset("will would shall should can could may might must to cannot")
_FALLBACK = ["project scope", "budget", "delivery team", "first milestone", "supplier contract",
             "launch date", "risk register", "stakeholder review", "main site", "permit application"]  # fmt: skip
_VERBS = ["Secure", "Review", "Confirm", "Finalize", "Document", "Prepare", "Negotiate", "Schedule",
          "Test", "Coordinate", "Map out", "Price"]  # fmt: skip
_SENTENCES = [
    "{V} the {a} before work on the {b} begins.",
    "The {a} depends on a clear decision about the {b}.",
    "Delays in the {a} would push back the {b}, so it needs an owner and a date.",
    "{V} the {a} with the people responsible for the {b}.",
    "A realistic budget for the {a} includes a reserve for the {b}.",
    "Early feedback on the {a} lowers the risk around the {b}.",
    "Check the {a} against local rules before the {b} is final.",
    "Progress on the {a} is reviewed every week alongside the {b}.",
]
_FOLLOW = [
    "This keeps the {t} tied to the {c}.",
    "Revisit it once the {c} is confirmed.",
    "It matters most in the first months of the {c}.",
    "The outcome is recorded so later steps can build on the {c}.",
]
_TITLE_FORMS = ["{a} {s}", "{a} and {b}", "{s} for the {a}"]
_TITLE_SUFFIXES = ["Plan", "Strategy", "Review", "Setup", "Launch", "Assessment", "Roadmap", "Pilot"]
_ROLE_SUFFIXES = ["Coordinator", "Lead", "Manager", "Specialist", "Advisor"]
_ROLES = ["Project Manager", "Finance Officer", "Legal Advisor", "Operations Lead", "Procurement Specialist"]
_SHORT_NAMES = """status category kind type level priority severity phase area domain tag keyword unit
    currency location region country city place"""
_PROSE_NAMES = """description summary rationale explanation reason reasoning justification detail note comment
    assessment analysis context background overview impact mitigation approach strategy recommendation
    consequence outcome objective goal purpose scope text message content evidence insight feedback narrative"""
# Shape of a string, from the last word of its property name.
_KINDS: list[tuple[str, frozenset[str]]] = [
    ("slug", _wordset("id uuid slug key code identifier ref")),
    ("title", _wordset("name title label heading headline caption topic subject")),
    ("role", _wordset("owner role person assignee responsible stakeholder lead team actor manager expert")),
    ("short", _wordset(_SHORT_NAMES)),
    ("prose", _wordset(_PROSE_NAMES)),
]
_SMALL = _wordset("a an and the for of to in on at by with or")


def singular(name: str) -> str:
    """Rough English singular of a property name: ``risks`` -> ``risk``."""
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith(("sses", "ches", "shes", "xes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith(("ss", "us", "is")) and len(name) > 3:
        return name[:-1]
    return name


def fit(text: str, low: int, high: int | None, filler: list[str]) -> str:
    """``text`` cut at a word boundary or padded so that ``low <= len <= high``."""
    if high is not None and len(text) > high:
        cut = text[: high + 1].rsplit(" ", 1)[0] if " " in text[: high + 1] else text[:high]
        words = cut.rstrip(" ,;:-").split(" ")
        while len(words) > 1 and words[-1].lower() in _SMALL:  # not "Bakery Site and"
            words.pop()
        cut = " ".join(words).rstrip(" ,;:-")[:high]
        if text.endswith(".") and cut and len(cut) < high:
            cut += "."
        text = cut or text[:high]
    for i in range(10_000):
        if len(text) >= low:
            break
        word = filler[i % len(filler)]
        text = f"{text} {word}" if text else word
    if high is not None and len(text) > high:
        text = text[:high]
        if text.endswith(" "):
            text = text[:-1] + "."
    return text


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _title_case(text: str) -> str:
    words = text.split()
    return " ".join(
        w if any(c.isupper() for c in w) else w if i and w in _SMALL else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    )


# Letters, optionally joined by an apostrophe or hyphen ("street-level"); no digits.
_CONTENT_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_FENCED = re.compile(r"```.*?(```|$)", re.S)
_JSON_KEY = re.compile(r'"[\w-]+"\s*:')
_SEGMENT_BREAK = re.compile(r"[.,;:!?()\[\]{}\"\n\t]+|\s[-–]\s")


def _is_content_word(word: str) -> bool:
    if len(word) == 2:  # only acronyms such as "EU" or "AI"
        return word.isalpha() and word.isupper()
    return len(word) > 2 and _CONTENT_WORD.fullmatch(word) is not None


@functools.lru_cache(maxsize=256)  # a retried request brings the same prompt again
def _salient(context: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Phrases (at most 3 words, best first) and single words found in ``context``."""
    text = _FENCED.sub(" . ", context[:_HEAD_CHARS])
    text = _JSON_KEY.sub(" . ", text)  # keys of earlier steps' JSON output are not topics
    score: dict[str, float] = {}
    forms: dict[str, list[str]] = {}
    capital: dict[str, bool] = {}
    words: dict[str, int] = {}
    spelled: dict[str, str] = {}
    segments = _SEGMENT_BREAK.split(text)
    total = max(len(segments), 1)

    def flush(run: list[str], at: int) -> None:
        if run:
            run = run[-3:]  # English noun phrases end in their head noun
            key = " ".join(run).lower()
            score[key] = score.get(key, 2.0 * (1 - at / total) + 0.6 * (len(run) - 1)) + 1
            forms.setdefault(key, run)

    for at, segment in enumerate(segments):
        run: list[str] = []
        prev = ""
        for idx, raw in enumerate(segment.split()):
            word = raw.strip("'’&-*#")
            if word.endswith(("'s", "’s")):
                word = word[:-2]
            lower = word.lower()
            if lower not in _STOP and prev not in _MODALS and _is_content_word(word):
                run.append(word)
                words[lower] = words.get(lower, 0) + 1
                spelled.setdefault(lower, word)
                # Sentence-initial capitals say nothing; a capital mid-sentence marks a name.
                if not capital.get(lower):
                    capital[lower] = (idx > 0 and word[0].isupper()) or word.isupper()
            elif run:
                flush(run, at)
                run = []
            prev = lower
        flush(run, at)

    def show(word: str) -> str:
        return word if capital.get(word.lower()) else word.lower()

    ranked = sorted(score, key=lambda k: (-score[k], k))[:16]
    phrases = tuple(" ".join(show(w) for w in forms[k]) for k in ranked)
    singles = tuple(show(spelled[w]) for w in sorted(words, key=lambda k: (-words[k], k))[:24])
    return phrases, singles


class Strings:
    """Makes every string of one ``synthesize`` call, from one prompt and one RNG."""

    def __init__(self, context: str, rng: random.Random) -> None:
        self.rng = rng
        found, singles = _salient(context)
        self.phrases = [*found, *[p for p in _FALLBACK if p not in found][: max(0, 4 - len(found))]]
        self.words = list(singles) or [w for p in _FALLBACK for w in p.split()]

    def phrase(self, avoid: str = "") -> str:
        options = [p for p in self.phrases if p != avoid] or self.phrases
        return self.rng.choices(options, weights=[1 / (i + 2) for i in range(len(options))])[0]

    def slug(self) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", _ascii(self.phrase()).lower()).strip("-") or "item"
        return f"{base}-{self.rng.randint(1, 99)}"

    def key(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", _ascii(self.phrase()).lower()).strip("_") or "item"

    def string(self, schema: dict[str, Any], name: str) -> str:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if schema.get("pattern"):
            return self._patterned(schema["pattern"], name, low, high)
        make = _FORMATS.get(schema.get("format", ""))
        if make is not None:
            text = make(self.rng, self.slug())
            if low <= len(text) <= (high if high is not None else len(text)):
                return text
        return fit(self.for_field(name, high), low, high, self.words)

    def for_field(self, name: str, high: int | None = None) -> str:
        parts = [
            singular(p)
            for p in re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower().replace("_", " ").split()
        ]
        last = parts[-1] if parts else ""
        kind = next((k for k, names in _KINDS if last in names), "sentence")
        topic = " ".join(parts[:-1] if kind != "sentence" else parts)
        if high is not None and high < 24 and kind != "slug":
            kind = "short"
        a = self.phrase()
        b = self.phrase(avoid=a)
        if kind == "slug":
            return self.slug()
        if kind == "short":
            return a
        if kind == "title":
            form = self.rng.choice(_TITLE_FORMS)
            return _title_case(form.format(a=a, b=b, s=self.rng.choice(_TITLE_SUFFIXES)))
        if kind == "role":
            if self.rng.random() < 0.5:
                return self.rng.choice(_ROLES)
            return _title_case(f"{a.split()[-1]} {self.rng.choice(_ROLE_SUFFIXES)}")
        # A template that already names a phrase reads badly ("a budget for the budget").
        options = [t for t in _SENTENCES if a.lower() not in t.lower() and b.lower() not in t.lower()]
        text = self.rng.choice(options or _SENTENCES).format(V=self.rng.choice(_VERBS), a=a, b=b)
        phrases = [a, b]
        if kind == "prose" and self.rng.random() < 0.7 and (high is None or high > 120):
            phrases.append(self.phrase(avoid=a))
            text += " " + self.rng.choice(_FOLLOW).format(t=topic or "work", c=phrases[-1])
        for phrase in phrases:
            if " " not in phrase and phrase[:1].isupper():  # a bare name takes no article
                text = re.sub(rf"\b[Tt]he {re.escape(phrase)}\b", phrase, text)
        return text[0].upper() + text[1:]

    def _patterned(self, pattern: str, name: str, low: int, high: int | None) -> str:
        try:
            regex: re.Pattern[str] | None = re.compile(pattern)
        except re.error:  # JSON-schema regexes are ECMA-262; Python may not parse every one
            regex = None

        def good(text: str) -> bool:
            in_bounds = low <= len(text) <= (high if high is not None else len(text))
            return in_bounds and (regex is None or regex.search(text) is not None)

        for text in (self.for_field(name, high), self.slug(), self.phrase()):
            if regex is not None and good(text):
                return text
        tree = _parse_pattern(pattern)
        text = ""
        for _ in range(40):
            text = _emit(tree, self.rng)
            if good(text):
                break
        return text


def _date(rng: random.Random) -> str:
    return (dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 1500))).isoformat()


def _clock(rng: random.Random) -> str:
    return f"{rng.randint(7, 18):02d}:{rng.choice((0, 15, 30, 45)):02d}:00Z"


_FORMATS: dict[str, Any] = {
    "date": lambda rng, slug: _date(rng),
    "date-time": lambda rng, slug: f"{_date(rng)}T{_clock(rng)}",
    "time": lambda rng, slug: _clock(rng),
    "duration": lambda rng, slug: f"P{rng.randint(1, 30)}D",
    "email": lambda rng, slug: f"{slug.replace('-', '.')}@example.com",
    "idn-email": lambda rng, slug: f"{slug.replace('-', '.')}@example.com",
    "uri": lambda rng, slug: f"https://example.com/{slug}",
    "iri": lambda rng, slug: f"https://example.com/{slug}",
    "uri-reference": lambda rng, slug: f"/{slug}",
    "hostname": lambda rng, slug: f"{slug}.example.com",
    "ipv4": lambda rng, slug: f"192.0.2.{rng.randint(1, 254)}",
    "ipv6": lambda rng, slug: f"2001:db8::{rng.randint(1, 65535):x}",
    "uuid": lambda rng, slug: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
}

_CLASSES = {"d": "0123456789", "w": _PRINTABLE[:62] + "_", "s": " ", "n": "\n", "t": "\t"}


def _escape(char: str) -> str:
    if char in _CLASSES:
        return _CLASSES[char]
    if char in "DWS":
        return "".join(c for c in _PRINTABLE if c not in _CLASSES[char.lower()])
    return char


def _parse_pattern(pattern: str) -> Any:
    """Parse the simple regex subset into ("alt", [[node]]), ("set", chars), ("rep", node, lo, hi), ("skip",)."""
    pos = 0

    def alternation() -> Any:
        nonlocal pos
        branches: list[list[Any]] = [[]]
        while pos < len(pattern) and pattern[pos] != ")":
            char = pattern[pos]
            pos += 1
            node: Any
            if char == "|":
                branches.append([])
                continue
            if char in "^$":
                continue
            if char == "(":
                lookaround = pattern.startswith(("?=", "?!", "?<=", "?<!"), pos)
                if pattern.startswith("?:", pos):
                    pos += 2
                elif pattern.startswith(("?P<", "?<"), pos) and not lookaround:
                    pos = pattern.index(">", pos) + 1
                node = alternation()
                pos += 1
                node = ("skip",) if lookaround else node
            elif char == "[":
                node = char_class()
            elif char == "\\" and pos < len(pattern):
                pos += 1
                node = ("skip",) if pattern[pos - 1] in "bBAZz" else ("set", _escape(pattern[pos - 1]))
            else:
                node = ("set", _PRINTABLE if char == "." else char)
            branches[-1].append(quantified(node))
        return ("alt", branches)

    def char_class() -> Any:
        nonlocal pos
        negate = pattern.startswith("^", pos)
        pos += negate
        chars, start = "", pos
        while pos < len(pattern) and (pattern[pos] != "]" or pos == start):
            char = pattern[pos]
            if char == "\\" and pos + 1 < len(pattern):
                chars += _escape(pattern[pos + 1])
                pos += 2
            elif pattern[pos + 1 : pos + 2] == "-" and pattern[pos + 2 : pos + 3] not in ("", "]"):
                chars += "".join(chr(c) for c in range(ord(char), ord(pattern[pos + 2]) + 1))
                pos += 3
            else:
                chars += char
                pos += 1
        pos += 1
        if negate:
            chars = "".join(c for c in _PRINTABLE if c not in chars)
        return ("set", chars or "x")

    def quantified(node: Any) -> Any:
        nonlocal pos
        found = re.match(r"\*|\+|\?|\{(\d+)(,(\d*))?\}", pattern[pos:])
        if not found:
            return node
        pos += found.end()
        if pattern[pos : pos + 1] in ("?", "+"):  # lazy or possessive: the same strings match
            pos += 1
        token = found.group(0)
        if token in ("*", "+", "?"):
            return ("rep", node, 1 if token == "+" else 0, 1 if token == "?" else 4)
        low = int(found.group(1))
        high = low if found.group(2) is None else int(found.group(3)) if found.group(3) else low + 4
        return ("rep", node, low, high)

    return alternation()


def _emit(node: Any, rng: random.Random) -> str:
    if node[0] == "set":
        return rng.choice(node[1])
    if node[0] == "rep":
        return "".join(_emit(node[1], rng) for _ in range(rng.randint(node[2], node[3])))
    if node[0] == "alt":
        return "".join(_emit(child, rng) for child in rng.choice(node[1]))
    return ""
