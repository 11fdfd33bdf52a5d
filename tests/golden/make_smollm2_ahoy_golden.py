#!/usr/bin/env python3
"""PEFT's greedy answers for the adapter that tests/real/smollm2_sft_ahoy.sh trains with loom.

The script trains nothing. It loads the converted SmolLM2-135M-Instruct folder in transformers
(float32), puts loom's adapter on it with PeftModel.from_pretrained, renders each held-out
conversation with the tokenizer's chat template (add_generation_prompt=True), and decodes it
greedily, one prompt at a time without padding, with and without the adapter. It writes
tests/golden/data/smollm2_ahoy_golden.json: per prompt the prompt ids, PEFT's greedy ids, the
log-probs of those ids and the top-2 logit margin at every step, and the base model's greedy ids;
plus the adapter file's sha256, which tells the test whether its own training run was
bit-identical to the one the golden file was made from.

From the repository root, with a Python that has torch, transformers and peft:

    LOOM_KEEP_REAL_SFT=/tmp/ahoy ctest --test-dir build -R real_smollm2_sft_ahoy
    $PYTHON tests/golden/make_smollm2_ahoy_golden.py --model MODEL_DIR --run /tmp/ahoy

where MODEL_DIR is the converted folder (build/real-model-cache/smollm2-135m-instruct-hf) and
/tmp/ahoy holds the kept adapter (`run/final/`) and `heldout.jsonl`.
"""
import argparse
import hashlib
import json
import pathlib

import peft
import torch
import transformers
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
NEW_TOKENS = 12  # tests/real/smollm2_sft_ahoy.sh decodes as many


def greedy(model, prompt, eos_ids):
    ids = torch.tensor([prompt])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS, do_sample=False,
                         eos_token_id=eos_ids, pad_token_id=eos_ids[0], output_logits=True,
                         return_dict_in_generate=True)
    tokens = out.sequences[0, len(prompt):].tolist()
    logprobs, margins = [], []
    for step, logits in enumerate(out.logits):
        logprobs.append(torch.log_softmax(logits[0].double(), dim=-1)[tokens[step]].item())
        top2 = torch.topk(logits[0], 2).values
        margins.append((top2[0] - top2[1]).item())
    return tokens, logprobs, margins


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="converted SmolLM2-135M-Instruct HF folder")
    parser.add_argument("--run", required=True, help="folder kept by the test: run/final/ and heldout.jsonl")
    parser.add_argument("--out", default=str(ROOT / "tests" / "golden" / "data" / "smollm2_ahoy_golden.json"))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    run = pathlib.Path(args.run)
    adapter = run / "run" / "final"

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    generation = json.loads((pathlib.Path(args.model) / "generation_config.json").read_text())
    eos_ids = generation["eos_token_id"] if isinstance(generation["eos_token_id"], list) else [generation["eos_token_id"]]
    base = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter).eval()
    b_max = max(p.abs().max().item() for n, p in model.named_parameters() if "lora_B" in n)

    rows = []
    with torch.no_grad():
        for line in (run / "heldout.jsonl").read_text(encoding="utf-8").splitlines():
            messages = json.loads(line)["messages"]
            prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                   return_dict=False)
            tokens, logprobs, margins = greedy(model, prompt, eos_ids)
            with model.disable_adapter():
                base_tokens, _, _ = greedy(model, prompt, eos_ids)
            rows.append({"user": messages[-1]["content"], "prompt_ids": prompt, "completion_ids": tokens,
                         "completion": tokenizer.decode(tokens, skip_special_tokens=True),
                         "logprobs": logprobs, "top2_margin": margins, "base_completion_ids": base_tokens,
                         "base_completion": tokenizer.decode(base_tokens, skip_special_tokens=True)})
            print(f"{rows[-1]['completion']!r:50} base {rows[-1]['base_completion']!r} "
                  f"(smallest top-2 margin {min(margins):.3f})")

    golden = {
        "about": "PEFT greedy decoding of the loom-trained 'Ahoy!' adapter (tests/golden/make_smollm2_ahoy_golden.py)",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "adapter_sha256": hashlib.sha256((adapter / "adapter_model.safetensors").read_bytes()).hexdigest(),
        "adapter_max_abs_lora_B": b_max,
        "max_new_tokens": NEW_TOKENS,
        "eos_token_ids": eos_ids,
        "prompts": rows,
    }
    pathlib.Path(args.out).write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(rows)} prompts, adapter {golden['adapter_sha256'][:16]}, max |lora_B| {b_max:.3e}")


if __name__ == "__main__":
    main()
