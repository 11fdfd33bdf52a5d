#!/usr/bin/env python3
"""Golden ids for loom's tokenizer.json reader, from Hugging Face tokenizers/transformers.

Writes tests/golden/data/tokenizers/ (run from the repository root, by hand; CI reads only the
committed files):

  gpt2-regex/     a small byte-level BPE trained on HH-RLHF text, GPT-2's split regex, merges
                  rewritten in the legacy "a b" string layout
  llama3-regex/   the same with Llama 3's Split regex + ByteLevel(use_regex=false), ignore_merges,
                  and a TemplateProcessing post-processor that adds <|begin_of_text|>
  bytelevel-noregex/  ByteLevel(use_regex=false, add_prefix_space=true), no split at all
  llama2/         golden.json only: the shared Llama-2 tokenizer.model converted by transformers
                  (LlamaTokenizerFast, add_bos_token=true) is 1.8 MB, too large to commit;
                  tests/cli/tokenizer_llama2_json.sh converts it again at test time when a Python
                  with transformers is given (LOOM_PYTHON), and the SentencePiece path is held to
                  the same ids without Python
  llama2-sentencepiece/  golden.json only: the same tokenizer.model read by sentencepiece (the
                  reference of loom's tokenizer.model path; it differs from the conversion on runs of
                  spaces)
  smollm2/        golden.json only: the real SmolLM2-135M-Instruct tokenizer in ../shared/data

Each folder's golden.json holds, for a fixed list of edge cases, transformers' ids without and with
special tokens and the decoded text (skip_special_tokens false and true), decode-only cases (every
prefix of the ids of a few multi-byte characters, so byte sequences that are not UTF-8), and for
every distinct HH-RLHF dialogue text (chosen and rejected) a line "COUNT IDS_MD5 DECODED_MD5":
the number of ids, the first 12 hex digits of the md5 of the ids written as decimals joined by single spaces, and of the decoded
text.

Usage: python make_tokenizer_golden.py [--shared ../shared/data] [--out tests/golden/data/tokenizers]
"""
import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys

import tokenizers
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, LlamaTokenizerFast

GPT2_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
MERGES = 400

# Texts as Python strings; bytes objects are not UTF-8 and are given to HF as
# bytes.decode("utf-8", "replace") (loom replaces malformed UTF-8 the same way before encoding).
EDGE_CASES = [
    "Hello world!", "", " ", "  ", "   leading spaces", "trailing spaces   ", "a  b   c    d",
    "\n", "\n\n", "\n\n\n\n", "line1\nline2\r\nline3\r\n\r\n", "\t\ttabs\tand spaces \t mixed \t",
    "mixed   \n\n  whitespace \n ", " \n", "\n ",
    "12345 3.14159 1,000,000 2024-01-01 0x1F 007", "1234567890123",
    "I'm can't won't they're we've he'd she'll I'M DON'T 'S 'Re",
    "café naïve résumé Ångström ÀÉÎÕÜ àéîõü İstanbul straße",
    "中文字符测试，日本語のテキスト、한국어 Ελληνικά русский العربية עברית हिन्दी",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇫🇷 ❤️",
    "\u00a0non-breaking\u2003em space\u3000ideographic\u200bzero width\u2028line sep\u0085nel",
    "▁already▁has▁metaspace ▁ ▁▁",
    "control \x00\x01\x1f\x7f chars",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "\n\nHuman: What is 2+2?\n\nAssistant: 4.",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "</s>", "<s>", "<s>Hello</s>", "Hello</s>world", "<|endoftext|>", "a<|im_start|>b", "<|im_start", "<|im_end|><|im_end|>",
    "<|begin_of_text|>x<|end_of_text|>", "< s>", "<unk>",
    "<0x0A> <0xFF> byte tokens spelled",
    b"Hello\xff world \xe2\x82 end \xc3",
    b"\xed\xa0\x80 surrogate \xf4\x90\x80\x80 too big \xc0\xaf overlong",
    "Tab\tafter\tword.   Dots... and -- dashes --- and ___ underscores",
    "https://example.com/path?q=1&r=2#frag email@example.org",
    "def f(x):\n    return x ** 2  # comment\n\n\nclass A:\n\tpass\n",
    "ＡＢＣ　full width １２３",
]
DECODE_TEXTS = ["😀é中", " 👨‍👩‍👧x", "é\n"]


