#include "train/dpo_task.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/json_file.h"

namespace loom {
namespace {

constexpr uint64_t kRowSeedStride = 0x9E3779B97F4A7C15ull;

std::string reference_file(const DpoOptions& options) {
  return (std::filesystem::path(options.common.train.output_dir) / "reference_logps.json").string();
}

// What the precomputed reference log-probs depend on: a file that disagrees is recomputed.
nlohmann::json reference_identity(const DpoOptions& options, const data::ShardReader& reader,
                                  const std::string& split) {
  return {{"manifest", split == "train" ? options.train_pairs : options.eval_pairs},
          {"split", split},
          {"pairs", reader.num_records()},
          {"max_length", options.max_length},
          {"model", options.ref_model.empty() ? options.common.model.path : options.ref_model},
          {"quant", quant_mode_name(options.common.model.quant)}};
}

TokenBatch row_batch(const DpoPairRows& rows, int r) {
  return TokenBatch{1, int(rows.tokens[r].size()), rows.tokens[r].data(), rows.pos[r].data(), nullptr};
}

}  // namespace

void build_dpo_pair_rows(const int32_t* chosen, int chosen_len, const int32_t* rejected, int rejected_len,
                         int prompt_len, int eos_id, int max_length, int64_t id, DpoPairRows* rows) {
  const int full[2] = {chosen_len, rejected_len};
  const int32_t* source[2] = {chosen, rejected};
  for (int r = 0; r < 2; ++r) {
    rows->tokens[r].assign(source[r], source[r] + full[r]);
    if (rows->tokens[r].empty() || rows->tokens[r].back() != eos_id) rows->tokens[r].push_back(eos_id);
    const int len = max_length > 0 ? std::min(int(rows->tokens[r].size()), max_length) : int(rows->tokens[r].size());
    LOOM_REQUIRE(prompt_len < len, "pair ", id, ": its prompt of ", prompt_len,
                 " tokens leaves no completion within dpo.max_length ", max_length,
                 " (TRL drops such pairs; raise dpo.max_length or shorten the prompts)");
    rows->tokens[r].resize(len);
    rows->pos[r].resize(len);
    rows->targets[r].assign(len, -1);
    for (int t = 0; t < len; ++t) rows->pos[r][t] = t;
    // Position t predicts token t + 1; only completion tokens (index >= prompt_len) count.
    for (int t = std::max(0, prompt_len - 1); t + 1 < len; ++t) rows->targets[r][t] = rows->tokens[r][t + 1];
    rows->completion_tokens[r] = len - prompt_len;
  }
}

void load_dpo_pair(data::ShardReader& reader, int64_t id, int eos_id, int max_length, DpoPairRows* rows,
                   std::vector<int32_t>* chosen, std::vector<int32_t>* rejected) {
  chosen->resize(reader.row_len());
  rejected->resize(reader.row_len());
  data::PairLengths lengths;
  reader.read_pair(id, chosen->data(), rejected->data(), &lengths);
  build_dpo_pair_rows(chosen->data(), lengths.chosen, rejected->data(), lengths.rejected, lengths.prompt, eos_id,
                      max_length, id, rows);
}

DpoPairLoss dpo_pair_step(CausalLm& model, const DpoPairRows& rows, const double ref[2], const DpoLossParams& params,
                          const LoraContext& lora, uint64_t row_seed, float loss_scale, float* const row_grads[2],
                          size_t count, const Backend& backend, double policy[2]) {
  for (int r = 0; r < 2; ++r) {  // one forward + backward per row, into its own gradient buffer
    LoraContext row = lora;
    row.grads = row_grads[r];
    row.dropout_seed = row_seed + uint64_t(r) * kRowSeedStride;
    backend.fill(row_grads[r], 0.0f, count);
    policy[r] = -model.train_micro_batch(row_batch(rows, r), rows.targets[r].data(), row, 1.0f).loss_sum;
  }
  DpoPairLogps logps;
  logps.policy_chosen = policy[0];
  logps.policy_rejected = policy[1];
  logps.ref_chosen = ref[0];
  logps.ref_rejected = ref[1];
  logps.chosen_tokens = rows.completion_tokens[0];
  logps.rejected_tokens = rows.completion_tokens[1];
  const DpoPairLoss loss = dpo_pair_loss(logps, params);
  // row_grads hold d(-logp)/d(params), so d(loss)/d(params) = -d_policy * row_grads.
  const float weight[2] = {float(-loss.d_policy_chosen * loss_scale), float(-loss.d_policy_rejected * loss_scale)};
  for (int r = 0; r < 2; ++r) {
    backend.scale_inplace(row_grads[r], weight[r], count);
    backend.add_inplace(lora.grads, row_grads[r], count);
  }
  return loss;
}

void dpo_sequence_logps(CausalLm& model, const DpoPairRows& rows, const LoraContext& lora, double out[2],
                        std::vector<float>* scratch) {
  for (int r = 0; r < 2; ++r) {
    scratch->resize(rows.tokens[r].size());
    model.target_logprobs(scratch->data(), row_batch(rows, r), rows.targets[r].data(), lora);
    double sum = 0.0;
    for (size_t t = 0; t < rows.targets[r].size(); ++t)
      if (rows.targets[r][t] >= 0) sum += (*scratch)[t];
    out[r] = sum;
  }
}

DpoTask::DpoTask(const DpoOptions& options, const FrozenWeights& base, const TrainableLayout& layout,
                 const data::Tokenizer* tokenizer, const dist::Comm& comm, const Backend& backend)
    : ShardTask(options.train_pairs, options.eval_pairs, data::ShardKind::pairs, tokenizer, base.shape().V,
                options.common.train, options.sampling, comm),
      options_(options), backend_(backend), layout_(layout),
      max_length_(options.max_length), eos_id_(base.config().eos_token_id),
      model_(base, layout, 1, train_.row_len() + 1, options.common.model.gradient_checkpointing, backend),
      step_ids_(size_t(accum_) * micro_) {
  if (!options.ref_model.empty()) {
    ref_checkpoint_ = std::make_unique<HfCheckpoint>(options.ref_model);
    ref_base_ = std::make_unique<FrozenWeights>(*ref_checkpoint_, options.common.model.quant, backend);
    LOOM_REQUIRE(ref_base_->shape().C == base.shape().C && ref_base_->shape().L == base.shape().L &&
                     ref_base_->shape().V == base.shape().V && ref_base_->shape().F == base.shape().F &&
                     ref_base_->shape().NH == base.shape().NH && ref_base_->shape().NKV == base.shape().NKV,
                 options.ref_model, ": dpo.ref_model must have the policy's shape (", options.common.model.path, ")");
    ref_model_ = std::make_unique<CausalLm>(*ref_base_, layout, 1, train_.row_len() + 1, false, backend);
  }
  ArenaPlan plan;
  for (int r = 0; r < 2; ++r) plan.add<float>(layout.total());
  row_grad_arena_ = backend.make_arena("dpo row grads", plan.bytes());
  for (float*& grads : row_grads_) grads = row_grad_arena_.take<float>(layout.total());
}

DpoTask::~DpoTask() = default;

int64_t DpoTask::load_step() {
  if (options_.precompute_ref_log_probs) ensure_precomputed(train_, "train");
  for (int64_t& id : step_ids_) id = sampler_.next();
  return int64_t(step_ids_.size());
}

void DpoTask::reference_logps(data::ShardReader& reader, const std::string& split, int64_t id,
                              const DpoPairRows& rows, double out[2]) {
  const auto found = precomputed_.find(split);
  if (found != precomputed_.end()) {
    out[0] = found->second[size_t(id) * 2];
    out[1] = found->second[size_t(id) * 2 + 1];
    return;
  }
  LoraContext off;
  off.layout = &layout_;
  off.enabled = false;
  dpo_sequence_logps(ref_model_ ? *ref_model_ : model_, rows, off, out, &logp_scratch_);
}

void DpoTask::ensure_precomputed(data::ShardReader& reader, const std::string& split) {
  if (precomputed_.count(split)) return;
  const std::string path = reference_file(options_);
  const nlohmann::json identity = reference_identity(options_, reader, split);
  std::vector<float> table(size_t(reader.num_records()) * 2, 0.0f);
  int64_t found = 0;
  if (std::filesystem::exists(path)) {
    const nlohmann::json saved = parse_json_object(read_text_file(path), path);
    if (saved.contains(split) && saved[split].value("identity", nlohmann::json()) == identity) {
      const auto& values = saved[split]["logps"];
      LOOM_REQUIRE(values.is_array() && values.size() == table.size(), path, ": ", split,
                   ".logps must hold 2 numbers per pair");
      for (size_t i = 0; i < table.size(); ++i) {
        const double logp = values[i].is_number() ? values[i].get<double>() : 1.0;  // 1.0: not a number
        LOOM_REQUIRE(logp <= 0.0 && fits_float(logp), path, ": ", split, ".logps[", i,
                     "] must be a log-probability (a number <= 0), found ", values[i].dump());
        table[i] = static_cast<float>(logp);
      }
      found = 1;
    }
  }
  comm_.allreduce_sum(&found, 1);
  if (found != comm_.world) {  // compute: each rank its strided share, then summed
    std::fill(table.begin(), table.end(), 0.0f);
    for (int64_t id = comm_.rank; id < reader.num_records(); id += comm_.world) {
      load_dpo_pair(reader, id, eos_id_, max_length_, &rows_, &chosen_scratch_, &rejected_scratch_);
      double logps[2];
      reference_logps(reader, split, id, rows_, logps);
      table[size_t(id) * 2] = float(logps[0]);
      table[size_t(id) * 2 + 1] = float(logps[1]);
    }
    comm_.allreduce_sum(table.data(), table.size());
    if (comm_.rank == 0) {
      nlohmann::json saved = std::filesystem::exists(path)
                                 ? parse_json_object(read_text_file(path), path)
                                 : nlohmann::json::object();
      saved[split] = {{"identity", identity}, {"logps", table}};
      std::filesystem::create_directories(options_.common.train.output_dir);
      write_file_atomically(path, saved.dump());
      std::printf("dpo: reference log-probs of %lld %s pairs computed, kept in %s\n",
                  static_cast<long long>(reader.num_records()), split.c_str(), path.c_str());
    }
  }
  precomputed_[split] = std::move(table);
}

StepSums DpoTask::run_step(const LoraContext& lora, float loss_scale) {
  StepSums sums;
  double chosen_reward = 0, rejected_reward = 0, correct = 0, chosen_logp = 0, rejected_logp = 0;
  for (size_t p = 0; p < step_ids_.size(); ++p) {
    const int64_t id = step_ids_[p];
    load_dpo_pair(train_, id, eos_id_, max_length_, &rows_, &chosen_scratch_, &rejected_scratch_);
    double ref[2], policy[2];
    reference_logps(train_, "train", id, rows_, ref);
    const DpoPairLoss loss = dpo_pair_step(model_, rows_, ref, options_.loss, lora,
                                           lora.dropout_seed + uint64_t(p) * 2 * kRowSeedStride, loss_scale,
                                           row_grads_, layout_.total(), backend_, policy);
    sums.tokens += int64_t(rows_.tokens[0].size() + rows_.tokens[1].size());
    sums.loss_sum += loss.loss;
    chosen_reward += loss.reward_chosen;
    rejected_reward += loss.reward_rejected;
    correct += loss.reward_chosen > loss.reward_rejected;
    chosen_logp += policy[0];
    rejected_logp += policy[1];
  }
  sums.extra = {{"rewards/chosen", chosen_reward},
                {"rewards/rejected", rejected_reward},
                {"rewards/accuracies", correct},
                {"rewards/margins", chosen_reward - rejected_reward},
                {"logps/chosen", chosen_logp},
                {"logps/rejected", rejected_logp}};
  return sums;
}

MetricValues DpoTask::evaluate(const LoraContext& lora) {
  if (!eval_) return {};
  if (options_.precompute_ref_log_probs) ensure_precomputed(*eval_, "eval");
  LoraContext policy = lora;
  policy.grads = nullptr;
  policy.dropout = 0.0f;
  // sums: pairs, loss, rewards/chosen, rewards/rejected, accuracies, logps/chosen, logps/rejected
  double sums[7] = {0, 0, 0, 0, 0, 0, 0};
  for (int64_t id = comm_.rank; id < eval_->num_records(); id += comm_.world) {
    load_dpo_pair(*eval_, id, eos_id_, max_length_, &rows_, &chosen_scratch_, &rejected_scratch_);
    DpoPairLogps logps;
    double ref[2], pol[2];
    reference_logps(*eval_, "eval", id, rows_, ref);
    dpo_sequence_logps(model_, rows_, policy, pol, &logp_scratch_);
    logps = {pol[0], pol[1], ref[0], ref[1], rows_.completion_tokens[0], rows_.completion_tokens[1]};
    const DpoPairLoss loss = dpo_pair_loss(logps, options_.loss);
    const double add[7] = {1, loss.loss, loss.reward_chosen, loss.reward_rejected,
                           double(loss.reward_chosen > loss.reward_rejected), pol[0], pol[1]};
    for (int i = 0; i < 7; ++i) sums[i] += add[i];
  }
  comm_.allreduce_sum(sums, 7);
  const double pairs = std::max(sums[0], 1.0);
  return {{"eval_loss", sums[1] / pairs},
          {"eval_rewards/chosen", sums[2] / pairs},
          {"eval_rewards/rejected", sums[3] / pairs},
          {"eval_rewards/accuracies", sums[4] / pairs},
          {"eval_rewards/margins", (sums[2] - sums[3]) / pairs},
          {"eval_logps/chosen", sums[5] / pairs},
          {"eval_logps/rejected", sums[6] / pairs},
          {"eval_pairs", sums[0]}};
}


}  // namespace loom
