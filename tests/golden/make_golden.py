#!/usr/bin/env python3
"""Writes loom's golden reference files from Hugging Face transformers + PEFT.

Run from the repository root:  python3 tests/golden/make_golden.py
Everything lands in tests/golden/data/ (see tests/golden/README.md for every file and tensor).
Outputs are deterministic: fixed seeds, one CPU thread, PYTHONHASHSEED=0 (PEFT writes
adapter_config.json target_modules as list(set), whose order follows the string hash seed).

Reference values come from a float64 pass of the same model (weights are the f32 values, upcast
exactly), with HF's internal float32 casts (RMSNorm, RoPE angles, softmax) lifted so every step
runs in float64; results are rounded once to f32 when stored. The plain f32 HF run is compared
against that reference and the differences are printed, so test tolerances can be chosen from them.
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import contextlib
import copy
import json
import shutil
from pathlib import Path

import numpy as np
import peft
import safetensors
import safetensors.numpy
import torch
import torch.nn.functional as F
import transformers
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification
from transformers.models.llama import modeling_llama

DATA_DIR = Path(__file__).resolve().parent / "data"
IGNORE_INDEX = -100
LORA_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# NF4 code, index -> value (bitsandbytes' table).
NF4_CODE = np.array(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ],
    dtype=np.float32,
)
NF4_BLOCK = 64
ABSMAX_BLOCK = 256


# ----------------------------------------------------------------------------------------------
# bitsandbytes NF4 + double quantization, re-implemented in NumPy (float32 arithmetic throughout)


def torch_style_linspace_f32(start, end, steps):
    """torch.linspace(start, end, steps, dtype=float32) as its CPU kernel computes it: the step in
    f32, the first half start + step * i and the second half end - step * (steps - 1 - i), each a
    fused multiply-add (one rounding; C++ std::fma on floats). Evaluated here in float64, where the
    product and sum are exact for these sizes, then rounded once to f32."""
    start, end = np.float32(start), np.float32(end)
    step = np.float64((end - start) / np.float32(steps - 1))
    i = np.arange(steps, dtype=np.float64)
    from_start = np.float64(start) + step * i
    from_end = np.float64(end) - step * (steps - 1 - i)
    return np.where(i < steps // 2, from_start, from_end).astype(np.float32)


def signed_dynamic_map():
    """bitsandbytes create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for each
    exponent e in 0..6, the midpoints of linspace(0.1, 1, 2**e + 1) times 10**(e - 6), both signs;
    then 0 and 1.0; 256 values, sorted ascending."""
    max_exponent_bits = 7
    values = []
    for e in range(max_exponent_bits):
        boundaries = torch_style_linspace_f32(0.1, 1.0, 2**e + 1)
        means = (boundaries[:-1] + boundaries[1:]) / np.float32(2.0)
        magnitude = np.float32(10.0 ** (e - (max_exponent_bits - 1)))
        values.append(means * magnitude)
        values.append(-(means * magnitude))
    values.append(np.array([0.0, 1.0], dtype=np.float32))
    table = np.sort(np.concatenate(values).astype(np.float32))
    assert table.shape == (256,)
    return table


def blockwise_absmax(flat, block):
    """Per-block max |x| over consecutive blocks of `block` elements (the last may be short)."""
    n_blocks = -(-flat.size // block)
    padded = np.zeros(n_blocks * block, dtype=np.float32)
    padded[: flat.size] = np.abs(flat)
    return padded.reshape(n_blocks, block).max(axis=1)


def nearest_code_index(flat, absmax, block, code):
    """Scales each block by 1/absmax (reciprocal multiply, as bitsandbytes' CUDA kernel), clamps to
    [-1, 1] and picks the nearest code entry by bucketizing on the midpoints (ties go to the lower
    index, like torch.bucketize(right=False))."""
    safe = np.maximum(absmax, np.float32(1e-38))
    inverse = (np.float32(1.0) / safe).astype(np.float32)
    per_element = np.repeat(inverse, block)[: flat.size]
    scaled = np.clip(flat * per_element, np.float32(-1.0), np.float32(1.0)).astype(np.float32)
    midpoints = ((code[:-1] + code[1:]) / np.float32(2.0)).astype(np.float32)
    return np.searchsorted(midpoints, scaled, side="left")


def nf4_double_quant_roundtrip(weight):
    """NF4 with double-quantized absmax, as bitsandbytes quantize_4bit(blocksize=64,
    compress_statistics=True, quant_type="nf4") followed by dequantize_4bit.
    Returns the dequantized weight and every intermediate."""
    flat = weight.astype(np.float32).reshape(-1)  # row-major [out, in]
    absmax = blockwise_absmax(flat, NF4_BLOCK)
    nf4_index = nearest_code_index(flat, absmax, NF4_BLOCK, NF4_CODE)  # uses the ORIGINAL absmax

    dynamic_map = signed_dynamic_map()
    offset = np.float32(absmax.astype(np.float64).mean())
    centered = (absmax - offset).astype(np.float32)
    absmax_scale = blockwise_absmax(centered, ABSMAX_BLOCK)
    absmax_index = nearest_code_index(centered, absmax_scale, ABSMAX_BLOCK, dynamic_map)
    per_absmax_scale = np.repeat(absmax_scale, ABSMAX_BLOCK)[: absmax.size]
    absmax_dq = ((dynamic_map[absmax_index] * per_absmax_scale).astype(np.float32) + offset).astype(np.float32)

    per_element_absmax = np.repeat(absmax_dq, NF4_BLOCK)[: flat.size]
    dequant = (NF4_CODE[nf4_index] * per_element_absmax).astype(np.float32).reshape(weight.shape)
    return {
        "dequant": dequant,
        "nf4_index": nf4_index,
        "absmax": absmax,
        "offset": offset,
        "absmax_scale": absmax_scale,
        "absmax_index": absmax_index,
        "absmax_dq": absmax_dq,
        "dynamic_map": dynamic_map,
    }


def unpack_nf4_indices(packed, count):
    """bitsandbytes packs two 4-bit indices per byte, the first element in the high nibble."""
    packed = packed.reshape(-1).astype(np.int64)
    indices = np.empty(packed.size * 2, dtype=np.int64)
    indices[0::2] = packed >> 4
    indices[1::2] = packed & 0xF
    return indices[:count]


def bitsandbytes_cross_check(weights):
    """Compares the NumPy round trip with bitsandbytes' quantize_4bit on CPU, when it is installed.
    bitsandbytes' native CPU kernel picks 8-bit indices through an approximate lookup table and sums
    the absmax mean in f32, so a few absmax indices may differ; each one is checked to be a case where
    the NumPy index is the truly nearest map entry."""
    try:
        import bitsandbytes.functional as bnbf
    except Exception as error:  # bitsandbytes is optional; the goldens never depend on it
        return f"bitsandbytes unavailable ({error.__class__.__name__})"
    dynamic_map = signed_dynamic_map()
    map_equal = np.array_equal(bnbf.create_dynamic_map(signed=True).numpy(), dynamic_map)
    nf4_mismatches, offset_ulps, index_mismatches, not_nearest = 0, 0, 0, 0
    weight_diff, cpu_dequant_diff = 0.0, 0.0
    for weight in weights.values():
        packed, state = bnbf.quantize_4bit(
            torch.from_numpy(weight), blocksize=NF4_BLOCK, compress_statistics=True, quant_type="nf4"
        )
        ours = nf4_double_quant_roundtrip(weight)
        bnb_nf4_index = unpack_nf4_indices(packed.numpy(), weight.size)
        nf4_mismatches += int((bnb_nf4_index != ours["nf4_index"]).sum())
        bnb_offset = np.float32(state.offset.item())
        offset_ulps = max(offset_ulps, abs(int(bnb_offset.view(np.int32)) - int(ours["offset"].view(np.int32))))
        bnb_absmax_index = state.absmax.numpy().astype(np.int64)
        differ = np.nonzero(bnb_absmax_index != ours["absmax_index"])[0]
        index_mismatches += differ.size
        block_scale = np.repeat(ours["absmax_scale"], ABSMAX_BLOCK)[: ours["absmax"].size]
        scaled = (ours["absmax"] - ours["offset"]) / block_scale
        for i in differ:
            if abs(scaled[i] - dynamic_map[ours["absmax_index"][i]]) > abs(scaled[i] - dynamic_map[bnb_absmax_index[i]]):
                not_nearest += 1
        bnb_absmax_dq = bnbf.dequantize_blockwise(state.absmax, state.state2).numpy() + bnb_offset
        bnb_formula = (NF4_CODE[bnb_nf4_index] * np.repeat(bnb_absmax_dq, NF4_BLOCK)[: weight.size]).reshape(weight.shape)
        weight_diff = max(weight_diff, float(np.abs(bnb_formula - ours["dequant"]).max()))
        cpu_dequant = bnbf.dequantize_4bit(packed, state).numpy()
        cpu_dequant_diff = max(cpu_dequant_diff, float(np.abs(cpu_dequant - bnb_formula).max()))
    return "\n".join([
        f"dynamic map bit-identical: {map_equal}",
        f"NF4 index mismatches: {nf4_mismatches}",
        f"absmax offset max difference: {offset_ulps} ulp",
        f"absmax 8-bit index mismatches: {index_mismatches} (NumPy not the nearest entry in {not_nearest})",
        f"max |NumPy dequant - code[bnb index] * bnb absmax_dq| = {weight_diff:.3e}",
        f"max |bnb CPU dequantize_4bit - code[bnb index] * bnb absmax_dq| = {cpu_dequant_diff:.3e}",
    ])


# ----------------------------------------------------------------------------------------------
# float64 reference: HF's modules with their internal float32 casts lifted


def rms_norm_forward_native(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def rotary_forward_native(self, x, position_ids):
    freqs = position_ids[..., None].to(x.dtype) * self.inv_freq.to(device=x.device, dtype=x.dtype)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * self.attention_scaling, emb.sin() * self.attention_scaling


def eager_attention_forward_native(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    key_states = modeling_llama.repeat_kv(key, module.num_key_value_groups)
    value_states = modeling_llama.repeat_kv(value, module.num_key_value_groups)
    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = F.softmax(attn_weights, dim=-1)
    attn_output = torch.matmul(attn_weights, value_states).transpose(1, 2).contiguous()
    return attn_output, attn_weights


@contextlib.contextmanager
def native_precision():
    """Within this block the Llama modules compute in their parameters' dtype end to end."""
    saved = (
        modeling_llama.LlamaRMSNorm.forward,
        modeling_llama.LlamaRotaryEmbedding.forward,
        modeling_llama.eager_attention_forward,
    )
    modeling_llama.LlamaRMSNorm.forward = rms_norm_forward_native
    modeling_llama.LlamaRotaryEmbedding.forward = rotary_forward_native
    modeling_llama.eager_attention_forward = eager_attention_forward_native
    try:
        yield
    finally:
        (
            modeling_llama.LlamaRMSNorm.forward,
            modeling_llama.LlamaRotaryEmbedding.forward,
            modeling_llama.eager_attention_forward,
        ) = saved


# ----------------------------------------------------------------------------------------------
# model construction


def seeded_generator(seed):
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def randomize_llama_weights(model, seed):
    """Linear and embedding weights ~ N(0, 0.02); norm weights 1 + 0.1 N(0, 1) so norm bugs show."""
    generator = seeded_generator(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * noise)
            else:
                param.copy_(0.02 * noise)


def randomize_lora_weights(peft_model, seed, scale=0.05):
    """Both LoRA factors non-zero, so the adapter changes the output and lora_A gets gradients."""
    generator = seeded_generator(seed)
    with torch.no_grad():
        for name, param in sorted(peft_model.named_parameters()):
            if ".lora_A." in name or ".lora_B." in name:
                param.copy_(scale * torch.randn(param.shape, generator=generator, dtype=torch.float32))


def llama_gqa_config():
    return LlamaConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        hidden_act="silu",
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
        attention_bias=False,
        mlp_bias=False,
        initializer_range=0.02,
    )


