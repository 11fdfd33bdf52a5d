#!/usr/bin/env python3
"""HH-RLHF dialogues as TRL conversational records, for `loom-prep --template trl --model DIR`.

    scripts/hh_to_chat.py messages|pairs|prompts IN.jsonl[.gz] OUT.jsonl

An HH-RLHF record is {"chosen", "rejected"}, each a whole dialogue "\\n\\nHuman: ...\\n\\nAssistant:
...". Each dialogue becomes a list of {"role", "content"} messages (user, assistant, user, ...,
assistant), which the model's chat template renders:
  messages: {"messages": chosen}                 (language modelling: SFT)
  pairs:    {"chosen": chosen, "rejected": rejected}  (preference with an implicit prompt, their
            shared leading messages: reward-model pairs)
  prompts:  {"prompt": [first user turn]}         (single-turn PPO prompts: short, whole)
A record whose turns do not alternate from a user turn to a final assistant turn, or that has
an empty turn, is skipped; the number skipped goes to stderr. Python's standard library only.
"""
import gzip
import os
import json
import re
import sys

TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")
ROLE = {"Human": "user", "Assistant": "assistant"}


def dialogue(text):
    """The messages of one HH dialogue, or None when it is not a well-formed conversation."""
    parts = TURN.split(text)
    if parts[0].strip():  # text before the first turn marker
        return None
    messages = [{"role": ROLE[name], "content": content.strip()} for name, content in zip(parts[1::2], parts[2::2])]
    expected = ["user", "assistant"] * (len(messages) // 2)
    if not messages or [m["role"] for m in messages] != expected:
        return None
    if any(not m["content"] for m in messages):
        return None
    return messages


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("messages", "pairs", "prompts"):
        sys.exit("usage: hh_to_chat.py messages|pairs|prompts IN.jsonl[.gz] OUT.jsonl")
    mode, source, target = sys.argv[1:]
    opener = gzip.open if source.endswith(".gz") else open
    written = skipped = 0
    with opener(source, "rt", encoding="utf-8") as lines, open(target + ".tmp", "w", encoding="utf-8") as out:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                record = error
            if not isinstance(record, dict):
                out.close()
                os.remove(target + ".tmp")
                sys.exit(f"{source}:{number}: not a JSON object" + (f": {record}" if isinstance(record, Exception) else ""))
            chosen = dialogue(record.get("chosen", ""))
            rejected = dialogue(record.get("rejected", "")) if mode == "pairs" else []
            if chosen is None or rejected is None:
                skipped += 1
                continue
            if mode == "messages":
                converted = {"messages": chosen}
            elif mode == "pairs":
                converted = {"chosen": chosen, "rejected": rejected}
            else:
                converted = {"prompt": chosen[:1]}
            out.write(json.dumps(converted, ensure_ascii=False) + "\n")
            written += 1
    os.replace(target + ".tmp", target)
    print(f"hh_to_chat: {written} records to {target}, {skipped} skipped (not alternating user/assistant turns)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
