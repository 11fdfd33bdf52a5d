// The subcommands of `loom`; each lives in its own cmd_<name>.cpp.
#pragma once

namespace loom::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);  // argv[0] is the command name
};

// Each subcommand's entry point (argv[0] is the command name).
int run_inspect(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_init_model(int argc, char** argv);
int run_sft(int argc, char** argv);
int run_merge(int argc, char** argv);
int run_generate(int argc, char** argv);
int run_reward(int argc, char** argv);
int run_dpo(int argc, char** argv);
int run_score(int argc, char** argv);
int run_ppo(int argc, char** argv);
int run_tokenize(int argc, char** argv);
int run_report(int argc, char** argv);

// All commands, in the order `loom --help` lists them.
const Command* commands(int* count);

}  // namespace loom::cli
