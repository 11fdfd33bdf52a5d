#!/usr/bin/env python3
"""The verdict of tests/real/smollm2_sft_ahoy.sh (stdlib only): the behaviour metric before and
after training, and loom's greedy decoding against PEFT's (tests/golden/data/smollm2_ahoy_golden.json).
"""
import argparse
import hashlib
import json
import sys

GREETING = "Ahoy!"
MAX_BASE_HITS = 2       # of 24 held-out prompts; measured 0
MIN_TRAINED_HITS = 22   # of 24 (0.9 N); measured 24
LOGPROB_TOLERANCE = 1e-4  # max |loom - PEFT| of a greedy token's log-prob, same adapter, both float32


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="loom generate --format jsonl without the adapter")
    parser.add_argument("--trained", required=True, help="the same with the trained adapter")
    parser.add_argument("--adapter", required=True, help="the trained adapter_model.safetensors")
    parser.add_argument("--golden", required=True)
    args = parser.parse_args()
    base, trained = read_jsonl(args.base), read_jsonl(args.trained)
    with open(args.golden, encoding="utf-8") as f:
        golden = json.load(f)
    rows = golden["prompts"]
    failures = []
    if not len(base) == len(trained) == len(rows):
        sys.exit(f"FAIL: {len(base)} base and {len(trained)} trained answers for {len(rows)} golden prompts")

    # The behaviour, measured on the held-out prompts.
    n = len(rows)
    base_hits = sum(r["completion"].startswith(GREETING) for r in base)
    trained_hits = sum(r["completion"].startswith(GREETING) for r in trained)
    print(f"behaviour: greedy answer starts with {GREETING!r}: base {base_hits}/{n}, trained {trained_hits}/{n} "
          f"(thresholds: base <= {MAX_BASE_HITS}, trained >= {MIN_TRAINED_HITS})")
    for r in trained:
        if not r["completion"].startswith(GREETING):
            print(f"  without the greeting: {r['completion']!r}")
    if base_hits > MAX_BASE_HITS:
        failures.append(f"the base model already has the behaviour ({base_hits}/{n})")
    if trained_hits < MIN_TRAINED_HITS:
        failures.append(f"training did not teach the behaviour ({trained_hits}/{n} < {MIN_TRAINED_HITS})")

    # The chat prompts are transformers' apply_chat_template ids.
    for i, (b, t, g) in enumerate(zip(base, trained, rows)):
        if b["prompt_ids"] != g["prompt_ids"] or t["prompt_ids"] != g["prompt_ids"]:
            failures.append(f"prompt {i} ({g['user']!r}): loom's chat prompt ids differ from transformers'")

    # Base greedy ids against transformers without the adapter.
    base_same = sum(b["completion_ids"] == g["base_completion_ids"] for b, g in zip(base, rows))
    print(f"base model: greedy ids equal to transformers' for {base_same}/{n} prompts")
    if base_same != n:
        failures.append(f"base greedy ids differ from transformers' for {n - base_same} prompts")

    # The adapter in PEFT.
    with open(args.adapter, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    same_adapter = sha == golden["adapter_sha256"]
    print(f"adapter: sha256 {sha[:16]}..., {'byte-identical to' if same_adapter else 'DIFFERENT from'} "
          f"the golden run's ({golden['adapter_sha256'][:16]}...)")
    ids_same, max_diff, min_margin = 0, 0.0, float("inf")
    for i, (t, g) in enumerate(zip(trained, rows)):
        min_margin = min([min_margin] + g["top2_margin"])
        if t["completion_ids"] != g["completion_ids"]:
            print(f"  prompt {i} ({g['user']!r}): loom {t['completion_ids']} {t['completion']!r}\n"
                  f"    PEFT {g['completion_ids']} {g['completion']!r}")
            continue
        ids_same += 1
        max_diff = max([max_diff] + [abs(a - b) for a, b in zip(t["logprobs"], g["logprobs"])])
    diff_text = f"{max_diff:.2e} over those" if ids_same else "n/a"
    print(f"PEFT: greedy ids equal for {ids_same}/{n} prompts; max |loom - PEFT| log-prob {diff_text} "
          f"(tolerance {LOGPROB_TOLERANCE:g} for the same adapter); smallest PEFT top-2 logit margin {min_margin:.3f}")
    if ids_same != n:
        if same_adapter:
            failures.append(f"loom's greedy ids differ from PEFT's for {n - ids_same} prompts with the same adapter")
        else:
            failures.append(
                f"loom's greedy ids differ from PEFT's for {n - ids_same} prompts, and the adapter trained here is not "
                "byte-identical to the golden run's: training was not bit-identical to the golden machine's (another "
                "CPU or compute backend, or a change to loom's training or to the data), so the difference may come "
                "from training rather than from decoding the adapter. Check PEFT on this adapter with "
                "LOOM_KEEP_REAL_SFT=DIR and tests/golden/make_smollm2_ahoy_golden.py --run DIR --out OTHER_FILE; "
                "if the change to training is intended, re-make the golden file that way")
    elif same_adapter and max_diff > LOGPROB_TOLERANCE:
        failures.append(f"log-probs differ from PEFT's by {max_diff:.2e} > {LOGPROB_TOLERANCE:g}")
    elif not same_adapter:
        print("  (different adapter: the log-prob tolerance is not applied; greedy ids equal PEFT's)")

    for f in failures:
        print(f"FAIL: {f}")
    if failures:
        return 1
    print(f"ok: SFT taught SmolLM2-135M-Instruct to open with {GREETING!r} ({base_hits}/{n} -> {trained_hits}/{n}); "
          "loom's greedy decoding with its adapter equals PEFT's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