def llama_mqa_llama3_config():
    return LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=80,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        hidden_act="silu",
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
        tie_word_embeddings=True,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
        attention_bias=False,
        mlp_bias=False,
        initializer_range=0.02,
    )


def causal_lora_config():
    return LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        target_modules=LORA_PROJECTIONS,
        task_type=TaskType.CAUSAL_LM,
        bias="none",
    )


def save_adapter(peft_model, adapter_dir):
    """adapter_config.json + adapter_model.safetensors; PEFT's generated model card is dropped."""
    peft_model.save_pretrained(adapter_dir, safe_serialization=True)
    (adapter_dir / "README.md").unlink()


def load_causal(model_dir):
    return LlamaForCausalLM.from_pretrained(model_dir, attn_implementation="eager", dtype=torch.float32)


# ----------------------------------------------------------------------------------------------
# golden computation


def causal_lm_loss(logits, labels):
    """HF's causal LM loss: logits[:, :-1] predict labels[:, 1:], mean over non-ignored targets."""
    vocab = logits.shape[-1]
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX, reduction="mean"
    )


def saved_lora_key(parameter_name):
    """In-model PEFT name -> the key PEFT writes (the adapter name "default" is stripped)."""
    return parameter_name.replace(".default.", ".")


def causal_pass(peft_model, input_ids, labels):
    """Logits, loss and LoRA gradients with the adapter; logits with the adapter disabled."""
    peft_model.zero_grad(set_to_none=True)
    logits = peft_model(input_ids=input_ids).logits
    loss = causal_lm_loss(logits, labels)
    loss.backward()
    grads = {
        saved_lora_key(name) + ".grad": param.grad.detach().clone()
        for name, param in peft_model.named_parameters()
        if param.requires_grad
    }
    with torch.no_grad(), peft_model.disable_adapter():
        base_logits = peft_model(input_ids=input_ids).logits
    return {"logits": logits.detach(), "loss": loss.detach().reshape(1), "base_logits": base_logits, **grads}


