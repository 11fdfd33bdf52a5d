// Schedule names. learning_rate_at against transformers' schedules (values written by
// tests/golden/make_golden.py): test_golden_tables.cpp.
#include <gtest/gtest.h>

#include "train/lr_schedule.h"

namespace loom {
namespace {

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
