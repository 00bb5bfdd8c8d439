#include "common/tile_grid.h"

#include <algorithm>

namespace fringe {

std::vector<TileSpan> PlanTiles(int length, int tile, int margin) {
  std::vector<TileSpan> spans;
  if (length <= tile) {
    spans.push_back({0, 0, length});
    return spans;
  }
  const int stride = tile - 2 * margin;
  std::vector<int> starts;
  for (int s = 0;; s += stride) {
    if (s + tile >= length) {
      // The last tile is pulled back to end exactly at the border rather than padding.
      starts.push_back(length - tile);
      break;
    }
    starts.push_back(s);
  }
  for (size_t i = 0; i < starts.size(); ++i) {
    TileSpan span;
    span.start = starts[i];
    span.own_begin = i == 0 ? 0 : spans.back().own_end;
    if (i + 1 == starts.size()) {
      span.own_end = length;
    } else {
      // Middle of the overlap between this tile and the next.
      span.own_end = (starts[i + 1] + starts[i] + tile) / 2;
    }
    spans.push_back(span);
  }
  return spans;
}

}  // namespace fringe
