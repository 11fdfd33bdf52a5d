"""Golden chat-template renders from transformers' apply_chat_template.

Writes tests/golden/chat/chat_golden.json: for each template (SmolLM2-135M-Instruct's from the
shared data folder, and the Llama-2-chat, Llama-3-instruct, Mistral-instruct and Zephyr
templates committed in tests/golden/chat/templates/) and each conversation below, with
add_generation_prompt off and on, the rendered text or the template's error, and for SmolLM2
the token ids (the rendered text encoded with add_special_tokens=False, as apply_chat_template
does) and transformers' assistant mask of a generation-marked copy of its template.

Run by hand from the repository root with a Python that has transformers and jinja2:

    $PYTHON tests/golden/make_chat_golden.py [SHARED_DATA_DIR]   # default ../shared/data

CI reads only the committed output (tests/test_chat_template.cpp).
"""

import json
import os
import sys

import jinja2
import transformers
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "chat", "chat_golden.json")

# Special tokens each public template is rendered with (their models' tokenizer_config.json).
PUBLIC_TEMPLATES = {
    "llama-2-chat": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "llama-3-instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral-instruct": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "zephyr": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
}

CONVERSATIONS = {
    "user": [{"role": "user", "content": "What is the capital of France?"}],
    "system_user": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name a colour."},
    ],
    "multi_turn": [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
        {"role": "assistant", "content": "Why did the chicken cross the road?"},
    ],
    "system_multi_turn": [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Sky colour?"},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Grass colour?"},
    ],
    "unicode_whitespace": [
        {"role": "user", "content": "  Café, 北京 and 🚀?\n"},
        {"role": "assistant", "content": " Ça va — très bien! ✓ \n\n"},
    ],
    "assistant_first": [
        {"role": "assistant", "content": "I speak first."},
        {"role": "user", "content": "Fine."},
    ],
}

# SmolLM2's template with transformers' generation markers around each assistant turn's
# content and end token, for the assistant mask loom finds by rendering prefixes.
SMOLLM2_MARKED = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' + '\n' }}{% endgeneration %}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def render(tokenizer, template, messages, add_generation_prompt, special_tokens):
    try:
        text = tokenizer.apply_chat_template(
            messages,
            chat_template=template,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            **special_tokens,
        )
        return {"text": text}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e)}


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared", "data")
    smol_dir = os.path.join(shared, "smollm2-135m-instruct")
    smol = AutoTokenizer.from_pretrained(smol_dir)
    with open(os.path.join(smol_dir, "chat_template.jinja"), encoding="utf-8") as f:
        smol_template = f.read()
    smol_specials = {k: v for k, v in smol.special_tokens_map.items() if isinstance(v, str)}

    templates = {"smollm2": (smol_template, smol_specials)}
    for name, specials in PUBLIC_TEMPLATES.items():
        with open(os.path.join(HERE, "chat", "templates", name + ".jinja"), encoding="utf-8") as f:
            templates[name] = (f.read(), specials)

    cases = []
    for name, (template, specials) in templates.items():
        for conv_name, messages in CONVERSATIONS.items():
            for add_generation_prompt in (False, True):
                case = {
                    "template": name,
                    "conversation": conv_name,
                    "add_generation_prompt": add_generation_prompt,
                }
                case.update(render(smol, template, messages, add_generation_prompt, specials))
                if name == "smollm2" and "text" in case:
                    case["ids"] = smol(case["text"], add_special_tokens=False)["input_ids"]
                    if not add_generation_prompt:
                        marked = smol.apply_chat_template(
                            messages,
                            chat_template=SMOLLM2_MARKED,
                            tokenize=True,
                            return_dict=True,
                            return_assistant_tokens_mask=True,
                        )
                        assert marked["input_ids"] == case["ids"], conv_name
                        case["assistant_mask"] = marked["assistant_masks"]
                cases.append(case)

    golden = {
        "transformers_version": transformers.__version__,
        "jinja2_version": jinja2.__version__,
        "special_tokens": {name: specials for name, (_, specials) in templates.items()},
        "conversations": CONVERSATIONS,
        "cases": cases,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