def float64_reference(model, run):
    """Runs `run(model_f64)` on a float64 copy of `model` with every HF float32 cast lifted."""
    model_f64 = copy.deepcopy(model).double()
    with native_precision():
        return run(model_f64)


def compare_to_reference(label, observed, reference):
    """Prints max |f32 - f64| and that difference relative to max |f64|, per tensor family."""
    families = {}
    for name, ref in reference.items():
        if name not in observed:
            continue
        family = "grad" if name.endswith(".grad") else name
        diff = (observed[name].double() - ref.double()).abs().max().item()
        scale = ref.double().abs().max().item()
        worst = families.get(family, (0.0, 0.0))
        families[family] = (max(worst[0], diff), max(worst[1], diff / scale if scale > 0 else 0.0))
    for family, (diff, relative) in families.items():
        print(f"  {label} f32 vs f64 {family:12s} max|diff| = {diff:.3e}  max|diff|/max|ref| = {relative:.3e}")


def as_f32_numpy(tensors):
    return {name: t.detach().to(torch.float32).contiguous().numpy() for name, t in tensors.items()}


def write_golden(file_name, tensors):
    safetensors.numpy.save_file(as_f32_numpy(tensors), str(DATA_DIR / file_name))


def random_tokens(generator, batch, length, low=3, high=512):
    return torch.randint(low, high, (batch, length), generator=generator, dtype=torch.int64)


def lora_adapter_keys(adapter_dir):
    with safetensors.safe_open(str(adapter_dir / "adapter_model.safetensors"), "pt") as f:
        return sorted(f.keys())


def golden_causal_with_adapter(model_dir, adapter_dir, input_ids, labels, weight_transform=None):
    """Loads the checkpoint (optionally transformed) and adapter from disk, checks HF's own loss
    against ours, and returns the float64 reference plus the f32 run for comparison."""
    base = load_causal(model_dir)
    if weight_transform is not None:
        weight_transform(base)
    peft_model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True)
    hf_loss = peft_model(input_ids=input_ids, labels=labels).loss
    observed = causal_pass(peft_model, input_ids, labels)
    assert torch.allclose(hf_loss, observed["loss"][0], rtol=1e-6, atol=0), "loss convention differs from HF"
    expected_keys = sorted(name[: -len(".grad")] for name in observed if name.endswith(".grad"))
    assert expected_keys == lora_adapter_keys(adapter_dir), "gradient names differ from the saved adapter keys"
    reference = float64_reference(peft_model, lambda m: causal_pass(m, input_ids, labels))
    return observed, reference


# ----------------------------------------------------------------------------------------------
# cases


def build_llama_gqa():
    """Case 1 checkpoint and adapter; checks that the saved files reload to identical logits."""
    torch.manual_seed(0)
    model = LlamaForCausalLM._from_config(llama_gqa_config(), attn_implementation="eager")
    randomize_llama_weights(model, seed=1)
    model.save_pretrained(DATA_DIR / "llama_gqa", safe_serialization=True)

    peft_model = get_peft_model(model, causal_lora_config())
    randomize_lora_weights(peft_model, seed=2)
    save_adapter(peft_model, DATA_DIR / "llama_gqa_adapter")

    probe = random_tokens(seeded_generator(3), 2, 12)
    with torch.no_grad():
        in_memory = peft_model(input_ids=probe).logits
        reloaded = PeftModel.from_pretrained(load_causal(DATA_DIR / "llama_gqa"), DATA_DIR / "llama_gqa_adapter")
        assert torch.equal(in_memory, reloaded(input_ids=probe).logits), "reloaded adapter changes the logits"
    print("llama_gqa: saved checkpoint + adapter reload to bit-identical logits")


def llama_gqa_inputs():
    input_ids = random_tokens(seeded_generator(4), 2, 12)
    labels = input_ids.clone()
    labels[0, :4] = IGNORE_INDEX  # a masked prompt
    labels[1, 6] = IGNORE_INDEX
    labels[1, 9] = IGNORE_INDEX
    return input_ids, labels


def case_llama_gqa():
    build_llama_gqa()
    input_ids, labels = llama_gqa_inputs()
    observed, reference = golden_causal_with_adapter(
        DATA_DIR / "llama_gqa", DATA_DIR / "llama_gqa_adapter", input_ids, labels
    )
    compare_to_reference("llama_gqa", observed, reference)
    write_golden("llama_gqa_golden.safetensors", {"input_ids": input_ids, "labels": labels, **reference})


def quantize_decoder_linears(model):
    """Replaces every decoder-layer projection weight by its NF4 + double-quant round trip."""
    with torch.no_grad():
        for name, module in model.model.layers.named_modules():
            if name.rsplit(".", 1)[-1] in LORA_PROJECTIONS:
                roundtrip = nf4_double_quant_roundtrip(module.weight.detach().numpy())
                module.weight.copy_(torch.from_numpy(roundtrip["dequant"]))


