#include "common/tile_grid.h"

#include <gtest/gtest.h>

namespace fringe {
namespace {

// Every pixel is owned exactly once, owned ranges lie inside their tile, and away from the
// borders each owned pixel keeps `margin` pixels of context on both sides.
void CheckPlan(int length, int tile, int margin) {
  const auto spans = PlanTiles(length, tile, margin);
  ASSERT_FALSE(spans.empty());
  EXPECT_EQ(spans.front().own_begin, 0);
  EXPECT_EQ(spans.back().own_end, length);
  for (size_t i = 0; i < spans.size(); ++i) {
    const TileSpan& s = spans[i];
    EXPECT_LT(s.own_begin, s.own_end) << "tile " << i;
    EXPECT_GE(s.own_begin, s.start);
    EXPECT_LE(s.own_end, s.start + tile);
    if (i > 0) {
      EXPECT_EQ(s.own_begin, spans[i - 1].own_end);
      EXPECT_GE(s.own_begin - s.start, margin) << "length " << length << " tile " << i;
    }
    if (i + 1 < spans.size()) {
      EXPECT_GE(s.start + tile - s.own_end, margin) << "length " << length << " tile " << i;
    }
    if (length >= tile) EXPECT_LE(s.start + tile, length);
  }
}

TEST(TileGridTest, CoversEveryLengthExactlyOnce) {
  for (int length : {1, 7, 63, 64, 65, 100, 127, 128, 129, 500, 512, 1000, 4096}) {
    CheckPlan(length, 64, 8);
    CheckPlan(length, 512, 32);
  }
}

TEST(TileGridTest, SmallAxisIsOneTile) {
  const auto spans = PlanTiles(30, 64, 8);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].start, 0);
  EXPECT_EQ(spans[0].own_end, 30);
}

TEST(TileGridTest, ZeroMarginTilesDoNotOverlapNeedlessly) {
  const auto spans = PlanTiles(256, 64, 0);
  EXPECT_EQ(spans.size(), 4u);
}

}  // namespace
}  // namespace fringe
