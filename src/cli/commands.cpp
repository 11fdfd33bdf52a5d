#include "cli/commands.h"

namespace loom::cli {

const Command* commands(int* count) {
  static const Command table[] = {
      {"init-model", "write a random-init HF checkpoint of any Llama shape", run_init_model},
      {"sft", "stage 1: supervised fine-tuning of a LoRA adapter (data-parallel under MPI)", run_sft},
      {"merge", "fold a LoRA adapter (and a SEQ_CLS head) into a full HF checkpoint", run_merge},
      {"generate", "sample continuations of prompts with the KV cache (greedy, temperature, top-k, top-p)", run_generate},
      {"reward", "stage 2: train a pairwise reward model (LoRA SEQ_CLS + score head)", run_reward},
      {"dpo", "align a LoRA policy on preference pairs with Direct Preference Optimization (TRL's DPOTrainer)", run_dpo},
      {"score", "rewards of pairs or texts from a reward model", run_score},
      {"ppo", "stage 3: PPO of the policy against a reward model (or AFINN) with a KL penalty to the reference", run_ppo},
      {"bench", "tokens/s, FLOP/s and peak memory of training steps or decoding on random weights", run_bench},
      {"tokenize", "text to token ids (or ids to text) with a model folder's tokenizer", run_tokenize},
      {"inspect", "print a checkpoint's config, parameter count and resident bytes per quantization", run_inspect},
      {"report", "an HTML page of a run: a plot per metric, first/last values, the effective config", run_report},
  };
  *count = sizeof(table) / sizeof(table[0]);
  return table;
}

}  // namespace loom::cli