def decoder_linear_weights(model_dir):
    weights = safetensors.numpy.load_file(str(Path(model_dir) / "model.safetensors"))
    return {
        name: w for name, w in sorted(weights.items())
        if name.startswith("model.layers.") and name.split(".")[-2] in LORA_PROJECTIONS
    }


def case_llama_gqa_nf4():
    input_ids, labels = llama_gqa_inputs()
    observed, reference = golden_causal_with_adapter(
        DATA_DIR / "llama_gqa", DATA_DIR / "llama_gqa_adapter", input_ids, labels, quantize_decoder_linears
    )
    compare_to_reference("llama_gqa_nf4", observed, reference)
    write_golden("llama_gqa_nf4_golden.safetensors", {"input_ids": input_ids, "labels": labels, **reference})
    print("llama_gqa_nf4: NumPy vs bitsandbytes on the 14 decoder weights:")
    print("  " + bitsandbytes_cross_check(decoder_linear_weights(DATA_DIR / "llama_gqa")).replace("\n", "\n  "))


def case_nf4_unit():
    """One weight whose absmax vector spans two double-quant blocks (258 = 256 + 2), with an
    all-zero 64-block and a few outliers, plus every intermediate of the round trip."""
    generator = seeded_generator(5)
    weight = 0.02 * torch.randn((64, 258), generator=generator, dtype=torch.float32)
    weight[0, :64] = 0.0  # exactly the first 64-block
    weight[10, 5] = 0.5
    weight[40, 200] = -0.8
    weight = weight.numpy()
    roundtrip = nf4_double_quant_roundtrip(weight)
    tensors = {
        "weight": weight,
        "nf4_code": NF4_CODE,
        "dynamic_map": roundtrip["dynamic_map"],
        "absmax": roundtrip["absmax"],
        "offset": np.array([roundtrip["offset"]], dtype=np.float32),
        "absmax_scale": roundtrip["absmax_scale"],
        "absmax_index": roundtrip["absmax_index"].astype(np.float32),
        "absmax_dq": roundtrip["absmax_dq"],
        "dequant": roundtrip["dequant"],
    }
    safetensors.numpy.save_file(tensors, str(DATA_DIR / "nf4_golden.safetensors"))
    print("nf4_unit: NumPy vs bitsandbytes:")
    print("  " + bitsandbytes_cross_check({"weight": weight}).replace("\n", "\n  "))


def write_classic_rope_config(config_path):
    """transformers 5 writes "rope_parameters"; checkpoints on the Hub (Llama-2, Llama-3.1) carry
    top-level "rope_theta" and "rope_scaling". This case keeps the Hub form, llama_gqa the new one."""
    config = json.loads(config_path.read_text())
    rope = config.pop("rope_parameters")
    config["rope_theta"] = rope.pop("rope_theta")
    config["rope_scaling"] = rope
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def logits_and_loss(model, input_ids, labels):
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits
    return {"logits": logits, "loss": causal_lm_loss(logits, labels).reshape(1)}


def case_llama_mqa_llama3():
    torch.manual_seed(0)
    model = LlamaForCausalLM._from_config(llama_mqa_llama3_config(), attn_implementation="eager")
    randomize_llama_weights(model, seed=6)
    model.save_pretrained(DATA_DIR / "llama_mqa_llama3", safe_serialization=True)
    write_classic_rope_config(DATA_DIR / "llama_mqa_llama3" / "config.json")
    input_ids = random_tokens(seeded_generator(7), 2, 40, high=256)
    reloaded = load_causal(DATA_DIR / "llama_mqa_llama3")
    assert reloaded.lm_head.weight.data_ptr() == reloaded.model.embed_tokens.weight.data_ptr(), "embeddings not tied"
    with torch.no_grad():
        assert torch.equal(model(input_ids=input_ids).logits, reloaded(input_ids=input_ids).logits), \
            "the rope_theta/rope_scaling form of config.json loads differently"
    model = reloaded

    labels = input_ids.clone()
    labels[0, :10] = IGNORE_INDEX
    observed = logits_and_loss(model, input_ids, labels)
    hf_loss = model(input_ids=input_ids, labels=labels).loss
    assert torch.allclose(hf_loss, observed["loss"][0], rtol=1e-6, atol=0), "loss convention differs from HF"
    reference = float64_reference(model, lambda m: logits_and_loss(m, input_ids, labels))
    compare_to_reference("llama_mqa_llama3", observed, reference)
    write_golden("llama_mqa_llama3_golden.safetensors", {"input_ids": input_ids, "labels": labels, **reference})


def seqcls_scores(peft_model, input_ids, attention_mask):
    with torch.no_grad():
        scores = peft_model(input_ids=input_ids, attention_mask=attention_mask).logits
        with peft_model.disable_adapter():
            base_scores = peft_model(input_ids=input_ids, attention_mask=attention_mask).logits
    return {"scores": scores, "base_scores": base_scores}


def case_llama_seqcls():
    config = llama_gqa_config()
    config.num_labels = 1
    config.pad_token_id = 0
    torch.manual_seed(0)
    model = LlamaForSequenceClassification._from_config(config, attn_implementation="eager")
    body = load_causal(DATA_DIR / "llama_gqa").model.state_dict()
    model.model.load_state_dict(body)
    with torch.no_grad():
        model.score.weight.copy_(0.1 * torch.randn(model.score.weight.shape, generator=seeded_generator(8)))
    model.save_pretrained(DATA_DIR / "llama_seqcls", safe_serialization=True)

    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                      task_type=TaskType.SEQ_CLS, bias="none")
    peft_model = get_peft_model(model, lora)
    randomize_lora_weights(peft_model, seed=9)
    with torch.no_grad():  # the adapter's own copy of the head differs from the checkpoint's
        trained_head = peft_model.base_model.model.score.modules_to_save["default"].weight
        trained_head.copy_(0.1 * torch.randn(trained_head.shape, generator=seeded_generator(10)))
    save_adapter(peft_model, DATA_DIR / "llama_seqcls_adapter")

    lengths = [12, 7, 3]
    input_ids = random_tokens(seeded_generator(11), len(lengths), max(lengths))
    for row, length in enumerate(lengths):
        input_ids[row, length:] = config.pad_token_id
    attention_mask = (input_ids != config.pad_token_id).to(torch.int64)

    reloaded = PeftModel.from_pretrained(
        LlamaForSequenceClassification.from_pretrained(DATA_DIR / "llama_seqcls", attn_implementation="eager"),
        DATA_DIR / "llama_seqcls_adapter",
    )
    observed = seqcls_scores(reloaded, input_ids, attention_mask)
    assert torch.equal(observed["scores"], seqcls_scores(peft_model, input_ids, attention_mask)["scores"])
    reference = float64_reference(reloaded, lambda m: seqcls_scores(m, input_ids, attention_mask))
    compare_to_reference("llama_seqcls", observed, reference)
    last_token = torch.tensor([length - 1 for length in lengths])
    write_golden("llama_seqcls_golden.safetensors",
                 {"input_ids": input_ids, "last_token": last_token, **reference})


