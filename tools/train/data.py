"""Token streams for training and evaluation: each paragraph becomes
<s> + its tokens + </s>, as llama.cpp would tokenize it as a prompt (BOS
added, a leading space) and as generation ends it (EOS)."""
import json

import numpy as np

import spm

BOS, EOS = 1, 2


def load_vocab(path):
    with open(path) as f:
        v = json.load(f)
    return v["pieces"], v["scores"], v["types"]


def stream(text_path, pieces, scores):
    enc = spm.Encoder(pieces, scores)
    out = []
    with open(text_path, encoding="utf-8") as f:
        for para in f.read().split("\n"):
            if para:
                out += [BOS] + enc.encode(para) + [EOS]
    return np.array(out, dtype=np.int64)
