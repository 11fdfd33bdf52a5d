// learning_rate_at against transformers' schedules.
//
// The expected values were produced with PyTorch 2.15 + transformers 5.23: an SGD optimizer
// with lr = base_lr, get_{constant,linear,cosine}_schedule_with_warmup(num_warmup_steps,
// num_training_steps), and param_groups[0]["lr"] read before each scheduler.step(), rounded
// to float32 (numpy.format_float_scientific(numpy.float32(lr), unique=True)).
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "train/lr_schedule.h"

namespace loom {
namespace {

struct ScheduleCase {
  LrScheduleKind kind;
  double base_lr;
  int warmup_steps, total_steps;
  std::vector<std::pair<int, float>> expected;  // step -> lr
};

const std::vector<ScheduleCase> kTransformersSchedules = {
    {LrScheduleKind::Constant, 0.001, 5, 60,
     {{0, 0.0f}, {1, 2e-04f}, {2, 4e-04f}, {4, 8e-04f}, {5, 1e-03f}, {6, 1e-03f}, {17, 1e-03f},
      {30, 1e-03f}, {43, 1e-03f}, {58, 1e-03f}, {59, 1e-03f}, {60, 1e-03f}}},
    {LrScheduleKind::Linear, 0.0002, 5, 60,
     {{0, 0.0f}, {1, 4e-05f}, {2, 8e-05f}, {4, 1.6e-04f}, {5, 2e-04f}, {6, 1.9636363e-04f},
      {17, 1.5636363e-04f}, {30, 1.09090906e-04f}, {43, 6.181818e-05f}, {58, 7.272727e-06f},
      {59, 3.6363635e-06f}, {60, 0.0f}}},
    {LrScheduleKind::Cosine, 0.001, 5, 60,
     {{0, 0.0f}, {1, 2e-04f}, {2, 4e-04f}, {4, 8e-04f}, {5, 1e-03f}, {6, 9.991846e-04f},
      {17, 8.870708e-04f}, {30, 5.7115743e-04f}, {43, 2.1777839e-04f}, {58, 3.2591324e-06f},
      {59, 8.1544806e-07f}, {60, 0.0f}}},
    {LrScheduleKind::Cosine, 1.41e-05, 0, 7,
     {{0, 1.41e-05f}, {1, 1.340183e-05f}, {2, 1.1445603e-05f}, {3, 8.618773e-06f}, {4, 5.4812276e-06f},
      {5, 2.654397e-06f}, {6, 6.9816946e-07f}, {7, 0.0f}}},
    {LrScheduleKind::Linear, 0.0003, 10, 10,
     {{0, 0.0f}, {1, 3e-05f}, {2, 6e-05f}, {3, 9e-05f}, {4, 1.2e-04f}, {5, 1.5e-04f}, {6, 1.8e-04f},
      {7, 2.1e-04f}, {8, 2.4e-04f}, {9, 2.7e-04f}, {10, 0.0f}}},
};

TEST(LrSchedule, MatchesTransformersExactly) {
  for (const ScheduleCase& c : kTransformersSchedules) {
    for (const auto& [step, lr] : c.expected) {
      EXPECT_EQ(learning_rate_at(c.kind, c.base_lr, c.warmup_steps, c.total_steps, step), lr)
          << lr_schedule_name(c.kind) << " warmup " << c.warmup_steps << " total " << c.total_steps
          << " step " << step;
    }
  }
}

TEST(LrSchedule, NamesRoundTrip) {
  for (LrScheduleKind kind : {LrScheduleKind::Constant, LrScheduleKind::Linear, LrScheduleKind::Cosine}) {
    LrScheduleKind parsed = LrScheduleKind::Constant;
    ASSERT_TRUE(lr_schedule_from_name(lr_schedule_name(kind), &parsed));
    EXPECT_EQ(parsed, kind);
  }
  LrScheduleKind unused;
  EXPECT_FALSE(lr_schedule_from_name("cosine_with_restarts", &unused));
}

}  // namespace
}  // namespace loom
