#!/usr/bin/env python3
"""Trains the tiny SentencePiece model the tokenizer tests use and records SentencePiece's own ids.

Run from this folder (sentencepiece 0.2.x, `pip install sentencepiece`):

    python3 make_spm.py

Writes `tiny_t5.model` (+ `tiny_t5.vocab`, for reading) trained on `corpus.txt` with T5's settings
(unigram, pad 0, eos 1, unk 2, no bos, nmt_nfkc normalisation, dummy prefix, extra whitespace removed),
and `cases.json`: for each test string, the ids `SentencePieceProcessor.encode` returns (without the
EOS that T5 appends). The Rust tests check that our tokenizer gives the same ids.
"""

import json
import random

import sentencepiece as spm

spm.SentencePieceTrainer.train(
    input="corpus.txt",
    model_prefix="tiny_t5",
    model_type="unigram",
    vocab_size=300,
    character_coverage=1.0,
    pad_id=0,
    eos_id=1,
    unk_id=2,
    bos_id=-1,
    pad_piece="<pad>",
    eos_piece="</s>",
    unk_piece="<unk>",
    normalization_rule_name="nmt_nfkc",
    num_threads=1,
    seed_sentencepiece_size=100000,
    minloglevel=2,
)

CASES = [
    "A red car drives slowly along a wet city street at night.",
    "The robot picks up the blue cube.",
    "hello world",
    "  leading and trailing spaces   ",
    "many     spaces\tand\ttabs\nand newlines",
    "Punctuation: commas, semicolons; dots... and (brackets)!",
    "Numbers 1234567890 and 3.14159, 4K at 30 fps",
    "UPPER CASE AND MiXeD cAsE",
    "Full-width ＡＢＣ １２３ and the ligature ﬁsh",
    "Accents: café, naïve, résumé",
    "Unknown characters: 東京 and emoji 🚗",
    "x",
    "unseenwordsqzxj",
    "A  robot\u00a0arm (no-break space) and a soft\u00adhyphen",
    "Ⅻ ㎏ ½ ⁵",
    "The sun sets behind the skyline, turning the clouds orange, pink and purple.",
    # NFKC compositions and compatibility forms: combining accent, Angstrom sign, circled
    # digit, ellipsis, trademark, ideographic space, zero-width space, CRLF.
    "cafe\u0301 \u212b \u2460 wait\u2026 brand\u2122 a\u3000b zero\u200bwidth line\r\nbreak",
    "\u01c4 \ufb00 \u00bd \u2075 \u33a1 \uff76\uff9e",
    "\ud55c\uad6d\uc5b4 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
]

# Every corpus line, and pseudo-random strings over letters, digits, punctuation, whitespace
# and a few non-ASCII characters (fixed seed), so that segmentation is exercised broadly.
with open("corpus.txt", encoding="utf-8") as f:
    CASES += [line.rstrip("\n") for line in f if line.strip()]
rng = random.Random(1234)
ALPHABET = "abcdefghijklmnopqrstuvwxyz" * 3 + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + " " * 12 + ".,;:!?'\"()-" + "\t\n" + "\u00e9\u00fc\u00df\u00c5\uff21\u2014\u00a0\u6771"
for _ in range(100):
    CASES.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 80))))

sp = spm.SentencePieceProcessor(model_file="tiny_t5.model")
cases = [
    {"text": text, "ids": sp.encode(text), "pieces": sp.encode(text, out_type=str)}
    for text in CASES
]
# One case per line, so that a diff shows which strings changed.
with open("cases.json", "w", encoding="utf-8") as f:
    f.write('{"sentencepiece_version": %s, "vocab_size": %d, "cases": [\n' % (
        json.dumps(spm.__version__), sp.get_piece_size()))
    f.write(",\n".join(json.dumps(case, ensure_ascii=False) for case in cases))
    f.write("\n]}\n")
print(f"{len(cases)} cases written to cases.json")
