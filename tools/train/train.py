#!/usr/bin/python3
"""Train one model of the demo pair on the Austen corpus.

usage: train.py slm|llm --data DIR [--steps N] [--seed S] [--threads T]
                        [--device cpu|cuda] [--out STEM]

DIR holds train.txt, heldout.txt (extract_corpus.py) and vocab.json
(train_tokenizer.py). Writes DIR/STEM.pt (weights) and DIR/STEM.log; STEM
is the model's name unless --out says otherwise. --device cuda runs the
same steps on a GPU (same batches, same seed; the float results differ in
the last bits, so the weights are close but not identical to a CPU run).
The run is a fixed number of steps from a fixed seed, so it reproduces;
nothing depends on wall-clock time.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import data
import model

DEFAULTS = {  # steps, peak learning rate (batches of BATCH x SEQ tokens)
    "slm": (800, 3e-3),
    "llm": (1500, 1.5e-3),
}
SEQ, BATCH, WARMUP = 256, 16, 100


def lr_at(step, steps, peak):
    if step < WARMUP:
        return peak * (step + 1) / WARMUP
    t = (step - WARMUP) / max(1, steps - WARMUP)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * t)))


@torch.no_grad()
def heldout_nll(net, toks, windows=64):
    """Mean NLL (nats/token) over non-overlapping SEQ-token windows."""
    net.eval()
    total, n = 0.0, 0
    for w in range(min(windows, (len(toks) - 1) // SEQ)):
        dev = next(net.parameters()).device
        x = torch.from_numpy(toks[w * SEQ:(w + 1) * SEQ][None]).to(dev)
        y = torch.from_numpy(toks[w * SEQ + 1:(w + 1) * SEQ + 1][None]).to(dev)
        logits = net(x)
        total += F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1),
                                 reduction="sum").item()
        n += y.numel()
    net.train()
    return total / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", choices=sorted(model.CONFIGS))
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)  # serial BLAS: 2 gain ~5%
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out")
    args = ap.parse_args()
    steps, peak = DEFAULTS[args.name]
    steps = args.steps or steps
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    pieces, scores, _ = data.load_vocab(os.path.join(args.data, "vocab.json"))
    train = data.stream(os.path.join(args.data, "train.txt"), pieces, scores)
    held = data.stream(os.path.join(args.data, "heldout.txt"), pieces, scores)
    dev = torch.device(args.device)
    stem = args.out or args.name
    net = model.build(args.name, len(pieces)).to(dev)
    n_params = sum(p.numel() for p in net.parameters())
    decay = [p for p in net.parameters() if p.dim() == 2]
    other = [p for p in net.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}],
                            lr=peak, betas=(0.9, 0.95))
    log = open(os.path.join(args.data, stem + ".log"), "w")

    def say(msg):
        print(msg, file=sys.stderr, flush=True)
        print(msg, file=log, flush=True)

    say("%s: %d parameters, %d train tokens, %d held-out tokens, %d steps on %s"
        % (args.name, n_params, len(train), len(held), steps, args.device))
    t0 = time.time()
    for step in range(steps):
        starts = rng.integers(0, len(train) - SEQ - 1, BATCH)
        x = torch.from_numpy(np.stack([train[s:s + SEQ] for s in starts])).to(dev)
        y = torch.from_numpy(np.stack([train[s + 1:s + SEQ + 1] for s in starts])).to(dev)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, peak)
        logits = net(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            msg = "step %5d loss %.4f lr %.2e %.0fs" % (step, loss.item(), lr_at(step, steps, peak),
                                                     time.time() - t0)
            if step % 200 == 0 or step == steps - 1:
                msg += " held-out %.4f" % heldout_nll(net, held)
            say(msg)
    torch.save({"name": args.name, "config": model.CONFIGS[args.name], "steps": steps,
                "seed": args.seed, "device": args.device,
                "state": {k: v.cpu() for k, v in net.state_dict().items()}},
               os.path.join(args.data, stem + ".pt"))
    say("done: held-out %.4f nats/token after %d steps, %.0f s"
        % (heldout_nll(net, held, windows=10**9), steps, time.time() - t0))


if __name__ == "__main__":
    main()
