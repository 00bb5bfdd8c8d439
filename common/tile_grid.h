// Geometry of cutting a long axis into overlapping tiles and stitching them back.
#ifndef FRINGE_COMMON_TILE_GRID_H_
#define FRINGE_COMMON_TILE_GRID_H_

#include <vector>

namespace fringe {

// One tile along one axis. The tile covers [start, start + size) of the (possibly padded)
// axis; the stitched output takes [own_begin, own_end) from it. Owned ranges of consecutive
// tiles abut exactly and together cover [0, length).
struct TileSpan {
  int start = 0;
  int own_begin = 0;
  int own_end = 0;
};

// Plans tiles of `tile` pixels over an axis of `length` pixels so that every owned pixel is
// at least `margin` pixels from an inner tile edge (image borders excepted). When
// length <= tile there is a single tile at 0 (the caller pads the axis up to the tile).
// Requires tile > 2 * margin >= 0 and length > 0. Ownership boundaries sit in the middle of
// each overlap, which keeps the result independent of the side a pixel is approached from.
std::vector<TileSpan> PlanTiles(int length, int tile, int margin);

}  // namespace fringe

#endif  // FRINGE_COMMON_TILE_GRID_H_
