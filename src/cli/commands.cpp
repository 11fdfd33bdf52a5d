#include "cli/commands.h"

namespace loom::cli {

const Command* commands(int* count) {
  static const Command table[] = {
      {"placeholder", "", nullptr},
  };
  *count = 0;
  return table;
}

}  // namespace loom::cli
