#include "train/config_file.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "core/check.h"
#include "train/option_names.h"

namespace loom {

namespace {

constexpr const char* kCommandLine = "command line";

// The key as written in the INI file: the command-line parser reports it with dashes (and
// with "=value" for an unknown --key=value).
std::string key_of(const po::error_with_option_name& e) {
  std::string name = e.get_option_name();
  name.erase(0, name.find_first_not_of('-'));
  return name.substr(0, name.find('='));
}

// The text given for `key` (the last occurrence), for error messages.
std::string given_value(const po::parsed_options& parsed, const std::string& key) {
  std::string value;
  for (const po::option& o : parsed.options)
    if (o.string_key == key && !o.value.empty()) value = o.value.back();
  return value;
}

// What the parsers read: every option of `options` and every alias of one of them. An alias is
// declared string-valued: every option takes exactly one token, so the parsers treat it alike,
// and its value is parsed under its key's type once canonical_options has renamed it.
po::options_description with_aliases(const po::options_description& options) {
  po::options_description all;
  all.add(options);
  for (const KeyAlias& alias : key_aliases())
    if (options.find_nothrow(alias.key, false)) all.add_options()(alias.alias, po::value<std::string>());
  return all;
}

std::vector<std::string> known_names(const po::options_description& parsable) {
  std::vector<std::string> names;
  for (const auto& option : parsable.options()) names.push_back(option->long_name());
  return names;
}

// Runs a Boost parser; its errors become one line naming `source` and the key, an unknown key
// with the nearest known name.
template <typename Parse>
po::parsed_options parse_or_fail(const std::string& source, const po::options_description& parsable, Parse parse) {
  try {
    po::parsed_options parsed = parse();
    for (const po::option& o : parsed.options) {
      const std::string token = o.original_tokens.empty() ? std::string() : o.original_tokens.front();
      LOOM_REQUIRE(!o.string_key.empty(), source, ": unexpected argument '", token,
                   "' (options are --section.key value)");
    }
    return parsed;
  } catch (const po::unknown_option& e) {
    LOOM_FAIL(source, ": unknown key '", key_of(e), "' (did you mean '", nearest_key(key_of(e), known_names(parsable)),
              "'?)");
  } catch (const po::invalid_command_line_syntax& e) {
    LOOM_FAIL(source, ": key '", key_of(e), "' needs a value");
  } catch (const po::error& e) {
    LOOM_FAIL(source, ": ", e.what());
  }
}

// One source's options with aliases renamed to their canonical keys (values translated where
// the alias says so), for `options`. A key given under two names in one source is refused,
// except an alias with a value map whose value agrees (train.bf16 = true beside
// run.compute = bf16). given_as: the name each key was given under, for error messages.
po::parsed_options canonical_options(const std::string& source, const po::parsed_options& parsed,
                                     const po::options_description& options,
                                     std::map<std::string, std::string>* given_as) {
  po::parsed_options canonical(&options);
  std::map<std::string, std::string> value_of_key;  // the (translated) value first given
  for (po::option o : parsed.options) {
    const std::string name = o.string_key;
    const KeyAlias* alias = find_alias(name);
    if (alias) {
      o.string_key = alias->key;
      if (alias->value_of && !o.value.empty()) {
        std::string value;
        LOOM_REQUIRE(alias->value_of(o.value.back(), &value), source, ": bad value '", o.value.back(), "' for key '",
                     name, "'");
        o.value = {value};
      }
    }
    const std::string value = o.value.empty() ? std::string() : o.value.back();
    const auto [first, fresh] = given_as->emplace(o.string_key, name);
    if (fresh) {
      value_of_key[o.string_key] = value;
    } else if (first->second != name) {
      const KeyAlias* translated = find_alias(first->second);
      if (!translated) translated = alias;
      LOOM_REQUIRE(translated->value_of, source, ": '", first->second, "' and '", name,
                   "' are two names of one key; give one of them");
      LOOM_REQUIRE(value_of_key[o.string_key] == value, source, ": '", first->second, "' and '", name,
                   "' disagree (", translated->alias, " sets ", translated->key, "); give one of them");
      continue;
    }
    canonical.options.push_back(o);
  }
  return canonical;
}

void store_or_fail(const std::string& source, const po::parsed_options& parsed,
                   const std::map<std::string, std::string>& given_as, po::variables_map& values) {
  const auto given_name = [&](const std::string& key) {
    const auto it = given_as.find(key);
    return it == given_as.end() ? key : it->second;
  };
  try {
    po::store(parsed, values);
  } catch (const po::multiple_occurrences& e) {
    LOOM_FAIL(source, ": key '", given_name(key_of(e)), "' is given more than once");
  } catch (const po::validation_error& e) {
    LOOM_FAIL(source, ": bad value '", given_value(parsed, key_of(e)), "' for key '", given_name(key_of(e)), "'");
  } catch (const po::error& e) {
    LOOM_FAIL(source, ": ", e.what());
  }
}

template <typename T>
std::string shortest_text(T value) {
  char digits[64];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  return std::string(digits, result.ptr);
}

// The INI spelling of one option's value; strings must survive Boost's INI reader, which
// trims surrounding blanks and cuts everything after '#'.
std::string value_text(const std::string& key, const boost::any& value) {
  if (const auto* s = boost::any_cast<std::string>(&value)) {
    const bool representable = s->find_first_of("#\n\r") == std::string::npos &&
                               (s->empty() || (!std::isspace(static_cast<unsigned char>(s->front())) &&
                                               !std::isspace(static_cast<unsigned char>(s->back()))));
    LOOM_REQUIRE(representable, "key '", key, "': value '", *s,
                 "' cannot be saved in an INI file ('#', line breaks and surrounding blanks are lost)");
    return *s;
  }
  if (const auto* b = boost::any_cast<bool>(&value)) return *b ? "true" : "false";
  if (const auto* i = boost::any_cast<int>(&value)) return std::to_string(*i);
  if (const auto* i = boost::any_cast<int64_t>(&value)) return std::to_string(*i);
  if (const auto* f = boost::any_cast<float>(&value)) return shortest_text(*f);
  if (const auto* d = boost::any_cast<double>(&value)) return shortest_text(*d);
  fail_at(__FILE__, __LINE__, cat("option '", key, "' has a value type effective_config_ini cannot write"));
}

}  // namespace

po::variables_map load_config(const po::options_description& options, const std::string& ini_path,
                              const std::vector<std::string>& overrides) {
  namespace style = po::command_line_style;
  po::variables_map values;
  const po::options_description parsable = with_aliases(options);
  // po::store keeps the first value it sees for a key, so the command line goes in first.
  const po::parsed_options command_line = parse_or_fail(kCommandLine, parsable, [&] {
    return po::command_line_parser(overrides)
        .options(parsable)
        .style(style::allow_long | style::long_allow_adjacent | style::long_allow_next)
        .run();
  });
  std::map<std::string, std::string> command_line_names;
  store_or_fail(kCommandLine, canonical_options(kCommandLine, command_line, options, &command_line_names),
                command_line_names, values);

  if (!ini_path.empty()) {
    LOOM_REQUIRE(!std::filesystem::is_directory(ini_path), ini_path, ": is a directory, not a config file");
    std::ifstream in(ini_path);
    LOOM_REQUIRE(in, ini_path, ": cannot read (", std::strerror(errno), ")");
    const po::parsed_options file =
        parse_or_fail(ini_path, parsable, [&] { return po::parse_config_file(in, parsable); });
    std::map<std::string, std::string> file_names;
    store_or_fail(ini_path, canonical_options(ini_path, file, options, &file_names), file_names, values);
  }

  try {
    po::notify(values);
  } catch (const po::required_option& e) {
    const std::string key = key_of(e);
    LOOM_FAIL("missing required key '", key, "' (set it in ", ini_path.empty() ? "the config file" : ini_path,
              " or with --", key, ")");
  }
  return values;
}

std::string effective_config_ini(const po::options_description& options, const po::variables_map& values) {
  std::vector<std::pair<std::string, std::string>> sections;  // name, body
  for (const auto& option : options.options()) {
    const std::string& name = option->long_name();
    const size_t dot = name.find('.');
    LOOM_ASSERT(dot != std::string::npos && dot > 0);
    const std::string section = name.substr(0, dot), key = name.substr(dot + 1);
    auto it = sections.begin();
    while (it != sections.end() && it->first != section) ++it;
    if (it == sections.end()) it = sections.insert(sections.end(), {section, ""});
    const auto found = values.find(name);
    if (found == values.end() || found->second.empty()) {
      it->second += cat("# ", key, " is not set\n");
    } else {
      const std::string value = value_text(name, found->second.value());
      it->second += cat(key, value.empty() ? " =" : " = ", value, "\n");
    }
  }
  std::string text;
  for (const auto& [section, body] : sections) text += cat(text.empty() ? "" : "\n", "[", section, "]\n", body);
  return text;
}

std::string alias_help(const po::options_description& options) {
  std::string text;
  for (const KeyAlias& alias : key_aliases()) {
    if (!options.find_nothrow(alias.key, false)) continue;
    text += cat("  --", alias.alias, " = --", alias.key, alias.values ? cat(" (", alias.values, ")") : "", "\n");
  }
  return text;
}

ConfigArguments split_config_arguments(int argc, const char* const* argv) {
  ConfigArguments arguments;
  const std::string config_prefix = "--config=";
  for (int i = 1; i < argc; ++i) {
    const std::string token = argv[i];
    if (token == "--help" || token == "-h") {
      arguments.help = true;
    } else if (token == "--config") {
      LOOM_REQUIRE(i + 1 < argc, kCommandLine, ": --config needs a file path");
      arguments.config_path = argv[++i];
    } else if (token.rfind(config_prefix, 0) == 0) {
      arguments.config_path = token.substr(config_prefix.size());
    } else {
      arguments.overrides.push_back(token);
    }
  }
  return arguments;
}

}  // namespace loom
