#include "cli/commands.h"

namespace loom::cli {

const Command* commands(int* count) {
  static const Command table[] = {
      {"init-model", "write a random-init HF checkpoint of any Llama shape", run_init_model},
      {"sft", "stage 1: supervised fine-tuning of a LoRA adapter (data-parallel under MPI)", run_sft},
      {"inspect", "print a checkpoint's config, parameter count and resident bytes per quantization", run_inspect},
  };
  *count = sizeof(table) / sizeof(table[0]);
  return table;
}

}  // namespace loom::cli
