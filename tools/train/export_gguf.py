#!/usr/bin/python3
"""Export a trained checkpoint to GGUF (llama architecture, the vocabulary
as a SentencePiece-style tokenizer) in F16 or Q8_0.

usage: export_gguf.py --data DIR NAME [--stem STEM] --type f16|q8_0 -o OUT.gguf

Reads DIR/STEM.pt (STEM defaults to NAME, as train.py --out).

Matrices are stored as F16 or Q8_0 (blocks of 32: an f16 scale
max|x|/127 and 32 int8 values rounded half away from zero, llama.cpp's
layout); norm weights stay F32 as llama.cpp writes them. Embeddings are
tied (no output.weight). The writer is deterministic: same checkpoint, same
bytes."""
import argparse
import os
import struct

import numpy as np
import torch

import data
import model

GGUF_ALIGN = 32
T_F32, T_F16, T_Q8_0 = 0, 1, 8
V_U32, V_F32, V_BOOL, V_STR, V_ARR, V_I32 = 4, 6, 7, 8, 9, 5


def q8_0(x):
    """x: [rows, cols] float32, cols % 32 == 0 -> bytes in Q8_0 layout."""
    rows, cols = x.shape
    b = x.reshape(rows, cols // 32, 32).astype(np.float32)
    amax = np.abs(b).max(axis=2, keepdims=True)
    d = amax / 127.0
    inv = np.where(d == 0, 0.0, 1.0 / np.where(d == 0, 1.0, d))
    v = b * inv
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)  # roundf
    out = np.empty((rows, cols // 32, 34), dtype=np.uint8)
    out[:, :, 0:2] = d.astype(np.float16).view(np.uint8).reshape(rows, cols // 32, 2)
    out[:, :, 2:] = q.view(np.uint8)
    return out.tobytes()


class Writer:
    def __init__(self):
        self.kv = []
        self.tensors = []

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    def tensor(self, name, arr, ttype):
        arr = np.ascontiguousarray(arr)
        if ttype == T_F32:
            raw = arr.astype(np.float32).tobytes()
        elif ttype == T_F16:
            raw = arr.astype(np.float16).tobytes()
        else:
            raw = q8_0(arr.reshape(arr.shape[0], -1))
        # GGUF dims are innermost first
        self.tensors.append((name, list(reversed(arr.shape)), ttype, raw))

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def _value(self, vtype, v):
        if vtype == V_U32:
            return struct.pack("<I", v)
        if vtype == V_I32:
            return struct.pack("<i", v)
        if vtype == V_F32:
            return struct.pack("<f", v)
        if vtype == V_BOOL:
            return struct.pack("<?", v)
        if vtype == V_STR:
            return self._str(v)
        etype, items = v
        out = struct.pack("<IQ", etype, len(items))
        if etype == V_STR:
            return out + b"".join(self._str(s) for s in items)
        fmt = {V_F32: "f", V_I32: "i", V_U32: "I"}[etype]
        return out + struct.pack("<%d%s" % (len(items), fmt), *items)

    def write(self, path):
        head = b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, vtype, v in self.kv:
            head += self._str(key) + struct.pack("<I", vtype) + self._value(vtype, v)
        offset = 0
        for name, dims, ttype, raw in self.tensors:
            head += self._str(name) + struct.pack("<I", len(dims))
            head += struct.pack("<%dQ" % len(dims), *dims)
            head += struct.pack("<IQ", ttype, offset)
            offset += (len(raw) + GGUF_ALIGN - 1) // GGUF_ALIGN * GGUF_ALIGN
        with open(path, "wb") as f:
            f.write(head)
            f.write(b"\0" * ((-len(head)) % GGUF_ALIGN))
            for _, _, _, raw in self.tensors:
                f.write(raw)
                f.write(b"\0" * ((-len(raw)) % GGUF_ALIGN))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("name", choices=sorted(model.CONFIGS))
    ap.add_argument("--type", choices=["f16", "q8_0"], default="f16")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--stem")
    args = ap.parse_args()
    ck = torch.load(os.path.join(args.data, (args.stem or args.name) + ".pt"))
    sd = {k: v.numpy() for k, v in ck["state"].items()}
    cfg = ck["config"]
    pieces, scores, types = data.load_vocab(os.path.join(args.data, "vocab.json"))
    mtype = T_F16 if args.type == "f16" else T_Q8_0
    w = Writer()
    w.add("general.architecture", V_STR, "llama")
    w.add("general.name", V_STR, "duet-austen-" + args.name)
    w.add("general.license", V_STR, "MIT")
    w.add("general.file_type", V_U32, 1 if args.type == "f16" else 7)
    w.add("general.quantization_version", V_U32, 2)
    w.add("llama.context_length", V_U32, 512)
    w.add("llama.embedding_length", V_U32, cfg["dim"])
    w.add("llama.block_count", V_U32, cfg["layers"])
    w.add("llama.feed_forward_length", V_U32, cfg["ff"])
    w.add("llama.attention.head_count", V_U32, cfg["heads"])
    w.add("llama.attention.head_count_kv", V_U32, cfg["heads"])
    w.add("llama.rope.dimension_count", V_U32, cfg["dim"] // cfg["heads"])
    w.add("llama.rope.freq_base", V_F32, model.ROPE_BASE)
    w.add("llama.attention.layer_norm_rms_epsilon", V_F32, model.NORM_EPS)
    w.add("llama.vocab_size", V_U32, len(pieces))
    w.add("tokenizer.ggml.model", V_STR, "llama")
    w.add("tokenizer.ggml.pre", V_STR, "default")
    w.add("tokenizer.ggml.tokens", V_ARR, (V_STR, pieces))
    w.add("tokenizer.ggml.scores", V_ARR, (V_F32, scores))
    w.add("tokenizer.ggml.token_type", V_ARR, (V_I32, types))
    w.add("tokenizer.ggml.bos_token_id", V_U32, data.BOS)
    w.add("tokenizer.ggml.eos_token_id", V_U32, data.EOS)
    w.add("tokenizer.ggml.unknown_token_id", V_U32, 0)
    w.add("tokenizer.ggml.add_bos_token", V_BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", V_BOOL, False)
    w.tensor("token_embd.weight", sd["tok.weight"], mtype)
    w.tensor("output_norm.weight", sd["norm.weight"], T_F32)
    names = {"attn_norm": "attn_norm", "wq": "attn_q", "wk": "attn_k", "wv": "attn_v",
             "wo": "attn_output", "ffn_norm": "ffn_norm", "w_gate": "ffn_gate",
             "w_up": "ffn_up", "w_down": "ffn_down"}
    for i in range(cfg["layers"]):
        for ours, theirs in names.items():
            t = sd["blocks.%d.%s.weight" % (i, ours)]
            w.tensor("blk.%d.%s.weight" % (i, theirs), t, T_F32 if t.ndim == 1 else mtype)
    w.write(args.out)


if __name__ == "__main__":
    main()