# ----------------------------------------------------------------------------------------------
# training-step semantics: PEFT LoRA + torch AdamW + clip_grad_norm_ + transformers' cosine
# schedule with warmup, over packed documents and completion-only masks

TRAIN_SEQ = 24         # tokens per row; a micro-batch of 2 rows is 48 LM-head rows (> one 32-row chunk)
TRAIN_STEPS = 5
TRAIN_LR = 2e-3
TRAIN_WARMUP = 2
TRAIN_WEIGHT_DECAY = 0.05
TRAIN_ADAM_EPS = 1e-6
TRAIN_MAX_GRAD_NORM = 0.05  # well below every step's gradient norm (about 0.3): every step clips


def train_runs():
    """Two SFT runs over the llama_gqa checkpoint and adapter. `docs`: packed_docs rows (two to
    four documents per row, positions restart and attention stays inside a document),
    micro-batch 2 x 2 accumulation steps. `mask`: padded rows with a completion-only loss
    mask (prompt and padding masked, pad id 0), micro-batch 2 x 1 step. Rows are listed in
    the order the steps consume them."""
    generator = seeded_generator(12)
    runs = {}
    rows = TRAIN_STEPS * 2 * 2
    tokens = random_tokens(generator, rows, TRAIN_SEQ)
    doc_index = torch.zeros(rows, TRAIN_SEQ, dtype=torch.int64)
    for row in range(rows):
        cuts = sorted(torch.randperm(TRAIN_SEQ - 4, generator=generator)[: 1 + row % 3].add(2).tolist())
        for cut in cuts:
            doc_index[row, cut:] += 1
    runs["docs"] = {"tokens": tokens, "doc_index": doc_index, "loss_mask": torch.ones_like(tokens),
                    "micro": 2, "accum": 2}
    rows = TRAIN_STEPS * 2
    tokens = random_tokens(generator, rows, TRAIN_SEQ)
    loss_mask = torch.zeros(rows, TRAIN_SEQ, dtype=torch.int64)
    for row in range(rows):
        length = int(torch.randint(10, TRAIN_SEQ + 1, (1,), generator=generator))
        prompt = int(torch.randint(2, length - 3, (1,), generator=generator))
        tokens[row, length:] = 0
        loss_mask[row, prompt:length] = 1
    runs["mask"] = {"tokens": tokens, "doc_index": torch.zeros_like(tokens), "loss_mask": loss_mask,
                    "micro": 2, "accum": 1}
    return runs


def documents_of_row(tokens, doc_index, loss_mask):
    """(input_ids, labels) per document of one row: a document is a run of equal doc_index; its
    labels are its ids with -100 where loss_mask is 0 (HF shifts them: labels[t + 1] is the
    target of position t). Trailing padding (mask 0 to the end) is dropped."""
    last = int(loss_mask.nonzero().max()) + 1
    segments = []
    start = 0
    for t in range(1, last + 1):
        if t == last or doc_index[t] != doc_index[start]:
            ids = tokens[start:t]
            labels = torch.where(loss_mask[start:t] > 0, ids, torch.full_like(ids, IGNORE_INDEX))
            segments.append((ids, labels))
            start = t
    return segments


def sft_train(peft_model, run, max_grad_norm, dtype):
    """TRAIN_STEPS optimizer steps as transformers' Trainer takes them: the loss of a step is the
    summed token loss over all its micro-batches divided by the step's target count, then
    clip_grad_norm_, AdamW.step, scheduler.step. Returns per-step loss, pre-clip norm, lr and
    the final LoRA weights (saved key names)."""
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=TRAIN_LR, betas=(0.9, 0.999), eps=TRAIN_ADAM_EPS,
                                  weight_decay=TRAIN_WEIGHT_DECAY)
    scheduler = transformers.get_cosine_schedule_with_warmup(optimizer, TRAIN_WARMUP, TRAIN_STEPS)
    rows_per_step = run["micro"] * run["accum"]
    losses, norms, lrs = [], [], []
    for step in range(TRAIN_STEPS):
        optimizer.zero_grad(set_to_none=True)
        segments = []
        for row in range(step * rows_per_step, (step + 1) * rows_per_step):
            segments += documents_of_row(run["tokens"][row], run["doc_index"][row], run["loss_mask"][row])
        units = sum(int((labels[1:] != IGNORE_INDEX).sum()) for _, labels in segments)
        loss_sum = 0.0
        for ids, labels in segments:
            if len(ids) < 2:
                continue
            logits = peft_model(input_ids=ids[None]).logits[0]
            loss_sum = loss_sum + F.cross_entropy(logits[:-1], labels[1:], ignore_index=IGNORE_INDEX, reduction="sum")
        loss = loss_sum / units
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm if max_grad_norm > 0 else float("inf"))))
        lrs.append(scheduler.get_last_lr()[0])
        losses.append(float(loss))
        optimizer.step()
        scheduler.step()
    weights = {saved_lora_key(name): p.detach().clone() for name, p in peft_model.named_parameters() if p.requires_grad}
    return {"loss": torch.tensor(losses, dtype=torch.float64), "grad_norm": torch.tensor(norms, dtype=torch.float64),
            "learning_rate": torch.tensor(lrs, dtype=torch.float64), **weights}


def trainable_llama_gqa(dtype):
    peft_model = PeftModel.from_pretrained(load_causal(DATA_DIR / "llama_gqa"), DATA_DIR / "llama_gqa_adapter",
                                           is_trainable=True)
    return peft_model.double() if dtype == torch.float64 else peft_model


def max_weight_diff(a, b):
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a if k.endswith(".weight"))


