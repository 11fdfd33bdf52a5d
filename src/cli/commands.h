// The subcommands of `loom`; each lives in its own cmd_<name>.cpp.
#pragma once

namespace loom::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);  // argv[0] is the command name
};

// All commands, in the order `loom --help` lists them.
const Command* commands(int* count);

}  // namespace loom::cli
