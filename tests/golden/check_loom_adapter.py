#!/usr/bin/env python3
"""Checks that an adapter trained by loom loads in Hugging Face PEFT and means the same thing there.

Steps (from the repository root, after building `loom` and `loom-prep`):
  1. `loom init-model --config tiny` with the real Llama-2 tokenizer (../shared/data).
  2. `loom-prep sft` on the HH-RLHF file, then `loom sft` for a few steps on an f32 base with
     LoRA on all seven linears, so every lora_B is non-zero (with --modules-to-save lm_head the
     output layer is trained too and PEFT loads it as a modules_to_save copy).
  3. transformers + PEFT: the base checkpoint, PeftModel.from_pretrained(loom's final adapter),
     greedy generation of prompts of different lengths (one at a time, no padding).
  4. `loom generate --greedy --format jsonl --quant f32` on the same prompt ids, all in one
     left-padded batch.
Prints PASS when the greedy tokens are identical and the log-probs of those tokens agree within
--tolerance (max |loom - HF|), FAIL otherwise, with the largest differences either way.

With --compute bf16, `loom sft` trains with run.compute = bf16 and `loom generate` decodes with
--compute bf16 (bf16 GEMM inputs, f32 accumulation); HF stays f32, so --tolerance should be a bf16
one (0.05) and a greedy choice may differ only where HF's top-2 margin is below it.
With --golden-out DIR the adapter and HF's sequences and log-probs (loom_sft_adapter_bf16/ and
loom_sft_adapter_bf16_golden.safetensors, for tests/test_loom_adapter_golden.cpp) are written
into DIR (tests/golden/data); the base is then the ctest fixture's tiny model (the tiny preset,
init-std 0.15, seed 1, the Llama-2 tokenizer: tests/fixtures/make_tiny_run.sh), which the test
finds through LOOM_TINY_RUN.

Developer script: needs torch, transformers and peft; CI never runs it.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROMPTS = [  # token ids (Llama-2 vocabulary; taken modulo a smaller one), BOS first, lengths 4, 11 and 2
    [1, 15043, 3186, 29991],
    [1, 894, 29901, 1724, 338, 278, 7483, 310, 3444, 29973, 13],
    [1, 29871],
]


def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def train_adapter(args, work):
    tokenizer = pathlib.Path(args.shared) / "data" / "llama2-tokenizer" / "tokenizer.model"
    hh = pathlib.Path(args.shared) / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    model = work / "model"
    run([args.loom, "init-model", "--config", "tiny", "--out", model, "--tokenizer", tokenizer, "--seed", 1]
        + (["--init-std", 0.15] if args.golden_out else []), stdout=subprocess.DEVNULL)
    run([args.loom_prep, "sft", "--layout", "packed", "--seq-len", 128, "--tokenizer", tokenizer, "--template", "hh",
         "--seed", 1, "--eval-fraction", 0.05, "--on-error", "skip", hh, "--out", work / "hh-sft"],
        stdout=subprocess.DEVNULL)
    manifest = work / "hh-sft" / "manifest.json"
    run([args.loom, "sft", "--config", ROOT / "configs" / "tiny-sft.ini",
         "--model.path", model, "--model.quant", "f32",
         "--lora.target_modules", "q,k,v,o,gate,up,down", "--lora.dropout", 0,
         "--lora.modules_to_save", args.modules_to_save,
         "--data.train", manifest, "--data.eval", manifest,
         "--train.output_dir", work / "sft", "--train.max_steps", args.steps, "--train.learning_rate", 1e-2,
         "--train.warmup_steps", 1, "--train.eval_steps", 1000, "--train.save_steps", 1000,
         "--train.logging_steps", max(1, args.steps // 4), "--run.compute", args.compute],
        stdout=subprocess.DEVNULL)
    return model, work / "sft" / "final"


def loom_generate(args, model, adapter, prompt_ids):
    prompts = pathlib.Path(adapter).parent / "check_prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt_ids": p}) + "\n" for p in prompt_ids))
    out = run([args.loom, "generate", "--model", model, "--adapter", adapter, "--quant", "f32", "--greedy",
               "--compute", args.compute,
               "--format", "jsonl", "--prompts", prompts, "--batch-size", len(prompt_ids),
               "--max-new-tokens", args.new_tokens], stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def hf_generate(model, prompt, new_tokens):
    ids = torch.tensor([prompt])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, do_sample=False,
                         output_logits=True, return_dict_in_generate=True, pad_token_id=0)
    tokens = out.sequences[0, len(prompt):].tolist()
    logprobs, margins = [], []
    for step, logits in enumerate(out.logits):
        lp = torch.log_softmax(logits[0].double(), dim=-1)
        logprobs.append(lp[tokens[step]].item())
        top2 = torch.topk(logits[0], 2).values
        margins.append((top2[0] - top2[1]).item())
    return tokens, logprobs, margins


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loom", default=str(ROOT / "build" / "src" / "loom"))
    parser.add_argument("--loom-prep", default=str(ROOT / "build" / "data_prep" / "loom-prep"))
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--adapter", help="check this adapter on --model instead of training one")
    parser.add_argument("--model", help="base checkpoint of --adapter")
    parser.add_argument("--steps", type=int, default=30, help="loom sft optimizer steps")
    parser.add_argument("--modules-to-save", default="", help="lm_head: loom sft also trains the output layer")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |loom - HF| of a token log-prob")
    parser.add_argument("--compute", choices=["f32", "bf16"], default="f32", help="loom's run.compute / --compute")
    parser.add_argument("--golden-out", help="write the adapter and HF's outputs here (tests/golden/data)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="loom-peft-check-") as tmp:
        work = pathlib.Path(tmp)
        if args.adapter:
            model_dir, adapter_dir = pathlib.Path(args.model), pathlib.Path(args.adapter)
            adapter_copy = work / "adapter"
            adapter_copy.mkdir()
            for name in ("adapter_config.json", "adapter_model.safetensors"):
                (adapter_copy / name).write_bytes((adapter_dir / name).read_bytes())
            adapter_dir = adapter_copy
        else:
            model_dir, adapter_dir = train_adapter(args, work)
        vocab = json.loads((model_dir / "config.json").read_text())["vocab_size"]
        prompt_ids = [[t % vocab for t in p] for p in PROMPTS]
        loom_rows = loom_generate(args, model_dir, adapter_dir, prompt_ids)

        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        model = PeftModel.from_pretrained(base, adapter_dir).eval()
        config = json.loads((adapter_dir / "adapter_config.json").read_text())
        b_norm = max(p.abs().max().item() for n, p in model.named_parameters() if "lora_B" in n)
        print(f"adapter: r={config['r']} alpha={config['lora_alpha']} targets={sorted(config['target_modules'])}, "
              f"max |lora_B| = {b_norm:.3e}")

        ok, max_diff, min_margin, adapter_effect = True, 0.0, float("inf"), 0.0
        golden = {}
        with torch.no_grad():
            for i, prompt in enumerate(prompt_ids):
                tokens, logprobs, margins = hf_generate(model, prompt, args.new_tokens)
                with model.disable_adapter():
                    base_tokens, base_logprobs, _ = hf_generate(model, prompt, args.new_tokens)
                row = loom_rows[i]
                golden[f"prompt{i}"] = torch.tensor(prompt, dtype=torch.float32)  # ids as floats: test_support reads F32
                golden[f"sequence{i}"] = torch.tensor(prompt + tokens, dtype=torch.float32)
                golden[f"logprobs{i}"] = torch.tensor(logprobs, dtype=torch.float32)
                golden[f"top2_margin{i}"] = torch.tensor(margins, dtype=torch.float32)
                same = row["completion_ids"] == tokens
                if not same and args.compute == "bf16":  # a differing choice only at a near-tie
                    first = next(k for k, (a, b) in enumerate(zip(row["completion_ids"], tokens)) if a != b)
                    same = margins[first] < args.tolerance
                    diffs_upto = first + 1
                else:
                    diffs_upto = len(tokens)
                diffs = [abs(a - b) for a, b in zip(row["logprobs"], logprobs)][:diffs_upto]
                max_diff = max([max_diff] + diffs)
                min_margin = min([min_margin] + margins)
                adapter_effect = max(adapter_effect, abs(base_logprobs[0] - logprobs[0]))
                print(f"prompt {i} ({len(prompt)} tokens): tokens {'equal' if same else 'DIFFER'}, "
                      f"max |logprob diff| {max(diffs):.2e}, smallest HF top-2 logit margin {min(margins):.2e}, "
                      f"stop {row['stop_reason']}")
                if not same:
                    print(f"  loom {row['completion_ids']}\n  HF   {tokens}")
                ok = ok and same and max(diffs) <= args.tolerance
        print(f"adapter effect: |first-token logprob with - without adapter| up to {adapter_effect:.3e}")
        verdict = "PASS" if ok and adapter_effect > 10 * args.tolerance else "FAIL"
        if args.golden_out and verdict == "PASS":
            from safetensors.torch import save_file
            out = pathlib.Path(args.golden_out)
            (out / "loom_sft_adapter_bf16").mkdir(parents=True, exist_ok=True)
            for name in ("adapter_config.json", "adapter_model.safetensors"):
                (out / "loom_sft_adapter_bf16" / name).write_bytes((adapter_dir / name).read_bytes())
            save_file(golden, str(out / "loom_sft_adapter_bf16_golden.safetensors"))
            print(f"wrote {out / 'loom_sft_adapter_bf16'} and {out / 'loom_sft_adapter_bf16_golden.safetensors'}")
        print(f"{verdict}: greedy tokens {'identical' if ok else 'or log-probs differ'}; max |loom - HF| log-prob "
              f"{max_diff:.3e} (tolerance {args.tolerance:g}); smallest top-2 margin {min_margin:.3e}")
        return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
