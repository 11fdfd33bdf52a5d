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
    run([args.loom, "init-model", "--config", "tiny", "--out", model, "--tokenizer", tokenizer, "--seed", 1],
        stdout=subprocess.DEVNULL)
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
         "--train.logging_steps", max(1, args.steps // 4)],
        stdout=subprocess.DEVNULL)
    return model, work / "sft" / "final"


def loom_generate(args, model, adapter, prompt_ids):
    prompts = pathlib.Path(adapter).parent / "check_prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt_ids": p}) + "\n" for p in prompt_ids))
    out = run([args.loom, "generate", "--model", model, "--adapter", adapter, "--quant", "f32", "--greedy",
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
        with torch.no_grad():
            for i, prompt in enumerate(prompt_ids):
                tokens, logprobs, margins = hf_generate(model, prompt, args.new_tokens)
                with model.disable_adapter():
                    base_tokens, base_logprobs, _ = hf_generate(model, prompt, args.new_tokens)
                row = loom_rows[i]
                same = row["completion_ids"] == tokens
                diffs = [abs(a - b) for a, b in zip(row["logprobs"], logprobs)]
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
        print(f"{verdict}: greedy tokens {'identical' if ok else 'or log-probs differ'}; max |loom - HF| log-prob "
              f"{max_diff:.3e} (tolerance {args.tolerance:g}); smallest top-2 margin {min_margin:.3e}")
        return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
