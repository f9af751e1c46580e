"""SentencePiece-style BPE vocabulary: training, and encoding the way
llama.cpp's SPM tokenizer does it (so training data matches inference).

Vocabulary layout (1,024 tokens by default):
  0 <unk>, 1 <s>, 2 </s>            (unknown, control, control)
  3..258  <0x00>..<0xFF>            byte fallback
  then the base characters, then one piece per merge in merge order.
Scores: a merge's piece scores -rank (earlier merges win); other tokens 0.

Encoding (llama.cpp, llm_tokenizer_spm): spaces become U+2581 and one is
prefixed to the text; the text is split into characters; repeatedly the
adjacent pair whose concatenation is a vocabulary piece with the highest
score (leftmost on ties) is merged; characters that are no piece become
their UTF-8 bytes' <0xNN> tokens. Pieces never contain U+2581 after their
first character, so words (U+2581 + the characters up to the next one)
encode independently, which makes a word cache exact.
"""
import collections
import heapq

SPACE = "\u2581"
N_SPECIAL = 3
N_BYTES = 256


def words_of(text):
    """The text as llama.cpp sees it, cut before every U+2581."""
    s = SPACE + text.replace(" ", SPACE)
    out, start = [], 0
    for i in range(1, len(s)):
        if s[i] == SPACE:
            out.append(s[start:i])
            start = i
    out.append(s[start:])
    return out


def train(text, vocab_size=1024, min_char_count=20, log=None):
    """Returns (pieces, scores, types) for a vocabulary of vocab_size."""
    counts = collections.Counter(words_of(text))
    chars = collections.Counter()
    for w, c in counts.items():
        for ch in w:
            chars[ch] += c
    base = [ch for ch, c in chars.most_common() if c >= min_char_count and ch != "\n"]
    n_merges = vocab_size - N_SPECIAL - N_BYTES - len(base)
    if n_merges <= 0:
        raise ValueError("vocabulary too small for %d base characters" % len(base))
    known = set(base)
    # words as lists of symbols; unknown characters stay single symbols that
    # never merge (they fall back to bytes when encoding)
    words = [[list(w), c] for w, c in counts.items()]
    merges = []
    pair_counts = collections.Counter()
    for syms, c in words:
        for a, b in zip(syms, syms[1:]):
            if a in known and b in known:
                pair_counts[a, b] += c
    for r in range(n_merges):
        if not pair_counts:
            break
        (a, b), best = max(pair_counts.items(), key=lambda kv: (kv[1], kv[0]))
        merged = a + b
        merges.append(merged)
        known.add(merged)
        for entry in words:
            syms, c = entry
            if len(syms) < 2:
                continue
            i, changed = 0, False
            new = []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    new.append(merged)
                    i += 2
                    changed = True
                else:
                    new.append(syms[i])
                    i += 1
            if changed:
                for x, y in zip(syms, syms[1:]):
                    if x in known and y in known:
                        pair_counts[x, y] -= c
                for x, y in zip(new, new[1:]):
                    if x in known and y in known:
                        pair_counts[x, y] += c
                entry[0] = new
        pair_counts = +pair_counts  # drop zero counts
        if log and r % 100 == 0:
            log("merge %d: %r (%d)" % (r, merged, best))
    pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + base + merges
    scores = [0.0] * (N_SPECIAL + N_BYTES + len(base)) + [-float(i) for i in range(len(merges))]
    types = [2, 3, 3] + [6] * 256 + [1] * (len(base) + len(merges))
    return pieces, scores, types


class Encoder:
    def __init__(self, pieces, scores):
        self.id = {p: i for i, p in enumerate(pieces) if i >= N_SPECIAL + N_BYTES}
        self.score = scores
        self.cache = {}

    def _word(self, w):
        syms = list(w)
        heap = []

        def push(i, j):
            t = self.id.get(syms[i] + syms[j])
            if t is not None:
                heapq.heappush(heap, (-self.score[t], i, j, syms[i], syms[j]))

        nxt = list(range(1, len(syms) + 1))
        prv = list(range(-1, len(syms) - 1))
        alive = [True] * len(syms)
        for i in range(len(syms) - 1):
            push(i, i + 1)
        while heap:
            _, i, j, si, sj = heapq.heappop(heap)
            if not alive[i] or not alive[j] or nxt[i] != j or syms[i] != si or syms[j] != sj:
                continue
            syms[i] = si + sj
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] < len(syms):
                prv[nxt[j]] = i
            if prv[i] >= 0:
                push(prv[i], i)
            if nxt[i] < len(syms):
                push(i, nxt[i])
        out = []
        for i, s in enumerate(syms):
            if not alive[i]:
                continue
            t = self.id.get(s)
            if t is not None:
                out.append(t)
            else:
                out += [N_SPECIAL + b for b in s.encode("utf-8")]
        return out

    def encode(self, text):
        out = []
        for w in words_of(text):
            ids = self.cache.get(w)
            if ids is None:
                ids = self.cache[w] = self._word(w)
            out += ids
        return out

    def decode(self, ids, pieces):
        raw = bytearray()
        for t in ids:
            if N_SPECIAL <= t < N_SPECIAL + N_BYTES:
                raw.append(t - N_SPECIAL)
            elif t >= N_SPECIAL + N_BYTES:
                raw += pieces[t].replace(SPACE, " ").encode("utf-8")
        s = raw.decode("utf-8", "replace")
        return s[1:] if s.startswith(" ") else s
