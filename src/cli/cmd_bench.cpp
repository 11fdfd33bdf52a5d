// loom bench: throughput of LoRA training steps or of decoding, on random weights of any shape
// (a preset or a config.json) or on a model folder, in f32 or bf16 compute, with the figures
// and the command that made them.
//   train:  tokens/s over all ranks, model FLOP/s = 4 x N x tokens/s (N = parameters that
//           take part in matmuls: the decoder linears and the LM head; frozen-base LoRA costs
//           a forward 2N and an input-gradient 2N per token, no weight gradients), the
//           fraction of this machine's measured GEMM peak in the same compute mode (oneDNN
//           matmul 4096^3, timed in the same run after the steps), peak RSS.
//   decode: generated tokens/s for a batch, KV cache, greedy (the prompt's prefill included).
//   prefill: prompt tokens/s of the prompt's forward (and the first sampled token).
//   Both time --repeats identical generations after an untimed first one and report their
//   median, as bench/hf_baseline.py does: the first pays the one-off costs (the LM head's bf16
//   copy, scratch buffers growing); the median of several keeps a moment of load on a shared
//   machine out of the figure.
//   Random weights are drawn straight into the quantized base (no checkpoint is written);
//   the first line says how long that took.
//   --peak: only the oneDNN bf16 and f32 GEMM peaks (4096^3); with --gemm MxNxK (repeatable)
//           also bf16 GEMMs of those shapes with B in each layout the model's GEMMs read:
//           stored (K, N), stored (N, K), and packed where oneDNN reads that layout; with
//           --memory also a read-modify-write pass over buffers of 1 MiB to 512 MiB
//           (cli/bench_memory.h).
// Every rank runs the same work on its own data; the step includes the gradient all-reduce
// and the AdamW update, as in `loom sft`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/bench_memory.h"
#include "cli/command_line.h"
#include "cli/commands.h"
#include "backend/backend_factory.h"
#include "backend/timed_backend.h"
#include "core/aligned_buffer.h"
#include "core/check.h"
#include "core/runtime_tuning.h"
#include "core/rng.h"
#include "dist/comm.h"
#include "dist/thread_budget.h"
#include "io/hf_config.h"
#include "ops/bf16/onednn_gemm.h"
#include "ops/bf16/packed_weight_bf16.h"
#include "model/causal_lm.h"
#include "model/generator.h"
#include "model/random_init.h"
#include "train/metrics_log.h"
#include "train/trainable_state.h"

namespace loom::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t matmul_parameters(const LlamaConfig& c) {
  const LlamaShape s = llama_shape(c);
  int64_t n = 0;
  for (int id = 0; id < kNumLinears; ++id) n += int64_t(s.linear_out(LinearId(id))) * s.linear_in(LinearId(id));
  return n * s.L + int64_t(s.V) * s.C;
}

// The frozen base: a model folder read through the loader, or random weights of a preset or
// config.json shape drawn straight into the quantized base (model/random_init.h: no f32
// checkpoint is written, so a 7B shape needs no 27 GB of disk or memory).
std::unique_ptr<FrozenWeights> bench_weights(const po::variables_map& vm, QuantMode quant, const Backend& backend,
                                             std::string* label) {
  const int sources = int(vm.count("model")) + int(vm.count("config")) + int(!vm["preset"].defaulted());
  LOOM_REQUIRE(sources <= 1, "loom bench: give one of --preset, --config and --model");
  if (vm.count("model")) {
    *label = vm["model"].as<std::string>();
    return std::make_unique<FrozenWeights>(HfCheckpoint(*label), quant, backend);
  }
  LlamaConfig config;
  if (vm.count("config")) {
    *label = vm["config"].as<std::string>();
    config = load_llama_config(*label);
  } else {
    *label = vm["preset"].as<std::string>();
    LOOM_REQUIRE(is_llama_preset(*label), "--preset: unknown preset '", *label, "'");
    config = llama_preset(*label);
  }
  return std::make_unique<FrozenWeights>(config, quant, random_tensor_source(1, 0.02f), backend);
}

// Best of `reps` timed runs of `once`, a GEMM of 2 M N K FLOPs, after one warm-up, in FLOP/s.
template <class Gemm>
double best_gemm_rate(const Gemm& once, int M, int N, int K, int reps) {
  once();
  double best = 0.0;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    once();
    best = std::max(best, 2.0 * double(M) * N * K / seconds_since(start));
  }
  return best;
}

