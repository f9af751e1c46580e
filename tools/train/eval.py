#!/usr/bin/python3
"""Evaluate the demo pair on held-out text.

usage: eval.py --data DIR [--slm STEM] [--llm STEM] [--passage FILE]
               [--json OUT]

Reads DIR/STEM.pt for each model (defaults: slm, llm) and prints, over the
held-out token stream (DIR/heldout.txt, paragraphs as <s> tokens </s>, in
windows of 256 tokens as train.py scores it):
  - NLL (nats/token) and perplexity of each model;
  - top-1 agreement: how often both models' most likely next token agree;
  - expected speculative acceptance: with greedy drafting and verification
    a drafted token is kept when the top-1s agree (rate a = agreement);
    with sampling at temperature T it is kept with probability
    sum_x min(p_slm(x), p_llm(x)) (Leviathan et al.), averaged over
    positions; and the expected tokens per LLM pass for a draft of k
    tokens, (1 - a^(k+1)) / (1 - a).
With --passage FILE it also prints each model's NLL of that text tokenized
as `duet score -f FILE -c 256` tokenizes and scores it (BOS, then windows
of 256 tokens, every prediction inside a window counted), which is the
value the golden test compares the engine with.
"""
import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

import data
import model
import spm

SEQ = 256


def load(data_dir, stem):
    ck = torch.load(os.path.join(data_dir, stem + ".pt"))
    net = model.build(ck["name"], ck["state"]["tok.weight"].shape[0])
    net.load_state_dict(ck["state"])
    net.eval()
    return net, ck


@torch.no_grad()
def windows_logprobs(net, toks, seq):
    """Yields (log-probs [n, vocab], targets [n]) per window of seq+1 tokens
    (stream mode: windows overlap by one token, like train.py)."""
    for w in range((len(toks) - 1) // seq):
        x = torch.from_numpy(toks[w * seq:(w + 1) * seq][None])
        y = torch.from_numpy(toks[w * seq + 1:(w + 1) * seq + 1])
        yield F.log_softmax(net(x)[0].double(), -1), y


@torch.no_grad()
def passage_nll(net, toks, seq):
    """Mean NLL as duet score -c seq computes it: disjoint windows of seq
    tokens, each predicting its own tokens 1..len-1."""
    total, n = 0.0, 0
    for off in range(0, len(toks), seq):
        win = toks[off:off + seq]
        if len(win) < 2:
            break
        lp = F.log_softmax(net(torch.from_numpy(win[None]))[0].double(), -1)
        y = torch.from_numpy(win[1:])
        total -= lp[:-1].gather(1, y[:, None]).sum().item()
        n += len(win) - 1
    return total / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--slm", default="slm")
    ap.add_argument("--llm", default="llm")
    ap.add_argument("--passage")
    ap.add_argument("--temps", default="0.7,1.0")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    pieces, scores, _ = data.load_vocab(os.path.join(args.data, "vocab.json"))
    held = data.stream(os.path.join(args.data, "heldout.txt"), pieces, scores)
    slm, ck_s = load(args.data, args.slm)
    llm, ck_l = load(args.data, args.llm)
    temps = [float(t) for t in args.temps.split(",")]
    nll = {"slm": 0.0, "llm": 0.0}
    agree, n = 0, 0
    accept = {t: 0.0 for t in temps}
    for (ls, y), (ll, _) in zip(windows_logprobs(slm, held, SEQ),
                                windows_logprobs(llm, held, SEQ)):
        nll["slm"] -= ls.gather(1, y[:, None]).sum().item()
        nll["llm"] -= ll.gather(1, y[:, None]).sum().item()
        agree += (ls.argmax(-1) == ll.argmax(-1)).sum().item()
        for t in temps:
            ps = F.softmax(ls / t, -1)
            pl = F.softmax(ll / t, -1)
            accept[t] += torch.minimum(ps, pl).sum(-1).sum().item()
        n += len(y)
    out = {"heldout_tokens": n}
    for name, ck in (("slm", ck_s), ("llm", ck_l)):
        m = nll[name] / n
        out[name] = {"steps": ck["steps"], "seed": ck["seed"],
                     "device": ck.get("device", "cpu"),
                     "heldout_nll": round(m, 4), "heldout_ppl": round(math.exp(m), 3)}
    a = agree / n
    out["top1_agreement"] = round(a, 4)
    out["acceptance"] = {"greedy": round(a, 4)}
    for t in temps:
        out["acceptance"]["T=%g" % t] = round(accept[t] / n, 4)
    out["tokens_per_llm_pass_greedy"] = {
        "k=%d" % k: round((1 - a ** (k + 1)) / (1 - a), 3) for k in (2, 4, 6)}
    out["ppl_reduction_llm_vs_slm"] = round(
        1 - out["llm"]["heldout_ppl"] / out["slm"]["heldout_ppl"], 4)
    if args.passage:
        with open(args.passage, encoding="utf-8") as f:
            text = f.read()
        enc = spm.Encoder(pieces, scores)
        toks = np.array([data.BOS] + enc.encode(text), dtype=np.int64)
        out["passage"] = {"file": os.path.basename(args.passage), "tokens": len(toks),
                          "ctx": SEQ,
                          "slm_nll": round(passage_nll(slm, toks, SEQ), 5),
                          "llm_nll": round(passage_nll(llm, toks, SEQ), 5)}
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
