// Learning-rate schedules with linear warmup, as transformers defines them
// (get_constant_schedule_with_warmup, get_linear_schedule_with_warmup and
// get_cosine_schedule_with_warmup with num_cycles = 0.5), evaluated the way torch's LambdaLR
// does: in double precision, base_lr * factor(step), rounded to float at the end (base_lr
// is a double so that 2e-4 means what it means in Python).
#pragma once

#include <string>

namespace loom {

enum class LrScheduleKind { Constant, Linear, Cosine };

// "constant" | "linear" | "cosine"; false when the name is unknown.
bool lr_schedule_from_name(const std::string& name, LrScheduleKind* out);
const char* lr_schedule_name(LrScheduleKind kind);

// The learning rate of optimizer update number step + 1, where `step` updates have already
// been taken (0 for the first update, which therefore gets 0 when warmup_steps > 0).
//   warmup (step < warmup_steps):  base_lr * step / max(1, warmup_steps)
//   constant:                      base_lr
//   linear:                        base_lr * max(0, (total - step) / max(1, total - warmup))
//   cosine:                        base_lr * max(0, 0.5 * (1 + cos(pi * progress))),
//                                  progress = (step - warmup) / max(1, total - warmup)
float learning_rate_at(LrScheduleKind kind, double base_lr, int warmup_steps, int total_steps, int step);

}  // namespace loom
