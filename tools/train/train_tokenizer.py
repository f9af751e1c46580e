#!/usr/bin/python3
"""Train the 1,024-token SentencePiece-style BPE vocabulary on DIR/train.txt
and write DIR/vocab.json (pieces, scores, token types).

usage: train_tokenizer.py --data DIR [--size 1024]"""
import argparse
import json
import os
import sys

import spm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    with open(os.path.join(args.data, "train.txt"), encoding="utf-8") as f:
        text = f.read()
    pieces, scores, types = spm.train(text, args.size)
    n_merges = sum(1 for s in scores if s < 0) + 1
    print("vocabulary: %d tokens, %d base characters, %d merges"
          % (len(pieces), len(pieces) - 259 - n_merges, n_merges), file=sys.stderr)
    with open(os.path.join(args.data, "vocab.json"), "w") as f:
        json.dump({"pieces": pieces, "scores": scores, "types": types}, f)


if __name__ == "__main__":
    main()