def case_train_steps():
    tensors = {}
    for name, run in train_runs().items():
        observed = sft_train(trainable_llama_gqa(torch.float32), run, TRAIN_MAX_GRAD_NORM, torch.float32)
        with native_precision():
            reference = sft_train(trainable_llama_gqa(torch.float64), run, TRAIN_MAX_GRAD_NORM, torch.float64)
            unclipped = sft_train(trainable_llama_gqa(torch.float64), run, 0.0, torch.float64)
        assert (reference["grad_norm"] > TRAIN_MAX_GRAD_NORM).all(), "a step does not clip"
        print(f"train_steps/{name}: loss {[round(x, 6) for x in reference['loss'].tolist()]}")
        print(f"  grad_norm {[round(x, 6) for x in reference['grad_norm'].tolist()]}")
        print(f"  learning_rate {reference['learning_rate'].tolist()}")
        print(f"  f32 vs f64: max|loss diff| = {(observed['loss'] - reference['loss']).abs().max():.3e}, "
              f"max|adapter diff| = {max_weight_diff(observed, reference):.3e}")
        print(f"  without clipping the adapter moves by up to {max_weight_diff(unclipped, reference):.3e}")
        tensors[f"{name}.tokens"] = run["tokens"]
        tensors[f"{name}.doc_index"] = run["doc_index"]
        tensors[f"{name}.loss_mask"] = run["loss_mask"]
        tensors[f"{name}.micro_batch"] = torch.tensor([run["micro"]])
        tensors[f"{name}.grad_accum"] = torch.tensor([run["accum"]])
        for key, value in reference.items():
            tensors[f"{name}.{key}"] = value.reshape(-1) if value.dim() == 0 else value
    tensors["settings"] = torch.tensor([TRAIN_STEPS, TRAIN_LR, TRAIN_WARMUP, TRAIN_WEIGHT_DECAY, TRAIN_ADAM_EPS,
                                        TRAIN_MAX_GRAD_NORM], dtype=torch.float64)
    write_golden("train_steps_golden.safetensors", tensors)


def case_clip_grad_norm():
    """torch.nn.utils.clip_grad_norm_ over three tensors (as one flat vector in loom): a max_norm
    that clips, one just above the norm (no clipping) and 0 < norm < max_norm edge."""
    generator = seeded_generator(13)
    parts = [torch.randn(shape, generator=generator) * scale for shape, scale in [((37, 5), 0.3), ((1000,), 0.01), ((4, 64), 2.0)]]
    flat = torch.cat([p.reshape(-1) for p in parts])
    tensors = {"grads": flat}
    for label, max_norm in [("clip", 1.5), ("noclip", 100.0)]:
        clones = [p.clone().requires_grad_(True) for p in parts]
        for c, p in zip(clones, parts):
            c.grad = p.clone()
        norm = torch.nn.utils.clip_grad_norm_(clones, max_norm)
        tensors[f"{label}.max_norm"] = torch.tensor([max_norm])
        tensors[f"{label}.norm"] = norm.reshape(1)
        tensors[f"{label}.clipped"] = torch.cat([c.grad.reshape(-1) for c in clones])
    write_golden("clip_grad_norm_golden.safetensors", tensors)


# ----------------------------------------------------------------------------------------------
# PPO: TRL's classic PPOTrainer arithmetic (trl 0.11, ppo_trainer.py compute_rewards,
# compute_advantages and loss; core.py masked_mean / masked_var / masked_whiten), over a
# left-padded batch of three responses of different lengths (TRL's code whitens the padding
# too, so with right padding a whitened reward would leak into the last response token)


def masked_mean(values, mask):
    return (values * mask).sum() / mask.sum()


def masked_var(values, mask):
    mean = masked_mean(values, mask)
    centered = values - mean
    variance = masked_mean(centered**2, mask)
    return variance * mask.sum() / (mask.sum() - 1)  # unbiased (Bessel)


def masked_whiten(values, mask, shift_mean=True):
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    return whitened if shift_mean else whitened + mean


def trl_compute_rewards(scores, logprobs, ref_logprobs, mask, beta):
    kl = logprobs - ref_logprobs  # kl_penalty "kl"
    rewards = -beta * kl
    for row in range(rewards.shape[0]):
        rewards[row, int(mask[row].nonzero()[-1])] += scores[row]
    return rewards * mask, kl * mask


def trl_compute_advantages(values, rewards, mask, gamma, lam, whiten_rewards):
    values = values * mask
    rewards = rewards * mask
    if whiten_rewards:
        rewards = masked_whiten(rewards, mask, shift_mean=False)
    lastgaelam = 0
    advantages_reversed = []
    length = rewards.shape[-1]
    for t in reversed(range(length)):
        nextvalues = values[:, t + 1] if t < length - 1 else 0.0
        delta = rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam = delta + gamma * lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.stack(advantages_reversed[::-1]).transpose(0, 1)
    returns = advantages + values
    advantages = masked_whiten(advantages, mask)
    return advantages, returns


def trl_loss(old_logprobs, values, logprobs, vpreds, mask, advantages, returns, cliprange, cliprange_value, vf_coef):
    vpredclipped = torch.clamp(vpreds, values - cliprange_value, values + cliprange_value)
    vf_losses1 = (vpreds - returns) ** 2
    vf_losses2 = (vpredclipped - returns) ** 2
    vf_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), mask)
    vf_clipfrac = masked_mean(torch.gt(vf_losses2, vf_losses1).double(), mask)
    ratio = torch.exp(logprobs - old_logprobs)
    pg_losses = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    pg_loss = masked_mean(torch.max(pg_losses, pg_losses2), mask)
    pg_clipfrac = masked_mean(torch.gt(pg_losses2, pg_losses).double(), mask)
    loss = pg_loss + vf_coef * vf_loss
    approxkl = 0.5 * masked_mean((logprobs - old_logprobs) ** 2, mask)
    policykl = masked_mean(old_logprobs - logprobs, mask)
    return loss, {"pg_loss": pg_loss, "vf_loss": vf_loss, "loss": loss, "pg_clipfrac": pg_clipfrac,
                  "vf_clipfrac": vf_clipfrac, "approxkl": approxkl, "policykl": policykl}


