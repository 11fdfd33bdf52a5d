#include "ppo/afinn_reward.h"

#include <cctype>
#include <fstream>

#include "core/check.h"

namespace loom::ppo {

namespace {

bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '\'' || c == '-';
}

}  // namespace

AfinnReward::AfinnReward(const std::string& csv_path) {
  std::ifstream in(csv_path);
  LOOM_REQUIRE(in.good(), csv_path, ": cannot open the AFINN lexicon");
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_number == 1 && line == "word,valence")) continue;
    const size_t comma = line.rfind(',');
    int value = 0;
    size_t used = 0;
    try {
      if (comma != std::string::npos) value = std::stoi(line.substr(comma + 1), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LOOM_REQUIRE(comma != std::string::npos && comma > 0 && used > 0 && used == line.size() - comma - 1, csv_path,
                 ":", line_number, ": expected 'word,valence', got '", line, "'");
    valence_[line.substr(0, comma)] = value;
  }
  LOOM_REQUIRE(!valence_.empty(), csv_path, ": the AFINN lexicon holds no words");
}

float AfinnReward::score(std::string_view text) const {
  double sum = 0.0;
  int found = 0;
  std::string word;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && is_word_char(text[i])) {
      word.push_back(char(std::tolower(static_cast<unsigned char>(text[i]))));
      continue;
    }
    if (word.empty()) continue;
    const auto it = valence_.find(word);
    if (it != valence_.end()) {
      sum += it->second;
      ++found;
    }
    word.clear();
  }
  return found == 0 ? 0.0f : float(sum / found);
}

}  // namespace loom::ppo
