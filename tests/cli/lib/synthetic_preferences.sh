# shellcheck shell=bash
# Sourced by the preference-learning tests (reward, DPO). write_synthetic_preferences FILE
# writes 240 HH-style pairs whose feature sits in the middle of the answer (chosen "... glad
# to help ...", rejected "... refuse to help ...", same ending). Every pair is distinct (topic x
# year), so an eval split holds texts the model never trained on.
write_synthetic_preferences() {
  local topics=(taxes gardening cooking travel music chess painting running birds history physics poetry)
  local repeat topic q
  for repeat in $(seq 20); do
    for topic in "${topics[@]}"; do
      q="\\n\\nHuman: Can you tell me about $topic in $((1900 + repeat))?\\n\\nAssistant:"
      printf '{"chosen": "%s Sure, I am glad to help you with %s today.", "rejected": "%s Sure, I refuse to help you with %s today."}\n' \
        "$q" "$topic" "$q" "$topic"
    done
  done >"$1"
}
