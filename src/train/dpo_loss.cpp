#include "train/dpo_loss.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace loom {
namespace {

// -logsigmoid(z) = softplus(-z), stably, and its derivative -sigmoid(-z).
double neg_logsigmoid(double z, double* d_z) {
  *d_z = -1.0 / (1.0 + std::exp(z));
  return z > 0 ? std::log1p(std::exp(-z)) : -z + std::log1p(std::exp(z));
}

}  // namespace

DpoLossType parse_dpo_loss_type(const std::string& name, const std::string& key) {
  if (name == "sigmoid") return DpoLossType::Sigmoid;
  if (name == "hinge") return DpoLossType::Hinge;
  if (name == "ipo") return DpoLossType::Ipo;
  if (name == "robust") return DpoLossType::Robust;
  LOOM_FAIL(key, ": unknown loss type '", name, "' (expected sigmoid, hinge, ipo or robust)");
}

const char* dpo_loss_type_name(DpoLossType type) {
  switch (type) {
    case DpoLossType::Sigmoid: return "sigmoid";
    case DpoLossType::Hinge: return "hinge";
    case DpoLossType::Ipo: return "ipo";
    case DpoLossType::Robust: return "robust";
  }
  return "?";
}

DpoPairLoss dpo_pair_loss(const DpoPairLogps& p, const DpoLossParams& params) {
  const double beta = params.beta, ls = params.label_smoothing;
  const double chosen_ratio = p.policy_chosen - p.ref_chosen;
  const double rejected_ratio = p.policy_rejected - p.ref_rejected;
  const double delta = chosen_ratio - rejected_ratio;
  DpoPairLoss out;
  out.reward_chosen = beta * chosen_ratio;
  out.reward_rejected = beta * rejected_ratio;
  double d_delta = 0.0;  // d loss / d delta, for every type but ipo
  switch (params.type) {
    case DpoLossType::Sigmoid: {
      double d_z = 0.0;
      out.loss = neg_logsigmoid(beta * delta, &d_z);
      d_delta = beta * d_z;
      break;
    }
    case DpoLossType::Hinge:
      out.loss = std::max(0.0, 1.0 - beta * delta);
      d_delta = out.loss > 0.0 ? -beta : 0.0;  // torch.relu's gradient at 0 is 0
      break;
    case DpoLossType::Robust: {
      double d_clean = 0.0, d_flipped = 0.0;
      const double clean = neg_logsigmoid(beta * delta, &d_clean);     // -logsigmoid(beta delta)
      const double flipped = neg_logsigmoid(-beta * delta, &d_flipped);  // -logsigmoid(-beta delta)
      out.loss = ((1.0 - ls) * clean - ls * flipped) / (1.0 - 2.0 * ls);
      d_delta = ((1.0 - ls) * beta * d_clean + ls * beta * d_flipped) / (1.0 - 2.0 * ls);
      break;
    }
    case DpoLossType::Ipo: {
      const double nc = std::max(1, p.chosen_tokens), nr = std::max(1, p.rejected_tokens);
      const double gap = chosen_ratio / nc - rejected_ratio / nr - 1.0 / (2.0 * beta);
      out.loss = gap * gap;
      out.d_policy_chosen = 2.0 * gap / nc;
      out.d_policy_rejected = -2.0 * gap / nr;
      return out;
    }
  }
  out.d_policy_chosen = d_delta;
  out.d_policy_rejected = -d_delta;
  return out;
}

}  // namespace loom
