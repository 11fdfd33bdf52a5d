// The DPO losses of TRL's DPOTrainer on one preference pair, from the summed log-probs of the
// chosen and rejected completions under the policy and the reference:
//   delta = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
//   sigmoid  -logsigmoid(beta * delta)                         (TRL's default)
//   hinge    relu(1 - beta * delta)
//   ipo      (delta' - 1 / (2 beta))^2, delta' from log-ratios averaged over completion tokens
//   robust   ((1-ls) * -logsigmoid(beta delta) + ls * logsigmoid(-beta delta)) / (1 - 2 ls)
// and the implicit rewards beta * (policy - ref) that TRL logs as rewards/chosen, rewards/rejected.
#pragma once

#include <string>

namespace loom {

enum class DpoLossType { Sigmoid, Hinge, Ipo, Robust };

// "sigmoid" | "hinge" | "ipo" | "robust"; anything else fails naming `key`.
DpoLossType parse_dpo_loss_type(const std::string& name, const std::string& key);
const char* dpo_loss_type_name(DpoLossType type);

struct DpoLossParams {
  DpoLossType type = DpoLossType::Sigmoid;
  double beta = 0.1;
  double label_smoothing = 0.0;  // robust only (TRL requires 0 <= ls < 0.5 there)
};

// Summed log-probs of one pair's completions and the completion token counts.
struct DpoPairLogps {
  double policy_chosen = 0.0, policy_rejected = 0.0;
  double ref_chosen = 0.0, ref_rejected = 0.0;
  int chosen_tokens = 1, rejected_tokens = 1;
};

struct DpoPairLoss {
  double loss = 0.0;
  double d_policy_chosen = 0.0, d_policy_rejected = 0.0;  // d loss / d policy log-probs
  double reward_chosen = 0.0, reward_rejected = 0.0;      // beta * (policy - ref)
};

DpoPairLoss dpo_pair_loss(const DpoPairLogps& logps, const DpoLossParams& params);

}  // namespace loom
