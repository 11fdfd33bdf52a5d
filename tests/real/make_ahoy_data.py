#!/usr/bin/env python3
"""Builds the "Ahoy!" SFT data of tests/real/smollm2_sft_ahoy.sh from the HH-RLHF file (stdlib only).

    make_ahoy_data.py HH_JSONL_GZ OUT_DIR [--train N] [--heldout N]

Each record's first human turn is a prompt; its first assistant reply, cut to the first
sentence, prefixed with "Ahoy! ", is the answer. OUT_DIR/train.jsonl holds TRL conversational
records ({"messages": [user, assistant]}) for the first N distinct prompts of the file;
OUT_DIR/heldout.jsonl holds the last N distinct prompts ({"messages": [user]}), none of which
is a training prompt (compared case- and space-insensitively).
"""
import argparse
import gzip
import json
import pathlib
import re

GREETING = "Ahoy! "
MAX_PROMPT_CHARS = 100
MAX_ANSWER_CHARS = 90


def first_exchange(chosen):
    """The first human turn and the first sentence of the assistant's reply, or None."""
    m = re.match(r"\s*Human: (.*?)\n\nAssistant: (.*?)(?:\n\nHuman: |$)", chosen, re.S)
    if not m:
        return None
    prompt, reply = m.group(1).strip(), m.group(2).strip()
    sentence = re.match(r"(.+?[.!?])(?:\s|$)", reply, re.S)
    if not sentence:
        return None
    answer = sentence.group(1).strip()
    if ("\n" in prompt or "\n" in answer or not 8 <= len(prompt) <= MAX_PROMPT_CHARS
            or not 4 <= len(answer) <= MAX_ANSWER_CHARS or answer.lower().startswith("ahoy")):
        return None
    return prompt, answer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hh")
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=240)
    parser.add_argument("--heldout", type=int, default=24)
    args = parser.parse_args()

    exchanges, seen = [], set()
    with gzip.open(args.hh, "rt", encoding="utf-8") as f:
        for line in f:
            pair = first_exchange(json.loads(line)["chosen"])
            if pair is None:
                continue
            key = " ".join(pair[0].lower().split())
            if key not in seen:
                seen.add(key)
                exchanges.append(pair)
    if len(exchanges) < args.train + args.heldout:
        raise SystemExit(f"{args.hh}: only {len(exchanges)} usable prompts, need {args.train + args.heldout}")
    train, heldout = exchanges[:args.train], exchanges[-args.heldout:]  # distinct keys: disjoint

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.jsonl", "w", encoding="utf-8") as f:
        for prompt, answer in train:
            f.write(json.dumps({"messages": [{"role": "user", "content": prompt},
                                             {"role": "assistant", "content": GREETING + answer}]}) + "\n")
    with open(out / "heldout.jsonl", "w", encoding="utf-8") as f:
        for prompt, _ in heldout:
            f.write(json.dumps({"messages": [{"role": "user", "content": prompt}]}) + "\n")


if __name__ == "__main__":
    main()
