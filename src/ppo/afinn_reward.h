// A transparent, deterministic reward for PPO checks: the AFINN sentiment lexicon
// (../shared/data/afinn/words.csv, "word,valence" with valences -5..+5). A response's score is
// the mean valence of its words found in the lexicon, 0 when none is. Words are the maximal
// runs of letters, digits, apostrophes and hyphens of the lowercased text (ASCII case folding),
// so the lexicon's multi-word entries ("can't stand") never match.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace loom::ppo {

class AfinnReward {
 public:
  // Errors name the file and the line.
  explicit AfinnReward(const std::string& csv_path);

  float score(std::string_view text) const;
  size_t size() const { return valence_.size(); }

 private:
  std::unordered_map<std::string, int> valence_;
};

}  // namespace loom::ppo
