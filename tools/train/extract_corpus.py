#!/usr/bin/python3
"""Extract Jane Austen's six novels from Debian's r-cran-janeaustenr package.

The package stores them as R objects (character vectors, one line each) in a
lazy-load database: data/Rdata.rdx is an index (a gzip'd R serialization) of
(offset, length) per object, data/Rdata.rdb holds each
object as a 4-byte big-endian size plus zlib-compressed serialized data. This
script reads that format without R, cleans the text (one paragraph per line,
chapter headings and blank runs dropped, whitespace collapsed) and writes:

  OUT/train.txt     every novel but the held-out part
  OUT/heldout.txt   the last 5% of paragraphs of each novel

usage: extract_corpus.py [--deb FILE.deb] [--out DIR]
(without --deb it runs `apt-get download r-cran-janeaustenr` in a temp dir)
"""
import argparse
import gzip
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

NOVELS = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma",
          "northangerabbey", "persuasion"]


class RReader:
    """Just enough of R's XDR serialization for vectors, lists and pairlists."""

    def __init__(self, data):
        self.d = data
        self.i = 0
        self.refs = []

    def int(self):
        v = struct.unpack_from(">i", self.d, self.i)[0]
        self.i += 4
        return v

    def header(self):
        if self.d[:2] != b"X\n":
            raise ValueError("not an XDR R serialization")
        self.i = 2
        version = self.int()
        self.int()  # writer R version
        self.int()  # minimal reader version
        if version == 3:
            n = self.int()
            self.i += n  # native encoding name

    def item(self):
        flags = self.int()
        t = flags & 0xFF
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))
        if t == 254:  # NILVALUE
            return None
        if t == 255:  # REFSXP
            idx = flags >> 8
            if idx == 0:
                idx = self.int()
            return self.refs[idx - 1]
        if t in (242, 251, 252, 253):  # empty env / unbound / missing / base env
            return None
        if t == 1:  # SYMSXP
            name = self.item()
            self.refs.append(name)
            return name
        if t == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.i:self.i + n]
            self.i += n
            return s.decode("utf-8", "replace")
        if t in (2, 6):  # LISTSXP / LANGSXP: attributes, tag, car, cdr
            attr = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            car = self.item()
            cdr = self.item()
            node = [(tag, car)]
            if isinstance(cdr, list):
                node += cdr
            return node
        if t in (16, 19, 20):  # STRSXP, VECSXP, EXPRSXP
            n = self.int()
            v = [self.item() for _ in range(n)]
        elif t in (10, 13):  # LGLSXP, INTSXP
            n = self.int()
            v = list(struct.unpack_from(">%di" % n, self.d, self.i))
            self.i += 4 * n
        elif t == 14:  # REALSXP
            n = self.int()
            v = list(struct.unpack_from(">%dd" % n, self.d, self.i))
            self.i += 8 * n
        else:
            raise ValueError("unsupported R type %d at %d" % (t, self.i))
        if has_attr:
            attrs = dict(self.item() or [])
            if "names" in attrs and t == 19:
                return dict(zip(attrs["names"], v))
        return v


def unserialize(blob):
    r = RReader(blob)
    r.header()
    return r.item()


def lazyload(rdx_path, rdb_path):
    with open(rdx_path, "rb") as f:  # the index is a gzip'd RDS file
        index = unserialize(gzip.decompress(f.read()))
    with open(rdb_path, "rb") as f:
        db = f.read()
    out = {}
    for name, (offset, length) in index["variables"].items():
        blob = db[int(offset):int(offset) + int(length)]
        out[name] = unserialize(zlib.decompress(blob[4:]))
    return out


HEADING = re.compile(r"^(CHAPTER|Chapter|VOLUME|Volume)\b|^[IVXLC]+\.?$|^THE END$")


def paragraphs(lines):
    """Joins wrapped lines into paragraphs; drops headings and title lines."""
    paras, cur = [], []
    for line in lines:
        line = (line or "").strip()
        if not line:
            if cur:
                paras.append(" ".join(cur))
                cur = []
            continue
        if HEADING.match(line):
            continue
        cur.append(line)
    if cur:
        paras.append(" ".join(cur))
    clean = []
    for p in paras:
        p = re.sub(r"\s+", " ", p).replace("_", "")
        if len(p) >= 20:  # drops titles, "by Jane Austen" and stray lines
            clean.append(p)
    return clean


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deb")
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        deb = args.deb
        if not deb:
            subprocess.run(["apt-get", "download", "r-cran-janeaustenr"], cwd=tmp,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deb = os.path.join(tmp, [f for f in os.listdir(tmp) if f.endswith(".deb")][0])
        subprocess.run(["dpkg", "-x", deb, os.path.join(tmp, "x")], check=True)
        data = os.path.join(tmp, "x/usr/lib/R/site-library/janeaustenr/data")
        objs = lazyload(os.path.join(data, "Rdata.rdx"), os.path.join(data, "Rdata.rdb"))
    os.makedirs(args.out, exist_ok=True)
    train, held = [], []
    for name in NOVELS:
        paras = paragraphs(objs[name])
        cut = int(len(paras) * 0.95)
        train += paras[:cut]
        held += paras[cut:]
        print("%-18s %6d paragraphs %9d chars" % (name, len(paras), sum(map(len, paras))),
              file=sys.stderr)
    for fname, paras in (("train.txt", train), ("heldout.txt", held)):
        with open(os.path.join(args.out, fname), "w", encoding="utf-8") as f:
            f.write("\n".join(paras) + "\n")
    print("train %d chars, held-out %d chars" % (sum(map(len, train)), sum(map(len, held))),
          file=sys.stderr)


if __name__ == "__main__":
    main()