// n values of `value`, 64-byte aligned as the model's operands are (core/aligned_buffer.h: on
// 16-byte-aligned operands oneDNN's AMX GEMMs ran at a third of their speed)
template <typename T>
AlignedBuffer<T> filled(size_t n, T value) {
  AlignedBuffer<T> buffer;
  std::fill_n(buffer.reserve(n), n, value);
  return buffer;
}

// Best of `reps` timed oneDNN GEMMs (M = N = K = n) after one warm-up, in FLOP/s.
double measured_gemm_peak(int n, bool use_bf16, int reps) {
  const size_t count = size_t(n) * n;
  const AlignedBuffer<float> a = filled(count, 0.5f), b = filled(count, 0.25f), c = filled(count, 0.0f);
  const AlignedBuffer<uint16_t> ab = filled<uint16_t>(count, 0x3f00), bb = filled<uint16_t>(count, 0x3e80);  // bf16 0.5, 0.25
  return best_gemm_rate(
      [&] {
        if (use_bf16)
          bf16::gemm(c.data(), ab.data(), false, bb.data(), false, n, n, n, false);
        else
          bf16::gemm_f32(c.data(), a.data(), false, b.data(), false, n, n, n, false);
      },
      n, n, n, reps);
}

struct GemmShape {
  int M = 0, N = 0, K = 0;
};

GemmShape parse_gemm_shape(const std::string& text) {
  GemmShape s;
  char x1 = 0, x2 = 0, rest = 0;
  const int read = std::sscanf(text.c_str(), "%d%c%d%c%d%c", &s.M, &x1, &s.N, &x2, &s.K, &rest);
  LOOM_REQUIRE(read == 5 && x1 == 'x' && x2 == 'x' && s.M > 0 && s.N > 0 && s.K > 0,
               "--gemm: '", text, "' is not MxNxK with positive sizes (e.g. 1024x2816x1056)");
  return s;
}

// The bf16 GEMM c (M, N) = a (M, K) @ b (K, N) timed with b stored (K, N) row-major, stored
// (N, K) (the transposed operand: a weight (out, in) in a linear's forward) and, where oneDNN
// reads it (gemm_packed_b_available), packed; one line each, best of `reps`.
void print_gemm_shape(const GemmShape& s, int reps) {
  const AlignedBuffer<uint16_t> a = filled<uint16_t>(size_t(s.M) * s.K, 0x3f00);  // bf16 0.5
  const AlignedBuffer<uint16_t> b = filled<uint16_t>(size_t(s.K) * s.N, 0x3e80);  // bf16 0.25
  const AlignedBuffer<float> c = filled(size_t(s.M) * s.N, 0.0f);
  const double row_major = best_gemm_rate(
      [&] { bf16::gemm(c.data(), a.data(), false, b.data(), false, s.M, s.N, s.K, false); }, s.M, s.N, s.K, reps);
  std::printf("gemm bf16 %dx%dx%d, B (K, N): %.1f GFLOP/s (oneDNN %s)\n", s.M, s.N, s.K, row_major / 1e9,
              bf16::gemm_kernel_name(s.M, s.N, s.K, true).c_str());
  const double transposed = best_gemm_rate(
      [&] { bf16::gemm(c.data(), a.data(), false, b.data(), true, s.M, s.N, s.K, false); }, s.M, s.N, s.K, reps);
  std::printf("gemm bf16 %dx%dx%d, B (N, K): %.1f GFLOP/s\n", s.M, s.N, s.K, transposed / 1e9);
  if (!bf16::gemm_packed_b_available(s.M, s.N, s.K, false)) {
    std::printf("gemm bf16 %dx%dx%d, B packed: oneDNN does not read the packed layout for it here\n", s.M, s.N, s.K);
    return;
  }
  const AlignedBuffer<uint16_t> packed = filled<uint16_t>(bf16::packed_elements(s.N, s.K), 0x3e80);
  const double packed_rate = best_gemm_rate(
      [&] { bf16::gemm_packed_b(c.data(), a.data(), packed.data(), s.M, s.N, s.K, false); }, s.M, s.N, s.K, reps);
  std::printf("gemm bf16 %dx%dx%d, B packed: %.1f GFLOP/s\n", s.M, s.N, s.K, packed_rate / 1e9);
}

