// Parsing a subcommand's own options (Boost.Program_Options): unknown options and bad
// values are one-line errors; --help prints the options and returns false.
#pragma once

#include <boost/program_options.hpp>
#include <string>

namespace loom::cli {

namespace po = boost::program_options;

// Returns false when --help was asked for (the usage has been printed).
bool parse_command_line(int argc, char** argv, const std::string& usage, const po::options_description& options,
                        const po::positional_options_description& positional, po::variables_map* out);

}  // namespace loom::cli
