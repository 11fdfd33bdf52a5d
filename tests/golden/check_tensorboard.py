#!/usr/bin/env python3
"""Reads loom's TensorBoard event files with TensorBoard's own reader and prints the scalars.

    PYTHON tests/golden/check_tensorboard.py RUN_DIR_OR_EVENT_FILE [--expect-jsonl metrics.jsonl]

Run by hand with a Python that has the `tensorboard` package. EventAccumulator parses the
TFRecord framing (checking both masked CRC32Cs) and the tensorflow.Event messages; every scalar
is printed as `tag step value`. With --expect-jsonl the scalars must equal the numeric members
of that metrics.jsonl (as float32) record by record; exits 1 on any difference.
"""
import argparse
import json
import math
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator


def as_float32(value):
    return struct.unpack("<f", struct.pack("<f", value))[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path", help="a run directory or one events.out.tfevents.* file")
    parser.add_argument("--expect-jsonl", help="metrics.jsonl whose numeric values the scalars must equal")
    args = parser.parse_args()

    accumulator = event_accumulator.EventAccumulator(args.path, size_guidance={event_accumulator.SCALARS: 0})
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    got = {}
    for tag in sorted(tags):
        for event in accumulator.Scalars(tag):
            print(f"{tag} {event.step} {event.value!r}")
            got[(tag, event.step)] = event.value
    print(f"{len(tags)} tags, {len(got)} scalars")

    if args.expect_jsonl:
        expected = {}
        with open(args.expect_jsonl) as f:
            for line in f:
                record = json.loads(line)
                if "step" not in record:
                    continue
                for key, value in record.items():
                    if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                        expected[(key, record["step"])] = as_float32(float(value))
        problems = [f"{k}: expected {v!r}, got {got.get(k)!r}" for k, v in expected.items()
                    if k not in got or not math.isclose(got[k], v, rel_tol=0, abs_tol=0)]
        problems += [f"{k}: not in {args.expect_jsonl}" for k in got if k not in expected]
        for problem in problems:
            print("MISMATCH", problem)
        if problems:
            sys.exit(1)
        print(f"all {len(expected)} values of {args.expect_jsonl} match")


if __name__ == "__main__":
    main()