def case_ppo_step():
    """Three responses (5, 3 and 7 tokens) with rollout log-probs, reference log-probs, values and
    scores: the per-token KL, rewards, whitened advantages and returns (with and without
    whiten_rewards), then one minibatch loss with new log-probs and values: its statistics and
    the gradients d loss / d logprobs, d loss / d vpreds. Everything in float64; stored flat over
    the response tokens (response i is [offsets[i], offsets[i+1]))."""
    generator = seeded_generator(14)
    lengths = [5, 3, 7]
    width = max(lengths)
    mask = torch.zeros(len(lengths), width, dtype=torch.float64)
    for row, length in enumerate(lengths):  # left-padded as TRL batches them: the response ends the row
        mask[row, width - length:] = 1.0
    def draw(low, high):
        return (low + (high - low) * torch.rand((len(lengths), width), generator=generator, dtype=torch.float64)) * mask
    logprobs, ref_logprobs = draw(-3.0, -0.2), draw(-3.0, -0.2)
    values = draw(-1.0, 1.0)
    scores = torch.tensor([1.5, -0.7, 0.3], dtype=torch.float64)
    beta, gamma, lam = 0.2, 0.97, 0.9
    settings = {"cliprange": 0.2, "cliprange_value": 0.2, "vf_coef": 0.1}
    flat = lambda x: x[mask > 0]
    tensors = {"offsets": torch.tensor([0, 5, 8, 15]), "logprobs": flat(logprobs), "ref_logprobs": flat(ref_logprobs),
               "values": flat(values), "scores": scores, "beta_gamma_lam": torch.tensor([beta, gamma, lam]),
               "cliprange_cliprange_value_vf_coef": torch.tensor(list(settings.values()))}
    rewards, kl = trl_compute_rewards(scores, logprobs, ref_logprobs, mask, beta)
    tensors.update({"kl": flat(kl), "rewards": flat(rewards)})
    for whiten_rewards in (False, True):
        advantages, returns = trl_compute_advantages(values, rewards, mask, gamma, lam, whiten_rewards)
        suffix = ".whiten_rewards" if whiten_rewards else ""
        tensors["advantages" + suffix] = flat(advantages)
        tensors["returns" + suffix] = flat(returns)
    advantages, returns = trl_compute_advantages(values, rewards, mask, gamma, lam, False)
    new_logprobs = (logprobs + draw(-0.35, 0.35)).requires_grad_(True)
    vpreds = (values + draw(-0.4, 0.4)).requires_grad_(True)
    loss, stats = trl_loss(logprobs, values, new_logprobs, vpreds, mask, advantages, returns, **settings)
    loss.backward()
    tensors.update({"new_logprobs": flat(new_logprobs.detach()), "vpreds": flat(vpreds.detach()),
                    "dlogprobs": flat(new_logprobs.grad), "dvpreds": flat(vpreds.grad)})
    tensors.update({f"stats.{name}": value.detach().reshape(1) for name, value in stats.items()})
    print(f"ppo_step: pg_clipfrac {float(stats['pg_clipfrac']):.3f}, vf_clipfrac {float(stats['vf_clipfrac']):.3f}")
    write_golden("ppo_step_golden.safetensors", tensors)