def md5(text):
    """The first 12 hex digits of the md5 of `text` (48 bits: enough to tell texts apart, a third of the size)."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()[:12]


def case_text(case):
    return case.decode("utf-8", "replace") if isinstance(case, bytes) else case


def hh_texts(shared):
    texts, seen = [], set()
    with gzip.open(os.path.join(shared, "hh-rlhf", "harmless-base-test.jsonl.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            for key in ("chosen", "rejected"):
                if record[key] not in seen:
                    seen.add(record[key])
                    texts.append(record[key])
    return texts


def train(texts, pre_tokenizer, specials, ignore_merges=False):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + len(specials) + MERGES, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts[:1000], trainer=trainer)
    return tok


def save_folder(tok, folder, config):
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"), pretty=False)
    config = dict(config, tokenizer_class="PreTrainedTokenizerFast", clean_up_tokenization_spaces=False)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def legacy_merges(folder):
    """Rewrites the merges as "a b" strings, the layout of tokenizers before 0.20."""
    path = os.path.join(folder, "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    j["model"]["merges"] = [" ".join(pair) for pair in j["model"]["merges"]]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False, separators=(",", ":"))


def golden(folder, hh, out_folder):
    hf = AutoTokenizer.from_pretrained(folder)
    backend = hf.backend_tokenizer

    def decoded(ids, skip):
        text = backend.decode(ids, skip_special_tokens=skip)
        assert text == hf.decode(ids, skip_special_tokens=skip), (folder, ids)
        return text

    cases = []
    for case in EDGE_CASES:
        text = case_text(case)
        ids = hf(text, add_special_tokens=False).input_ids
        entry = {"text_hex": case.hex()} if isinstance(case, bytes) else {"text": case}
        entry.update(ids=ids, ids_special=hf(text, add_special_tokens=True).input_ids,
                     decoded=decoded(ids, False), decoded_skip=decoded(ids, True))
        cases.append(entry)
    decode_cases = []
    for text in DECODE_TEXTS:
        ids = hf(text, add_special_tokens=False).input_ids
        for n in range(1, len(ids) + 1):
            decode_cases.append({"ids": ids[:n], "decoded": decoded(ids[:n], False)})
    lines = []
    for encoding, text in zip(backend.encode_batch(hh, add_special_tokens=False), hh):
        ids = encoding.ids
        lines.append(f"{len(ids)} {md5(' '.join(map(str, ids)))} {md5(decoded(ids, False))}")
    specials = {name: getattr(hf, name + "_token_id") for name in ("bos", "eos", "pad")}
    result = {
        "versions": {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__},
        "vocab_size": len(hf), "special_ids": specials,
        "cases": cases, "decode_cases": decode_cases,
        "hh": {"file": "hh-rlhf/harmless-base-test.jsonl.gz", "texts": "chosen then rejected, each distinct text once",
               "lines": lines},
    }
    os.makedirs(out_folder, exist_ok=True)
    with open(os.path.join(out_folder, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{out_folder}: {len(cases)} cases, {len(lines)} HH texts, vocab {len(hf)}, specials {specials}")


def golden_sentencepiece(model, hh, out_folder):
    """The same record for tokenizer.model read by sentencepiece itself (what the slow LlamaTokenizer
    does: BOS added, no EOS). transformers' converted tokenizer.json differs from it on runs of spaces
    (" " is [29871] there, [259] here), so loom's two paths have one reference each."""
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    cases = []
    for case in EDGE_CASES:
        ids = sp.encode(case_text(case))
        entry = {"text_hex": case.hex()} if isinstance(case, bytes) else {"text": case}
        entry.update(ids=ids, ids_special=[sp.bos_id()] + ids, decoded=sp.decode(ids), decoded_skip=sp.decode(ids))
        cases.append(entry)
    decode_cases = []
    for text in DECODE_TEXTS:
        ids = sp.encode(text)
        decode_cases += [{"ids": ids[:n], "decoded": sp.decode(ids[:n])} for n in range(1, len(ids) + 1)]
    lines = []
    for ids in sp.encode(hh):
        lines.append(f"{len(ids)} {md5(' '.join(map(str, ids)))} {md5(sp.decode(ids))}")
    result = {
        "versions": {"sentencepiece": sentencepiece.__version__},
        "vocab_size": sp.get_piece_size(),
        "special_ids": {"bos": sp.bos_id(), "eos": sp.eos_id(), "pad": None if sp.pad_id() < 0 else sp.pad_id()},
        "cases": cases, "decode_cases": decode_cases,
        "hh": {"file": "hh-rlhf/harmless-base-test.jsonl.gz", "texts": "chosen then rejected, each distinct text once",
               "lines": lines},
    }
    os.makedirs(out_folder, exist_ok=True)
    with open(os.path.join(out_folder, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{out_folder}: {len(cases)} cases, {len(lines)} HH texts (sentencepiece)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default="../shared/data")
    parser.add_argument("--out", default="tests/golden/data/tokenizers")
    parser.add_argument("--llama2-json-only", metavar="DIR",
                        help="only convert the Llama-2 tokenizer.model into DIR (tokenizer.json + config), for tests")
    args = parser.parse_args()

    if args.llama2_json_only:
        convert_llama2(args.shared, args.llama2_json_only)
        return
    hh = hh_texts(args.shared)
    out = args.out
    if os.path.isdir(out):
        shutil.rmtree(out)

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = train(hh, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), specials)
    save_folder(tok, f"{out}/gpt2-regex", {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"})
    legacy_merges(f"{out}/gpt2-regex")
    golden(f"{out}/gpt2-regex", hh, f"{out}/gpt2-regex")

    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]
    split = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train(hh, split, specials, ignore_merges=True)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))]),
    ])
    save_folder(tok, f"{out}/llama3-regex",
                {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "pad_token": "<|end_of_text|>"})
    golden(f"{out}/llama3-regex", hh, f"{out}/llama3-regex")

    specials = ["<unk>", "<s>", "</s>"]
    tok = train(hh, pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False), specials)
    save_folder(tok, f"{out}/bytelevel-noregex", {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})
    golden(f"{out}/bytelevel-noregex", hh, f"{out}/bytelevel-noregex")

    llama2 = os.path.join(out, "llama2-tokenizer-json")
    convert_llama2(args.shared, llama2)
    golden(llama2, hh, f"{out}/llama2")
    shutil.rmtree(llama2)

    golden(os.path.join(args.shared, "smollm2-135m-instruct"), hh, f"{out}/smollm2")

    golden_sentencepiece(os.path.join(args.shared, "llama2-tokenizer", "tokenizer.model"), hh, f"{out}/llama2-sentencepiece")


def convert_llama2(shared, folder):
    """The Llama-2 tokenizer.model as transformers' LlamaTokenizerFast converts it, adding BOS as Llama-2's
    tokenizer_config.json says (add_bos_token true, add_eos_token false)."""
    source = folder + ".source"
    os.makedirs(source, exist_ok=True)
    shutil.copy(os.path.join(shared, "llama2-tokenizer", "tokenizer.model"), source)
    tok = LlamaTokenizerFast.from_pretrained(source, add_bos_token=True, add_eos_token=False, legacy=False)
    tok.save_pretrained(folder)
    os.remove(os.path.join(folder, "tokenizer.model")) if os.path.exists(os.path.join(folder, "tokenizer.model")) else None
    shutil.rmtree(source)


if __name__ == "__main__":
    sys.exit(main())
