// Run configuration: an INI file plus command-line overrides, through Boost.Program_Options.
//
// Every option is named `section.key`; the INI file spells it as
//     [train]
//     learning_rate = 3e-4
// and the command line as `--train.learning_rate 3e-4` or `--train.learning_rate=3e-4`.
// The command line wins over the file, the file over the defaults. A key may also be given
// under an alias (train/option_names.h: loom's earlier names, train.bf16), but within one
// source under one name only. Unknown keys (with the nearest known name), bad values, a key
// given twice, a missing required key and an unreadable file are one-line errors that name
// the file (or "command line") and the key:
//     configs/x.ini: unknown key 'train.lr' (did you mean 'train.learning_rate'?)
//
// effective_config_ini() writes every option's effective value back as INI text under its
// canonical name; `loom` prints it at start and saves it beside the checkpoints as
// loom_config.ini. Loading that text again gives the same values.
#pragma once

#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace loom {

namespace po = boost::program_options;

// The name under which the effective configuration is saved in output_dir.
inline constexpr const char* kEffectiveConfigFileName = "loom_config.ini";

// Parses `overrides` (command-line tokens) and then the file at ini_path (skipped when
// empty) into a variables_map with defaults filled in and required options checked.
po::variables_map load_config(const po::options_description& options, const std::string& ini_path,
                              const std::vector<std::string>& overrides);

// INI text holding every option's effective value, grouped by section in the order the
// options were declared. Values are written so that load_config reads them back exactly
// (floats in their shortest round-trip form).
std::string effective_config_ini(const po::options_description& options, const po::variables_map& values);

// The aliases of `options`' keys for --help, one line each: "  --train.epochs = --train.num_train_epochs".
std::string alias_help(const po::options_description& options);

// A command's arguments split into what load_config needs: `--config PATH` (or
// `--config=PATH`), `--help` / `-h`, and every other token as an override, in order.
struct ConfigArguments {
  std::string config_path;  // empty when --config is absent
  bool help = false;
  std::vector<std::string> overrides;
};

// argv[0] is the command name and is skipped.
ConfigArguments split_config_arguments(int argc, const char* const* argv);

}  // namespace loom
