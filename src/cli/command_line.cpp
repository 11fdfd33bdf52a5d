#include "cli/command_line.h"

#include <iostream>

#include "core/check.h"

namespace loom::cli {

bool parse_command_line(int argc, char** argv, const std::string& usage, const po::options_description& options,
                        const po::positional_options_description& positional, po::variables_map* out) {
  po::options_description all(options);
  all.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), *out);
    if (out->count("help")) {
      std::cout << "usage: " << usage << "\n\n" << all << "\n";
      return false;
    }
    po::notify(*out);
  } catch (const po::error& e) {
    LOOM_FAIL("command line: ", e.what(), " (usage: ", usage, ")");
  }
  return true;
}

}  // namespace loom::cli
