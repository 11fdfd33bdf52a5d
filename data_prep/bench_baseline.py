#!/usr/bin/env python3
"""The Python baseline for `loom-prep bench`: the same packed sft shard (template hh, TRL
ConstantLengthDataset packing) with sentencepiece and h5py from PyPI, one process.

    python3 data_prep/bench_baseline.py --input corpus.jsonl --tokenizer tokenizer.model \
        --seq-len 1024 --out /tmp/baseline.h5

Developer-run; CI does not need Python. Records are shuffled with a Python RNG, not loom's
generator, so the blocks differ from loom-prep's in order but not in number.
"""
import argparse
import gzip
import json
import random
import time

import h5py
import numpy as np
import sentencepiece as spm


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    start = time.time()
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    opener = gzip.open if args.input.endswith(".gz") else open
    with opener(args.input, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["chosen"] for line in f if line.strip()]
    random.Random(args.seed).shuffle(texts)

    stream = []
    eos = sp.eos_id()
    for text in texts:
        if not text.strip():
            continue
        stream.extend([sp.bos_id()] + sp.encode(text))
        stream.append(eos)
    blocks = len(stream) // args.seq_len
    tokens = np.asarray(stream[: blocks * args.seq_len], dtype=np.int32).reshape(blocks, args.seq_len)
    with h5py.File(args.out, "w") as out:
        chunk_rows = max(1, (512 * 1024) // (4 * args.seq_len))
        out.create_dataset("tokens", data=tokens, chunks=(min(chunk_rows, max(blocks, 1)), args.seq_len),
                           maxshape=(None, args.seq_len))
        out.attrs["kind"] = "sft"
        out.attrs["seq_len"] = args.seq_len
    seconds = time.time() - start
    print(f"python baseline: {blocks} blocks, {blocks * args.seq_len} tokens in {seconds:.2f} s")


if __name__ == "__main__":
    main()
