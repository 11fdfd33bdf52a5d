"""Golden DPO numbers from TRL's DPOTrainer, for tests/test_dpo.cpp.

The tiny GQA Llama and its PEFT adapter in data/ (made by make_golden.py) are the policy; the
reference is the same model with the adapter disabled (TRL's behaviour when it wraps the model
in a new PEFT adapter itself and no ref_model is given; the adapter's trained weights are loaded
into that adapter after DPOTrainer is built, so policy and reference differ). For a fixed batch of three preference pairs, given as token ids through a word-level
tokenizer ("t17" is id 17, "</s>" the EOS id 2), the script runs DPOTrainer's own data
processing (EOS appended to the completions, prompt/completion split, keep_start truncation at
max_length) and its compute_loss, then backward, and writes per loss type:
  <case>.loss, <case>.<metric> for TRL's logged metrics, <case>.<PEFT LoRA key>.grad
plus the pairs themselves (pair<i>.prompt / .chosen / .rejected, as given, without EOS), max_length
and lora_b_scale (the adapter's lora_B tensors are multiplied by it, so that the policy's rewards
are far from zero).

Usage (from the repository root, with torch, transformers, peft and trl installed):
    python3 tests/golden/make_dpo_golden.py        # writes tests/golden/data/dpo_golden.safetensors
"""

import json
import os
import sys
import tempfile

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from peft import LoraConfig, set_peft_model_state_dict  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
MAX_LENGTH = 12  # the longest pair is cut (keep_start)
B_SCALE = 30.0  # lora_B is scaled up so that policy and reference differ by rewards of order 0.1-1

# (prompt, chosen, rejected) token ids; none of them is EOS (2), which TRL appends.
PAIRS = [
    ([1, 17, 250, 9], [33, 71, 400], [33, 5]),
    ([1, 88, 3, 120, 61, 7], [300, 301, 302, 303, 304, 305, 306], [13, 14]),  # chosen cut at MAX_LENGTH
    ([1, 400, 500], [6], [77, 78, 79, 80]),
]

CASES = [  # name, loss_type, beta, label_smoothing
    ("sigmoid", "sigmoid", 0.1, 0.0),
    ("sigmoid_beta", "sigmoid", 0.5, 0.0),
    ("hinge", "hinge", 0.1, 0.0),
    ("ipo", "ipo", 0.1, 0.0),
    ("robust", "robust", 0.1, 0.2),
]

METRICS = ["rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
           "logps/rejected"]


def word_tokenizer(vocab_size):
    vocab = {f"t{i}": i for i in range(vocab_size)}
    vocab["</s>"] = 2
    del vocab["t2"]
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="t0")
    return fast


def text(ids):
    return " ".join(f"t{i}" for i in ids)


def run_case(name, loss_type, beta, label_smoothing, tokenizer, out):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(os.path.join(DATA, "llama_gqa"), dtype=torch.float32)
    adapter_dir = os.path.join(DATA, "llama_gqa_adapter")
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        adapter = json.load(f)
    peft_config = LoraConfig(r=adapter["r"], lora_alpha=adapter["lora_alpha"], lora_dropout=0.0,
                             target_modules=adapter["target_modules"], task_type="CAUSAL_LM")
    dataset = Dataset.from_list([
        # The completion starts with a space so that "prompt + completion" splits into words.
        {"prompt": text(p), "chosen": " " + text(c), "rejected": " " + text(r)} for p, c, r in PAIRS
    ])
    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(output_dir=tmp, beta=beta, loss_type=[loss_type], label_smoothing=label_smoothing,
                         max_length=MAX_LENGTH, per_device_train_batch_size=len(PAIRS), report_to=[],
                         use_cpu=True, bf16=False, dataset_num_proc=None, logging_steps=1)
        trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             peft_config=peft_config)
        model = trainer.model
        weights = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
        weights = {k: v * B_SCALE if ".lora_B." in k else v for k, v in weights.items()}
        result = set_peft_model_state_dict(model, weights)
        assert not result.unexpected_keys, result.unexpected_keys
        processed = [trainer.train_dataset[i] for i in range(len(PAIRS))]
        for (p, c, r), row in zip(PAIRS, processed):
            assert row["prompt_ids"] == p and row["chosen_ids"] == c + [2] and row["rejected_ids"] == r + [2], row
        batch = trainer.data_collator(processed)
        model.train()
        model.zero_grad(set_to_none=True)
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        out[f"{name}.loss"] = loss.detach().reshape(1).float()
        for metric in METRICS:
            out[f"{name}.{metric}"] = torch.tensor([trainer._metrics["train"][metric][-1]], dtype=torch.float32)
        for pname, param in model.named_parameters():
            if param.grad is not None:
                key = pname.replace(".default.", ".")
                out[f"{name}.{key}.grad"] = param.grad.detach().float().contiguous()
    print(f"{name}: loss {loss.item():.6f}, "
          + ", ".join(f"{m} {out[f'{name}.{m}'].item():.5f}" for m in METRICS))


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tokenizer = word_tokenizer(512)
    out = {}
    for i, (p, c, r) in enumerate(PAIRS):
        out[f"pair{i}.prompt"] = torch.tensor(p, dtype=torch.float32)
        out[f"pair{i}.chosen"] = torch.tensor(c, dtype=torch.float32)
        out[f"pair{i}.rejected"] = torch.tensor(r, dtype=torch.float32)
    out["max_length"] = torch.tensor([MAX_LENGTH], dtype=torch.float32)
    out["lora_b_scale"] = torch.tensor([B_SCALE], dtype=torch.float32)
    for case in CASES:
        run_case(*case, tokenizer, out)
    path = os.path.join(DATA, "dpo_golden.safetensors")
    save_file(out, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
