#!/usr/bin/env python3
"""The Hugging Face baseline of `loom bench`: LoRA SFT steps with transformers + PEFT on PyTorch CPU,
and (--mode decode / prefill) greedy batch-1 generation with `generate`.

Train (--mode train, the default): the same work as `loom bench --mode train`: a random-weight Llama of the given config.json, LoRA r=16,
alpha 32, dropout 0.05 on all seven linears (PEFT's "all-linear"), random tokens of --seq per row,
--micro-batch rows per step, loss = mean token cross-entropy, backward, gradient clipping to 1.0,
AdamW (lr 1e-4). One warm-up step, then --steps timed steps. Runs in f32 and/or under
torch.autocast(DEVICE, dtype=torch.bfloat16), on the CPU or (--device cuda) on the first GPU.
The frozen base is unquantized f32 (bitsandbytes' NF4 is not used), which is work loom's NF4 base
does on top (dequantization per layer).

Decode: the same random model (f32, or all weights cast to bf16), `generate` with greedy search and
the KV cache, --prompt-tokens random prompt tokens, exactly --new-tokens new tokens (no EOS stop), timed
with the prefill included: --repeats generations after one untimed warm-up generation, the figure from
their median (as `loom bench --mode decode`).
Prefill: the same with one new token; the figure is prompt tokens/s. HF's base is unquantized (loom's is
NF4) and carries no LoRA adapter (loom's adds its r16 adapter's GEMVs).

Prints one line per precision:  hf <precision>: <tokens/s> tokens/s (<seconds> s for <steps> steps)
Run it with the Python that has torch, transformers and peft (scripts/bench-cpu.sh takes it from
LOOM_PYTHON).
"""
import argparse
import json
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="config.json of the model shape")
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="train: where the steps run")
    p.add_argument("--precision", choices=["f32", "bf16", "both"], default="both")
    p.add_argument("--mode", choices=["train", "decode", "prefill"], default="train")
    p.add_argument("--prompt-tokens", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=1, help="decode, prefill: timed generations (median)")
    args = p.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        with open(args.config) as f:
            config = LlamaConfig(**json.load(f))
    except (OSError, ValueError) as e:
        sys.exit(f"hf_baseline.py: {args.config}: {e}")
    model = LlamaForCausalLM(config)
    precisions = ["f32", "bf16"] if args.precision == "both" else [args.precision]
    if args.mode != "train":
        generate_baseline(torch, model, config, args, precisions)
        return
    model.config.use_cache = False
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, lora)
    model.train()
    params = [q for q in model.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    tokens = torch.randint(3, config.vocab_size, (args.micro_batch, args.seq))
    model.to(args.device)
    tokens = tokens.to(args.device)

    def step(bf16):
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=tokens, labels=tokens).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if args.device == "cuda":
            torch.cuda.synchronize()  # the step is timed to its end, not to its last launch

    where = torch.cuda.get_device_name(0) if args.device == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"# torch {torch.__version__}, {where}; {args.config}: "
          f"{sum(q.numel() for q in model.parameters()) - sum(q.numel() for q in params)} base parameters, "
          f"{sum(q.numel() for q in params)} trainable", flush=True)
    for precision in precisions:
        bf16 = precision == "bf16"
        step(bf16)  # warm-up
        start = time.perf_counter()
        for _ in range(args.steps):
            step(bf16)
        elapsed = time.perf_counter() - start
        tps = args.steps * args.micro_batch * args.seq / elapsed
        print(f"hf {precision}: {tps:.1f} tokens/s ({elapsed:.2f} s for {args.steps} steps)", flush=True)


def generate_baseline(torch, model, config, args, precisions):
    model.eval()
    new_tokens = 1 if args.mode == "prefill" else args.new_tokens
    prompt = torch.randint(3, config.vocab_size, (1, args.prompt_tokens))
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; {args.config}: "
          f"{sum(q.numel() for q in model.parameters())} parameters; {args.mode}, prompt {args.prompt_tokens}, "
          f"{new_tokens} new tokens", flush=True)

    def generate():
        with torch.inference_mode():
            out = model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                 use_cache=True, pad_token_id=0)
        assert out.shape[1] == args.prompt_tokens + new_tokens
    for precision in precisions:
        model.to(torch.bfloat16 if precision == "bf16" else torch.float32)
        generate()  # warm-up
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            generate()
            seconds.append(time.perf_counter() - start)
        elapsed = sorted(seconds)[len(seconds) // 2]  # the median (the upper one of an even count)
        tps = (args.prompt_tokens if args.mode == "prefill" else new_tokens) / elapsed
        of = "one" if args.repeats == 1 else f"the median {args.mode} of {args.repeats}"
        print(f"hf {precision}: {tps:.1f} tokens/s ({elapsed:.2f} s for {of})", flush=True)


if __name__ == "__main__":
    main()
