// How many optimizer steps a run takes and how many of them warm up, from the [train] keys,
// computed as transformers' Trainer does (Trainer.set_initial_training_values,
// TrainingArguments.get_warmup_steps):
//   total  = max_steps                                          when max_steps > 0
//          = ceil(num_train_epochs x steps_per_epoch)           otherwise (fractional epochs)
//   warmup = warmup_steps                                       when warmup_steps > 0
//          = ceil(warmup_ratio x total)                         otherwise
// in double arithmetic, as Python's math.ceil sees it (0.07 x 100 is 7.000000000000001: 8 steps).
// steps_per_epoch counts whole optimizer steps (records / (micro batch x accumulation x
// ranks), rounded down): loom drops the last incomplete step of an epoch, where transformers
// would run it with fewer micro-batches.
#pragma once

#include <cstdint>

namespace loom {

int64_t total_training_steps(int max_steps, double num_train_epochs, int64_t steps_per_epoch);

// warmup_steps and warmup_ratio are not both positive (common_training_options_from refuses it).
int warmup_steps_for(int warmup_steps, double warmup_ratio, int64_t total_steps);

}  // namespace loom