std::string command_line(int argc, char** argv) {
  std::string text = "loom";
  for (int i = 0; i < argc; ++i) text += std::string(" ") + argv[i];
  return text;
}

}  // namespace

int run_bench(int argc, char** argv) {
  po::options_description options("bench options");
  options.add_options()
      ("preset", po::value<std::string>()->default_value("tiny"), "model shape (loom init-model presets)")
      ("config", po::value<std::string>(), "model shape from a config.json (random weights)")
      ("model", po::value<std::string>(), "a model folder (config.json + safetensors)")
      ("compute", po::value<std::string>()->default_value("auto"), "auto | f32 | bf16 (backend/backend_factory.h)")
      ("peak", po::bool_switch(), "only time oneDNN's bf16 and f32 GEMMs on 4096^3")
      ("gemm", po::value<std::vector<std::string>>()->composing(),
       "with --peak: also time bf16 GEMMs of this shape, MxNxK (repeatable)")
      ("memory", po::bool_switch(), "with --peak: also time passes over buffers of 1 MiB to 512 MiB")
      ("mode", po::value<std::string>()->default_value("train"), "train | decode | prefill")
      ("quant", po::value<std::string>()->default_value("nf4"), "f32 | bf16 | int8 | nf4")
      ("lora", po::value<std::string>()->default_value("all-linear"), "LoRA target modules")
      ("r", po::value<int>()->default_value(16), "LoRA rank")
      ("seq", po::value<int>()->default_value(256), "train: tokens per sequence")
      ("micro-batch", po::value<int>()->default_value(4), "train: sequences per step and rank")
      ("gradient-checkpointing", po::bool_switch(), "train: recompute layer activations in backward")
      ("steps", po::value<int>()->default_value(5), "train: timed optimizer steps (after one warm-up step)")
      ("profile", po::bool_switch(), "train, decode, prefill: also print the time of each backend op")
      ("batch", po::value<int>()->default_value(1), "decode, prefill: sequences decoded together")
      ("prompt-tokens", po::value<int>()->default_value(16), "decode, prefill: random prompt tokens per sequence")
      ("new-tokens", po::value<int>()->default_value(64), "decode: tokens generated per sequence")
      ("repeats", po::value<int>()->default_value(1),
       "decode, prefill: timed generations after the warm-up; the figure is their median");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, "loom bench [--preset NAME | --config config.json | --model DIR] [--mode train|decode] [--compute f32|bf16|auto] | --peak",
                          options, {}, &vm))
    return 0;
  dist::Comm comm = dist::Comm::init(&argc, &argv);
  const int threads = dist::apply_thread_budget();
  LOOM_REQUIRE(!vm.count("gemm") || vm["peak"].as<bool>(), "loom bench: --gemm is an option of --peak");
  LOOM_REQUIRE(!vm["memory"].as<bool>() || vm["peak"].as<bool>(), "loom bench: --memory is an option of --peak");
  if (vm["peak"].as<bool>()) {
    std::vector<GemmShape> shapes;
    if (vm.count("gemm"))
      for (const std::string& text : vm["gemm"].as<std::vector<std::string>>()) shapes.push_back(parse_gemm_shape(text));
    LOOM_REQUIRE(shapes.empty() || cpu_has_native_bf16(), "--gemm: this CPU has no bf16 instructions");
    constexpr int kPeakN = 4096;
    const double bf16_peak = cpu_has_native_bf16() ? measured_gemm_peak(kPeakN, true, 3) : 0.0;
    const double f32_peak = measured_gemm_peak(kPeakN, false, 3);
    if (comm.rank == 0) {
      std::printf("# %s\n# %d thread(s) on %s\n", command_line(argc, argv).c_str(), threads, comm.host.c_str());
      if (cpu_has_native_bf16())
        std::printf("peak bf16: %.1f GFLOP/s (oneDNN %s, %d^3)\n", bf16_peak / 1e9,
                    bf16::gemm_kernel_name(kPeakN, kPeakN, kPeakN, true).c_str(), kPeakN);
      else
        std::printf("peak bf16: this CPU has no bf16 instructions\n");
      std::printf("peak f32: %.1f GFLOP/s (oneDNN %s, %d^3)\n", f32_peak / 1e9,
                  bf16::gemm_kernel_name(kPeakN, kPeakN, kPeakN, false).c_str(), kPeakN);
    }
    for (const GemmShape& shape : shapes)  // every rank times its own cores; rank 0 prints
      if (comm.rank == 0) print_gemm_shape(shape, 20);
    if (vm["memory"].as<bool>() && comm.rank == 0) print_memory_bandwidth();
    comm.finalize();
    return 0;
  }
  const ComputeMode compute_mode = parse_compute_mode(vm["compute"].as<std::string>(), "--compute");
  // With --profile the model runs on a TimedBackend around the chosen one.
  const TimedBackend* timed = nullptr;
  std::unique_ptr<Backend> backend = make_backend(compute_mode);
  if (vm["profile"].as<bool>()) {
    auto wrapper = std::make_unique<TimedBackend>(std::move(backend));
    timed = wrapper.get();
    backend = std::move(wrapper);
  }
  const bool bf16_compute = std::string(backend->name()) == "cpu-bf16";
  const std::string mode = vm["mode"].as<std::string>();
  LOOM_REQUIRE(mode == "train" || mode == "decode" || mode == "prefill",
               "--mode: expected train, decode or prefill, got '", mode, "'");

  std::string label;
  const auto weights_start = Clock::now();
  const std::unique_ptr<FrozenWeights> weights =
      bench_weights(vm, parse_quant_mode(vm["quant"].as<std::string>()), *backend, &label);
  const double weights_seconds = seconds_since(weights_start);
  const FrozenWeights& base = *weights;
  const LlamaConfig& config = base.config();
  LoraSpec spec;
  spec.r = vm["r"].as<int>();
  spec.alpha = 2.0f * spec.r;
  spec.target_modules = parse_target_modules(vm["lora"].as<std::string>());
  const TrainableLayout layout(base.shape(), spec, 0);
  TrainableState state(layout.total(), *backend);
  std::vector<float> initial(layout.total());
  init_trainable(initial.data(), layout, 1, 0.0f);
  state.from_host(state.params(), initial);
  Rng rng(7, comm.rank);

  if (comm.rank == 0)
    std::printf("# %s\n# %d rank(s) x %d thread(s) on %s (OpenBLAS %s kernels, idle threads %s); %s: %lld "
                "parameters, %s base, LoRA r=%d on %s (%zu trainable); %s; weights made in %.1f s\n",
                command_line(argc, argv).c_str(), comm.world, threads, comm.host.c_str(), blas_core_name(),
                idle_thread_wait().c_str(),
                label.c_str(), static_cast<long long>(llama_parameter_count(config)), quant_mode_name(base.mode()),
                spec.r, vm["lora"].as<std::string>().c_str(), layout.total(), compute_line(*backend, compute_mode).c_str(),
                weights_seconds);

  if (mode == "decode" || mode == "prefill") {
    // prefill: the prompt's forward and the first sampled token; decode: that and new_tokens - 1
    // single-token steps on the KV cache.
    const bool prefill = mode == "prefill";
    const int B = vm["batch"].as<int>(), prompt_len = vm["prompt-tokens"].as<int>();
    const int new_tokens = prefill ? 1 : vm["new-tokens"].as<int>();
    const int repeats = vm["repeats"].as<int>();
    LOOM_REQUIRE(B > 0 && prompt_len > 0 && new_tokens > 0 && repeats > 0,
                 "--batch, --prompt-tokens, --new-tokens and --repeats must be positive");
    Generator generator(base, layout, B, prompt_len + new_tokens, *backend);
    std::vector<std::vector<int>> prompts(B, std::vector<int>(prompt_len));
    for (auto& p : prompts)
      for (int& t : p) t = 3 + int(rng.below(config.vocab_size - 3));
    GenerationOptions g;
    g.sampling.greedy = true;
    g.max_new_tokens = new_tokens;
    g.stop_at_eos = false;
    const LoraContext lora{&layout, state.params(), nullptr, 0.0f, 0, true};
    generator.generate(prompts, g, lora, rng);  // warm-up
    if (timed) timed->reset();
    std::vector<double> seconds;  // of each timed generation
    long long tokens = 0;         // new tokens of one generation
    for (int i = 0; i < repeats; ++i) {
      const auto start = Clock::now();
      tokens = generator.generate(prompts, g, lora, rng).new_tokens();
      seconds.push_back(seconds_since(start));
    }
    double total = 0.0;
    for (double t : seconds) total += t;
    std::sort(seconds.begin(), seconds.end());
    const double elapsed = seconds[seconds.size() / 2];  // the median (the upper one of an even count)
    std::string of;  // with several: " (median of N: each time, sorted)"
    if (repeats > 1) {
      of = cat(" (median of ", repeats, ":");
      for (double t : seconds) of += cat(" ", t);
      of += " s)";
    }
    if (comm.rank == 0 && prefill)
      std::printf("prefill: batch %d x %d prompt tokens (+1 sampled) in %.3f s%s: %.1f tokens/s per rank, peak RSS %.0f MiB\n",
                  B, prompt_len, elapsed, of.c_str(), double(B) * prompt_len / elapsed, peak_resident_mib());
    else if (comm.rank == 0)
      std::printf("decode: batch %d, %lld tokens in %.2f s%s: %.1f tokens/s per rank (prefill of %d included), peak RSS %.0f MiB\n",
                  B, tokens, elapsed, of.c_str(), tokens / elapsed, prompt_len, peak_resident_mib());
    if (comm.rank == 0 && timed) timed->print(stdout, total);
    comm.finalize();
    return 0;
  }

  const int B = vm["micro-batch"].as<int>(), T = vm["seq"].as<int>(), steps = vm["steps"].as<int>();
  LOOM_REQUIRE(B > 0 && T > 0 && steps > 0, "--micro-batch, --seq and --steps must be positive");
  CausalLm model(base, layout, B, T, vm["gradient-checkpointing"].as<bool>(), *backend);
  std::vector<int> tokens(size_t(B) * T), pos(tokens.size()), targets(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = 3 + int(rng.below(config.vocab_size - 3));
    pos[i] = int(i % T);
  }
  shift_labels(targets.data(), tokens.data(), B, T);
  const TokenBatch batch{B, T, tokens.data(), pos.data(), nullptr};
  LoraContext lora{&layout, state.params(), state.grads(), 0.05f, 0, true};
  auto step = [&](int index) {
    state.zero_grads();
    lora.dropout_seed = uint64_t(index);
    model.train_micro_batch(batch, targets.data(), lora, 1.0f / float(B * (T - 1)));
    state.allreduce_grads(comm);
    state.clip_grad_norm(1.0f);
    state.adamw_step(1e-4f, AdamWSettings{});
  };
  const auto warmup_start = Clock::now();
  step(0);  // warm-up: first touches of every buffer
  comm.barrier();
  if (comm.rank == 0) {  // a figure for shapes whose timed steps outlast the run (a 7B on 2 cores)
    std::printf("warm-up step: %.1f s, peak RSS %.0f MiB on rank 0\n", seconds_since(warmup_start), peak_resident_mib());
    std::fflush(stdout);
  }
  if (timed) timed->reset();
  const auto start = Clock::now();
  for (int i = 1; i <= steps; ++i) step(i);
  comm.barrier();
  const double elapsed = seconds_since(start);
  const double tokens_per_s = double(comm.world) * steps * B * T / elapsed;
  const double model_flops = 4.0 * double(matmul_parameters(config)) * tokens_per_s;  // all ranks
  double peak = peak_resident_mib();
  comm.allreduce_sum(&peak, 1);
  // This machine's GEMM peak in the same compute mode, times the ranks (each measures its own
  // cores; ranks on one node share them, so the sum is the node's peak).
  double gemm_peak = measured_gemm_peak(4096, bf16_compute, 2);
  comm.allreduce_sum(&gemm_peak, 1);
  if (comm.rank == 0)
    std::printf("train: %d x (%d x %d) tokens per step, %d steps in %.2f s: %.0f tokens/s, %.3f GFLOP/s "
                "(4N, N = %lld matmul parameters) = %.1f%% of the measured %s GEMM peak %.1f GFLOP/s, "
                "peak RSS %.0f MiB per rank (activations %.0f MiB)\n",
                comm.world, B, T, steps, elapsed, tokens_per_s, model_flops / 1e9,
                static_cast<long long>(matmul_parameters(config)), 100.0 * model_flops / gemm_peak,
                bf16_compute ? "bf16" : "f32", gemm_peak / 1e9, peak / comm.world,
                model.body().activation_bytes() / 1048576.0);
  if (comm.rank == 0 && timed) timed->print(stdout, elapsed);
  comm.finalize();
  return 0;
}

}  // namespace loom::cli