def case_nf4_small():
    """The 3 x 100 weight x[i] = ((37 i mod 101) - 50)(1 + i // 64) / 64: five 64-blocks, whose
    absmax grows block by block, with its packed 4-bit bytes (first element in the high nibble),
    8-bit absmax indices, the 256-block scale, the offset and the round trip."""
    i = np.arange(300)
    weight = ((((i * 37) % 101) - 50) * (1 + i // 64) / 64.0).astype(np.float32).reshape(3, 100)
    roundtrip = nf4_double_quant_roundtrip(weight)
    index = roundtrip["nf4_index"]
    if index.size % 2:
        index = np.append(index, 7)  # an odd count pads with the index of 0.0
    packed = (index[0::2] << 4) | index[1::2]
    tensors = {
        "weight": weight,
        "packed": packed.astype(np.float32),
        "absmax_index": roundtrip["absmax_index"].astype(np.float32),
        "absmax_scale": roundtrip["absmax_scale"],
        "offset": np.array([roundtrip["offset"]], dtype=np.float32),
        "dequant": roundtrip["dequant"],
    }
    safetensors.numpy.save_file(tensors, str(DATA_DIR / "nf4_small_golden.safetensors"))
    print("nf4_small: NumPy vs bitsandbytes:")
    print("  " + bitsandbytes_cross_check({"weight": weight}).replace("\n", "\n  "))


def case_schedules_and_rope():
    """transformers' learning-rate schedules (lr read before each scheduler.step(), as the
    Trainer logs it) and RoPE inv_freq tables (default and Llama 3.1 scaling, head_dim 128),
    as JSON: the schedules' base learning rates must stay Python floats (doubles)."""
    cases = [("constant", 0.001, 5, 60), ("linear", 0.0002, 5, 60), ("cosine", 0.001, 5, 60),
             ("cosine", 1.41e-05, 0, 7), ("linear", 0.0003, 10, 10)]
    makers = {"constant": transformers.get_constant_schedule_with_warmup,
              "linear": transformers.get_linear_schedule_with_warmup,
              "cosine": transformers.get_cosine_schedule_with_warmup}
    schedules = []
    for kind, base_lr, warmup, total in cases:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
        if kind == "constant":
            scheduler = makers[kind](optimizer, warmup)
        else:
            scheduler = makers[kind](optimizer, warmup, total)
        lrs = []
        for _ in range(total + 1):
            lrs.append(float(np.float32(optimizer.param_groups[0]["lr"])))
            optimizer.step()
            scheduler.step()
        schedules.append({"kind": kind, "base_lr": base_lr, "warmup_steps": warmup, "total_steps": total,
                          "lr_f32": lrs})
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    def inv_freq(theta, scaling):
        config = LlamaConfig(hidden_size=128 * 4, num_attention_heads=4, head_dim=128, rope_theta=theta,
                             max_position_embeddings=131072, rope_scaling=scaling)
        if scaling is None:
            base = config.rope_parameters["rope_theta"]
            values = 1.0 / (base ** (torch.arange(0, 128, 2, dtype=torch.int64).to(dtype=torch.float) / 128))
        else:
            values, _ = ROPE_INIT_FUNCTIONS["llama3"](config, "cpu")
        return [int(v) for v in values.to(torch.float32).numpy().view(np.uint32)]
    llama3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
              "original_max_position_embeddings": 8192}
    tables = {
        "lr_schedules": schedules,
        "rope_inv_freq_bits": {
            "default_head_dim_128_theta_10000": inv_freq(10000.0, None),
            "llama3_head_dim_128_theta_500000": inv_freq(500000.0, llama3),
        },
    }
    (DATA_DIR / "schedules_rope_golden.json").write_text(json.dumps(tables, indent=1) + "\n")


LOOM_ADAPTER_PROMPTS = [4, 11, 2]  # prompt lengths
LOOM_ADAPTER_NEW_TOKENS = 16


def greedy_sequence(peft_model, prompt):
    """Greedy decoding one token at a time without a cache or padding."""
    ids = prompt.clone()
    with torch.no_grad():
        for _ in range(LOOM_ADAPTER_NEW_TOKENS):
            next_id = peft_model(input_ids=ids[None]).logits[0, -1].argmax()
            ids = torch.cat([ids, next_id.reshape(1)])
    return ids


def chosen_token_stats(peft_model, sequence, prompt_length):
    """Log-probs of the generated tokens and the top-2 logit margin at each generated position."""
    with torch.no_grad():
        logits = peft_model(input_ids=sequence[None]).logits[0, prompt_length - 1 : -1]
    chosen = sequence[prompt_length:]
    logprobs = torch.log_softmax(logits, dim=-1).gather(1, chosen[:, None])[:, 0]
    top2 = logits.topk(2, dim=-1).values
    return logprobs, top2[:, 0] - top2[:, 1], logits.argmax(dim=-1)


def case_loom_adapter():
    """An adapter written by loom's SFT path (data/loom_sft_adapter: the `docs` run of
    tests/test_train_steps_golden.cpp, copied there with LOOM_KEEP_TRAINED_ADAPTER) loaded with
    PeftModel.from_pretrained on llama_gqa: greedy continuations of three prompts and the
    log-probs of the chosen tokens, from a float64 pass over each whole sequence."""
    adapter_dir = DATA_DIR / "loom_sft_adapter"
    generator = seeded_generator(15)
    peft_model = PeftModel.from_pretrained(load_causal(DATA_DIR / "llama_gqa"), adapter_dir)
    reference_model = copy.deepcopy(peft_model).double()
    tensors, worst_margin, effect = {}, float("inf"), 0.0
    for index, length in enumerate(LOOM_ADAPTER_PROMPTS):
        prompt = random_tokens(generator, 1, length)[0]
        sequence = greedy_sequence(peft_model, prompt)
        with native_precision():
            logprobs, margin, argmax = chosen_token_stats(reference_model, sequence, length)
        assert torch.equal(argmax, sequence[length:]), "float64 greedy choice differs from float32"
        with torch.no_grad(), peft_model.disable_adapter():
            base_logprobs, _, _ = chosen_token_stats(peft_model, sequence, length)
        effect = max(effect, float((base_logprobs.double() - logprobs).abs().max()))
        worst_margin = min(worst_margin, float(margin.min()))
        tensors[f"prompt{index}"] = prompt
        tensors[f"sequence{index}"] = sequence
        tensors[f"logprobs{index}"] = logprobs
        tensors[f"top2_margin{index}"] = margin
    print(f"loom_adapter: smallest top-2 logit margin {worst_margin:.3e}, "
          f"adapter moves the chosen log-probs by up to {effect:.3f}")
    assert effect > 0.05, "the adapter barely changes the output"
    write_golden("loom_sft_adapter_golden.safetensors", tensors)


def write_versions():
    lines = [
        f"torch {torch.__version__}",
        f"transformers {transformers.__version__}",
        f"peft {peft.__version__}",
        f"numpy {np.__version__}",
        f"safetensors {safetensors.__version__}",
    ]
    (DATA_DIR / "versions.txt").write_text("\n".join(lines) + "\n")


def record_partial_versions(cases):
    """A partial run keeps versions.txt's first block (the full run) and records, per case, the
    versions that last wrote it."""
    path = DATA_DIR / "versions.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    stamp = (f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
             f"numpy {np.__version__}, safetensors {safetensors.__version__}")
    kept = [line for line in lines if not any(line.startswith(f"case {case}:") for case in cases)]
    path.write_text("\n".join(kept + [f"case {case}: {stamp}" for case in cases]) + "\n")


def report_adapter_files():
    for adapter in ["llama_gqa_adapter", "llama_seqcls_adapter"]:
        config = json.loads((DATA_DIR / adapter / "adapter_config.json").read_text())
        print(f"{adapter}: target_modules = {config['target_modules']}, "
              f"modules_to_save = {config.get('modules_to_save')}")
        for key in lora_adapter_keys(DATA_DIR / adapter):
            print(f"  {key}")


CASES = {
    "llama_gqa": case_llama_gqa,
    "llama_gqa_nf4": case_llama_gqa_nf4,
    "nf4_unit": case_nf4_unit,
    "llama_mqa_llama3": case_llama_mqa_llama3,
    "llama_seqcls": case_llama_seqcls,
    "train_steps": case_train_steps,
    "clip_grad_norm": case_clip_grad_norm,
    "ppo_step": case_ppo_step,
    "nf4_small": case_nf4_small,
    "schedules_rope": case_schedules_and_rope,
    "loom_adapter": case_loom_adapter,
}


def main():
    """No arguments: delete data/ and write every case. Case names as arguments: rewrite only
    those files (later cases read the llama_gqa checkpoint and adapter already in data/)."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    only = sys.argv[1:]
    unknown = [name for name in only if name not in CASES]
    if unknown:
        sys.exit(f"make_golden.py: unknown case(s) {unknown}; cases: {list(CASES)}")
    if not only:
        # loom_sft_adapter/ is written by loom (see case_loom_adapter), not by this script: kept.
        kept = {p.name: p.read_bytes() for p in (DATA_DIR / "loom_sft_adapter").glob("*")}
        if DATA_DIR.exists():
            shutil.rmtree(DATA_DIR)
        DATA_DIR.mkdir(parents=True)
        if kept:
            (DATA_DIR / "loom_sft_adapter").mkdir()
            for name, data in kept.items():
                (DATA_DIR / "loom_sft_adapter" / name).write_bytes(data)
    for name, case in CASES.items():
        if not only or name in only:
            case()
    if only:
        record_partial_versions(only)
    else:
        write_versions()
        report_adapter_files()


if __name__ == "__main__":
    main()
