#include "sim/specimen.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "sim/hrtem_physics.h"

namespace fringe::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Minkowski sum of a convex polygon with a disk of `radius_a`: the hull of disks (32 points
// each) around its vertices. Returns `core` itself for a non-positive radius.
std::vector<Vec2> GrowHullA(const std::vector<Vec2>& core, double radius_a) {
  if (radius_a <= 0.0) return core;
  constexpr int kCirclePoints = 32;
  std::vector<Vec2> grown;
  grown.reserve(core.size() * kCirclePoints);
  for (const Vec2& p : core) {
    for (int i = 0; i < kCirclePoints; ++i) {
      const double t = 2.0 * kPi * i / kCirclePoints;
      grown.push_back(Vec2{p.x + radius_a * std::cos(t), p.y + radius_a * std::sin(t)});
    }
  }
  return ConvexHull(std::move(grown));
}

double Cross(const Vec2& o, const Vec2& a, const Vec2& b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

bool LessXY(const Vec2& p, const Vec2& q) { return p.x < q.x || (p.x == q.x && p.y < q.y); }

// Andrew's monotone chain on points sorted by LessXY (duplicates allowed).
std::vector<Vec2> HullOfSorted(const std::vector<Vec2>& points) {
  if (points.size() < 3) {
    std::vector<Vec2> few = points;
    few.erase(std::unique(few.begin(), few.end(),
                          [](const Vec2& p, const Vec2& q) { return p.x == q.x && p.y == q.y; }),
              few.end());
    return few;
  }
  std::vector<Vec2> hull(2 * points.size());
  size_t k = 0;
  for (const Vec2& p : points) {  // lower hull
    while (k >= 2 && Cross(hull[k - 2], hull[k - 1], p) <= 0) --k;
    hull[k++] = p;
  }
  const size_t lower = k + 1;
  for (size_t i = points.size() - 1; i-- > 0;) {  // upper hull
    while (k >= lower && Cross(hull[k - 2], hull[k - 1], points[i]) <= 0) --k;
    hull[k++] = points[i];
  }
  hull.resize(k - 1);  // the last point repeats the first
  return hull;
}

double Perimeter(const std::vector<Vec2>& polygon) {
  if (polygon.size() < 2) return 0.0;
  double length = 0.0;
  for (size_t i = 0; i < polygon.size(); ++i) {
    const Vec2& p = polygon[i];
    const Vec2& q = polygon[(i + 1) % polygon.size()];
    length += std::hypot(q.x - p.x, q.y - p.y);
  }
  return length;
}

Mat3 Multiply(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double s = 0.0;
      for (int k = 0; k < 3; ++k) s += a[3 * i + k] * b[3 * k + j];
      c[3 * i + j] = s;
    }
  }
  return c;
}

}  // namespace

absl::StatusOr<Vec3> ParseZoneAxis(std::string_view zone_axis) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError("zone axis '" + std::string(zone_axis) +
                                      "' is not of the form [uvw], e.g. [110] or [1-12]");
  };
  if (zone_axis.size() < 5 || zone_axis.front() != '[' || zone_axis.back() != ']') {
    return invalid();
  }
  double index[3];
  int n = 0;
  size_t pos = 1;
  const size_t end = zone_axis.size() - 1;
  while (pos < end) {
    if (n == 3) return invalid();
    bool negative = false;
    if (zone_axis[pos] == '-') {
      negative = true;
      ++pos;
    }
    // Miller indices are written one digit each: "[112]" is 1, 1, 2.
    if (pos >= end || zone_axis[pos] < '0' || zone_axis[pos] > '9') return invalid();
    const int digit = zone_axis[pos] - '0';
    index[n++] = negative ? -digit : digit;
    ++pos;
  }
  if (n != 3) return invalid();
  const double norm = std::sqrt(index[0] * index[0] + index[1] * index[1] + index[2] * index[2]);
  if (norm == 0.0) return invalid();
  return Vec3{index[0] / norm, index[1] / norm, index[2] / norm};
}

Vec3 RandomUnitVector(Rng* rng) {
  // Archimedes: z uniform in [-1, 1] and a uniform azimuth are uniform on the
  // sphere.
  const double z = rng->Uniform(-1.0, 1.0);
  const double phi = rng->Uniform(0.0, 2.0 * kPi);
  const double r = std::sqrt(std::max(0.0, 1.0 - z * z));
  return Vec3{r * std::cos(phi), r * std::sin(phi), z};
}

Mat3 CrystalToLabRotation(const Vec3& beam_direction, double rotation_deg) {
  const double norm =
      std::sqrt(beam_direction.x * beam_direction.x + beam_direction.y * beam_direction.y +
                beam_direction.z * beam_direction.z);
  const Vec3 u{beam_direction.x / norm, beam_direction.y / norm, beam_direction.z / norm};
  // Rodrigues' formula for the rotation taking u onto z: axis v = u x z,
  // sin = |v|, cos = u.z; R = I + [v]x + [v]x^2 (1 - cos) / sin^2.
  const Vec3 v{u.y, -u.x, 0.0};
  const double s2 = v.x * v.x + v.y * v.y;
  const double c = u.z;
  Mat3 to_beam{1, 0, 0, 0, 1, 0, 0, 0, 1};
  if (s2 < 1e-24) {
    if (c < 0) to_beam = {1, 0, 0, 0, -1, 0, 0, 0, -1};  // u = -z: half turn about x
  } else {
    const Mat3 vx{0, -v.z, v.y, v.z, 0, -v.x, -v.y, v.x, 0};
    const Mat3 vx2 = Multiply(vx, vx);
    const double f = (1.0 - c) / s2;
    for (int i = 0; i < 9; ++i) to_beam[i] += vx[i] + f * vx2[i];
  }
  const double t = rotation_deg * kPi / 180.0;
  const Mat3 about_beam{std::cos(t), -std::sin(t), 0, std::sin(t), std::cos(t), 0, 0, 0, 1};
  return Multiply(about_beam, to_beam);
}

namespace {

struct LatticeSite {
  double r2;      // squared distance from the particle centre (A^2)
  Vec3 position;  // lab frame (A)
};

// fcc sites (crystal frame: a/2 (u, v, w) + a * offset, u + v + w even)
// within `cutoff_radius_a` of the centre, rotated into the lab frame.
std::vector<LatticeSite> LatticeSitesWithin(const Vec2& center_a, double cutoff_radius_a,
                                            const Mat3& m, const Vec3& offset) {
  constexpr double a = kGoldLatticeConstantA;
  const double rc = std::max(0.0, cutoff_radius_a);
  const double rc2 = rc * rc + 1e-9;
  const int n = static_cast<int>(std::ceil(2.0 * rc / a)) + 3;  // + room for the offset
  const Vec3 shift{a * (offset.x - std::floor(offset.x)), a * (offset.y - std::floor(offset.y)),
                   a * (offset.z - std::floor(offset.z))};
  std::vector<LatticeSite> sites;
  sites.reserve(static_cast<size_t>(4.0 / (a * a * a) * 4.19 * std::pow(rc + a, 3)));
  for (int u = -n; u <= n; ++u) {
    for (int v = -n; v <= n; ++v) {
      for (int w = -n; w <= n; ++w) {
        if (((u + v + w) & 1) != 0) continue;
        const double x = 0.5 * a * u + shift.x;
        const double y = 0.5 * a * v + shift.y;
        const double z = 0.5 * a * w + shift.z;
        const double r2 = x * x + y * y + z * z;
        if (r2 > rc2) continue;
        sites.push_back(LatticeSite{
            r2, Vec3{center_a.x + m[0] * x + m[1] * y + m[2] * z,
                     center_a.y + m[3] * x + m[4] * y + m[5] * z, m[6] * x + m[7] * y + m[8] * z}});
      }
    }
  }
  return sites;
}

}  // namespace

std::vector<Vec3> GoldLatticeSphereA(const Vec2& center_a, double cutoff_radius_a,
                                     const Mat3& crystal_to_lab, const Vec3& lattice_offset) {
  std::vector<Vec3> atoms;
  for (const LatticeSite& site :
       LatticeSitesWithin(center_a, cutoff_radius_a, crystal_to_lab, lattice_offset)) {
    atoms.push_back(site.position);
  }
  return atoms;
}

std::vector<Vec3> GoldParticleAtomsA(const Vec2& center_a, double diameter_a,
                                     const Mat3& crystal_to_lab, const Vec3& lattice_offset) {
  // A sphere cut from a lattice is a polyhedron whose facets lie up to about
  // one interplanar spacing inside the cutoff, so its footprint is smaller
  // than the cutoff disk (by ~10% in area at 5 nm), by an amount that depends
  // on size and orientation. Adding atoms in order of distance from the
  // centre only ever grows the footprint, so binary-search the atom count
  // whose footprint area is closest to pi (d/2)^2, between the cutoffs
  // d/2 - r_Au - 4.1 A (footprint surely too small, see FootprintPolygonA)
  // and d/2. The lattice offset splits the symmetric shells, so the area
  // grows almost continuously with the atom count.
  const double target_r = 0.5 * diameter_a;
  const double r_atom = kGoldAtomicRadiusA;
  std::vector<LatticeSite> sites =
      LatticeSitesWithin(center_a, target_r, crystal_to_lab, lattice_offset);
  if (sites.empty()) return {};
  std::stable_sort(sites.begin(), sites.end(),
                   [](const LatticeSite& p, const LatticeSite& q) { return p.r2 < q.r2; });
  const double lowest_cutoff = std::max(0.0, target_r - r_atom - 4.1);
  size_t lo = 1;  // at least one atom
  while (lo < sites.size() && sites[lo].r2 <= lowest_cutoff * lowest_cutoff) ++lo;

  // Every candidate hull contains the disk of radius lowest_cutoff - 4.1 A
  // about the centre, so only atoms projecting outside it matter; sort them
  // once so that each trial hull is a linear scan.
  struct RimAtom {
    Vec2 p;
    size_t rank;  // position in `sites`
  };
  const double inner = std::max(0.0, lowest_cutoff - 4.1);
  std::vector<RimAtom> rim;
  for (size_t i = 0; i < sites.size(); ++i) {
    const Vec2 p{sites[i].position.x, sites[i].position.y};
    if (std::hypot(p.x - center_a.x, p.y - center_a.y) >= inner) rim.push_back(RimAtom{p, i});
  }
  std::stable_sort(rim.begin(), rim.end(),
                   [](const RimAtom& a, const RimAtom& b) { return LessXY(a.p, b.p); });
  std::vector<Vec2> scratch;
  scratch.reserve(rim.size());
  // Equivalent-radius error of the footprint of the first `count` atoms; the
  // area of a convex polygon grown by r is A + perimeter * r + pi r^2.
  const auto radius_error = [&](size_t count) {
    scratch.clear();
    for (const RimAtom& a : rim) {
      if (a.rank < count) scratch.push_back(a.p);
    }
    const std::vector<Vec2> hull = HullOfSorted(scratch);
    const double area =
        std::fabs(PolygonAreaA2(hull)) + Perimeter(hull) * r_atom + kPi * r_atom * r_atom;
    return std::sqrt(area / kPi) - target_r;
  };
  const auto first_atoms = [&](size_t count) {
    std::vector<Vec3> atoms;
    atoms.reserve(count);
    for (size_t i = 0; i < count; ++i) atoms.push_back(sites[i].position);
    return atoms;
  };
  size_t hi = sites.size();
  double hi_error = radius_error(hi);
  if (hi_error <= 0.0) return first_atoms(hi);  // even the full sphere is not too big
  double lo_error = radius_error(lo);
  if (lo_error > 0.0) return first_atoms(lo);  // only for tiny particles
  // Invariant: error(lo) <= 0 < error(hi).
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    const double e = radius_error(mid);
    if (e <= 0.0) {
      lo = mid;
      lo_error = e;
    } else {
      hi = mid;
      hi_error = e;
    }
  }
  return first_atoms(-lo_error <= hi_error ? lo : hi);
}

double PolygonAreaA2(const std::vector<Vec2>& polygon_a) {
  double twice = 0.0;
  for (size_t i = 0; i < polygon_a.size(); ++i) {
    const Vec2& p = polygon_a[i];
    const Vec2& q = polygon_a[(i + 1) % polygon_a.size()];
    twice += p.x * q.y - q.x * p.y;
  }
  return 0.5 * twice;
}

std::vector<Vec2> ConvexHull(std::vector<Vec2> points) {
  std::sort(points.begin(), points.end(), LessXY);
  points.erase(std::unique(points.begin(), points.end(),
                           [](const Vec2& p, const Vec2& q) { return p.x == q.x && p.y == q.y; }),
               points.end());
  return HullOfSorted(points);
}

std::vector<Vec2> FootprintPolygonA(const std::vector<Vec3>& atoms, double atom_radius_a) {
  if (atoms.empty()) return {};
  // Only atoms near the rim can be hull vertices. For a lattice sphere of
  // cutoff r_c, every point within r_c - 4.1 A of the centre is inside the
  // hull: fcc leaves no hole wider than a/2 = 2.04 A, so in every direction
  // an atom lies within 2 * 2.04 A of the cutoff. Keeping everything within
  // 2.5 a (10 A) of the outermost atom is therefore safe, and makes the hull
  // ~10x cheaper for large particles.
  Vec2 centroid;
  for (const Vec3& atom : atoms) {
    centroid.x += atom.x;
    centroid.y += atom.y;
  }
  centroid.x /= double(atoms.size());
  centroid.y /= double(atoms.size());
  double max_r2 = 0.0;
  for (const Vec3& atom : atoms) {
    max_r2 = std::max(max_r2, std::pow(atom.x - centroid.x, 2) + std::pow(atom.y - centroid.y, 2));
  }
  const double inner = std::max(0.0, std::sqrt(max_r2) - 2.5 * kGoldLatticeConstantA);
  std::vector<Vec2> rim;
  for (const Vec3& atom : atoms) {
    if (std::pow(atom.x - centroid.x, 2) + std::pow(atom.y - centroid.y, 2) >= inner * inner) {
      rim.push_back(Vec2{atom.x, atom.y});
    }
  }
  return GrowHullA(ConvexHull(std::move(rim)), atom_radius_a);
}

int64_t RasterizeConvexPolygon(const std::vector<Vec2>& polygon_a, double pixel_size_a,
                               uint16_t label, cv::Mat* labels) {
  if (polygon_a.size() < 3) return 0;
  double y_min = polygon_a[0].y;
  double y_max = polygon_a[0].y;
  for (const Vec2& p : polygon_a) {
    y_min = std::min(y_min, p.y);
    y_max = std::max(y_max, p.y);
  }
  // Rows whose centre (i + 0.5) p lies in [y_min, y_max].
  const int row_begin = std::max(0, static_cast<int>(std::ceil(y_min / pixel_size_a - 0.5)));
  const int row_end =
      std::min(labels->rows - 1, static_cast<int>(std::floor(y_max / pixel_size_a - 0.5)));
  int64_t count = 0;
  const size_t n = polygon_a.size();
  for (int i = row_begin; i <= row_end; ++i) {
    const double yc = (i + 0.5) * pixel_size_a;
    double x_lo = HUGE_VAL;
    double x_hi = -HUGE_VAL;
    for (size_t e = 0; e < n; ++e) {
      const Vec2& a = polygon_a[e];
      const Vec2& b = polygon_a[(e + 1) % n];
      if ((a.y <= yc && yc <= b.y) || (b.y <= yc && yc <= a.y)) {
        const double x = (a.y == b.y) ? a.x : a.x + (yc - a.y) * (b.x - a.x) / (b.y - a.y);
        x_lo = std::min(x_lo, a.y == b.y ? std::min(a.x, b.x) : x);
        x_hi = std::max(x_hi, a.y == b.y ? std::max(a.x, b.x) : x);
      }
    }
    if (x_lo > x_hi) continue;
    const int col_begin = std::max(0, static_cast<int>(std::ceil(x_lo / pixel_size_a - 0.5)));
    const int col_end =
        std::min(labels->cols - 1, static_cast<int>(std::floor(x_hi / pixel_size_a - 0.5)));
    auto* row = labels->ptr<uint16_t>(i);
    for (int j = col_begin; j <= col_end; ++j) {
      row[j] = label;
      ++count;
    }
  }
  return count;
}

void GenerateAmorphousCarbon(double width_a, double height_a, double thickness_a, Rng* rng,
                             std::vector<Vec3>* atoms_a, double density_per_a3) {
  atoms_a->clear();
  if (!(thickness_a > 0.0)) return;
  const double dmin = kCarbonMinSpacingA;
  const double dmin2 = dmin * dmin;
  const auto target =
      static_cast<int64_t>(std::llround(density_per_a3 * width_a * height_a * thickness_a));
  // Cells at least dmin wide, so that any atom closer than dmin to a trial
  // position lies in one of the 27 neighbouring cells. x and y wrap around
  // (the FFT cell is periodic); z does not.
  const int nx = std::max(1, static_cast<int>(width_a / dmin));
  const int ny = std::max(1, static_cast<int>(height_a / dmin));
  const int nz = std::max(1, static_cast<int>(thickness_a / dmin));
  const double cx = width_a / nx;
  const double cy = height_a / ny;
  const double cz = thickness_a / nz;
  std::vector<int32_t> head(static_cast<size_t>(nx) * ny * nz, -1);
  std::vector<int32_t> next;
  next.reserve(static_cast<size_t>(target));
  atoms_a->reserve(static_cast<size_t>(target));

  // Random sequential addition stays far from its jamming limit at this
  // density (packing fraction ~0.16 of 0.38), so few trials are rejected;
  // the cap only bounds pathological option values.
  const int64_t max_trials = 50 * target + 1000;
  int64_t placed = 0;
  for (int64_t trial = 0; trial < max_trials && placed < target; ++trial) {
    const double x = rng->Uniform() * width_a;
    const double y = rng->Uniform() * height_a;
    const double z = rng->Uniform() * thickness_a;
    const int ix = std::min(nx - 1, static_cast<int>(x / cx));
    const int iy = std::min(ny - 1, static_cast<int>(y / cy));
    const int iz = std::min(nz - 1, static_cast<int>(z / cz));
    // Neighbouring cells, wrapped in x and y (no modulo in the inner loop).
    const int xs[3] = {ix == 0 ? nx - 1 : ix - 1, ix, ix + 1 == nx ? 0 : ix + 1};
    const int ys[3] = {iy == 0 ? ny - 1 : iy - 1, iy, iy + 1 == ny ? 0 : iy + 1};
    const int z_begin = std::max(0, iz - 1);
    const int z_end = std::min(nz - 1, iz + 1);
    bool too_close = false;
    for (int kz = z_begin; kz <= z_end && !too_close; ++kz) {
      for (int ky : ys) {
        const int32_t* row = head.data() + (static_cast<size_t>(kz) * ny + ky) * nx;
        for (int kx : xs) {
          for (int32_t a = row[kx]; a >= 0; a = next[static_cast<size_t>(a)]) {
            const Vec3& other = (*atoms_a)[static_cast<size_t>(a)];
            double ddx = x - other.x;
            double ddy = y - other.y;
            const double ddz = z - other.z;
            // Minimum-image convention across the periodic x/y boundaries.
            if (ddx > 0.5 * width_a) ddx -= width_a;
            if (ddx < -0.5 * width_a) ddx += width_a;
            if (ddy > 0.5 * height_a) ddy -= height_a;
            if (ddy < -0.5 * height_a) ddy += height_a;
            if (ddx * ddx + ddy * ddy + ddz * ddz < dmin2) {
              too_close = true;
              break;
            }
          }
          if (too_close) break;
        }
        if (too_close) break;
      }
    }
    if (too_close) continue;
    const size_t cell = (static_cast<size_t>(iz) * ny + iy) * nx + ix;
    next.push_back(head[cell]);
    head[cell] = static_cast<int32_t>(placed);
    atoms_a->push_back(Vec3{x, y, z});
    ++placed;
  }
}

}  // namespace fringe::sim

// --- Particle morphologies ---

namespace fringe::sim {
namespace {

constexpr double kPiM = 3.14159265358979323846;
constexpr double kReachPolyhedra = 1.35;
// Atoms of a later twin segment closer than this to an earlier one are the same site on a
// shared twin plane or axis (the fcc nearest-neighbour distance is 2.88 A).
constexpr double kDuplicateDistanceA = 1.5;

Vec3 Normalized(const Vec3& v) {
  const double n = std::sqrt(v.x * v.x + v.y * v.y + v.z * v.z);
  return Vec3{v.x / n, v.y / n, v.z / n};
}

Vec3 CrossV(const Vec3& a, const Vec3& b) {
  return Vec3{a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}

double Dot(const Vec3& a, const Vec3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

// The rotation taking the orthonormal frame (c1, c2, c1 x c2) onto (p1, p2, p1 x p2).
Mat3 FrameRotation(const Vec3& c1, const Vec3& c2, const Vec3& p1, const Vec3& p2) {
  const Vec3 c3 = CrossV(c1, c2);
  const Vec3 p3 = CrossV(p1, p2);
  const Vec3 c[3] = {c1, c2, c3};
  const Vec3 p[3] = {p1, p2, p3};
  Mat3 m{};
  const auto comp = [](const Vec3& v, int i) { return i == 0 ? v.x : (i == 1 ? v.y : v.z); };
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double s = 0.0;
      for (int k = 0; k < 3; ++k) s += comp(p[k], i) * comp(c[k], j);
      m[3 * i + j] = s;
    }
  }
  return m;
}

Vec3 Apply(const Mat3& m, const Vec3& v) {
  return Vec3{m[0] * v.x + m[1] * v.y + m[2] * v.z, m[3] * v.x + m[4] * v.y + m[5] * v.z,
              m[6] * v.x + m[7] * v.y + m[8] * v.z};
}

struct ShapeSite {
  double key;     // gauge: the shape of size c holds the sites with key <= c
  Vec3 particle;  // particle frame, relative to the centre (A)
  int segment;
};

// One lattice segment: fcc sites (crystal frame a/2 (u, v, w) + shift) within `reach` of the
// origin, kept when `keep(u, v, w, crystal position)` and keyed by `key(crystal position)`.
template <typename Keep, typename Key>
void AddSegmentSites(int segment, const Mat3& to_particle, const Vec3& shift, double reach,
                     Keep keep, Key key, std::vector<ShapeSite>* sites) {
  constexpr double a = kGoldLatticeConstantA;
  const int n = static_cast<int>(std::ceil(2.0 * reach / a)) + 2;
  const double reach2 = reach * reach + 1e-9;
  for (int u = -n; u <= n; ++u) {
    for (int v = -n; v <= n; ++v) {
      for (int w = -n; w <= n; ++w) {
        if (((u + v + w) & 1) != 0) continue;
        const Vec3 c{0.5 * a * u + shift.x, 0.5 * a * v + shift.y, 0.5 * a * w + shift.z};
        if (Dot(c, c) > reach2) continue;
        if (!keep(u, v, w, c)) continue;
        sites->push_back(ShapeSite{key(c), Apply(to_particle, c), segment});
      }
    }
  }
}

// Removes sites of later segments within kDuplicateDistanceA of a kept site of an earlier one.
void DropTwinDuplicates(std::vector<ShapeSite>* sites) {
  std::stable_sort(sites->begin(), sites->end(),
                   [](const ShapeSite& p, const ShapeSite& q) { return p.segment < q.segment; });
  const double cell = kDuplicateDistanceA;
  struct KeyHash {
    size_t operator()(const std::array<int, 3>& k) const {
      return (size_t(k[0]) * 73856093u) ^ (size_t(k[1]) * 19349663u) ^ (size_t(k[2]) * 83492791u);
    }
  };
  std::unordered_map<std::array<int, 3>, std::vector<size_t>, KeyHash> grid;
  std::vector<ShapeSite> kept;
  kept.reserve(sites->size());
  for (const ShapeSite& s : *sites) {
    const std::array<int, 3> k = {static_cast<int>(std::floor(s.particle.x / cell)),
                                  static_cast<int>(std::floor(s.particle.y / cell)),
                                  static_cast<int>(std::floor(s.particle.z / cell))};
    bool duplicate = false;
    for (int dx = -1; dx <= 1 && !duplicate; ++dx) {
      for (int dy = -1; dy <= 1 && !duplicate; ++dy) {
        for (int dz = -1; dz <= 1 && !duplicate; ++dz) {
          const auto it = grid.find({k[0] + dx, k[1] + dy, k[2] + dz});
          if (it == grid.end()) continue;
          for (size_t idx : it->second) {
            const ShapeSite& o = kept[idx];
            if (o.segment == s.segment) continue;
            const double ddx = o.particle.x - s.particle.x;
            const double ddy = o.particle.y - s.particle.y;
            const double ddz = o.particle.z - s.particle.z;
            if (ddx * ddx + ddy * ddy + ddz * ddz < cell * cell) {
              duplicate = true;
              break;
            }
          }
        }
      }
    }
    if (duplicate) continue;
    grid[k].push_back(kept.size());
    kept.push_back(s);
  }
  *sites = std::move(kept);
}

std::vector<ShapeSite> TruncatedOctahedronSites(double reach, const Vec3& offset) {
  constexpr double a = kGoldLatticeConstantA;
  const Vec3 shift{a * (offset.x - std::floor(offset.x)), a * (offset.y - std::floor(offset.y)),
                   a * (offset.z - std::floor(offset.z))};
  std::vector<ShapeSite> sites;
  const Mat3 identity{1, 0, 0, 0, 1, 0, 0, 0, 1};
  AddSegmentSites(
      0, identity, shift, reach, [](int, int, int, const Vec3&) { return true; },
      [](const Vec3& c) {
        const double ax = std::fabs(c.x), ay = std::fabs(c.y), az = std::fabs(c.z);
        // {100} faces at 2c, {111} faces at |x| + |y| + |z| = 3c.
        return std::max(std::max(ax, std::max(ay, az)) / 2.0, (ax + ay + az) / 3.0);
      },
      &sites);
  return sites;
}

std::vector<ShapeSite> DecahedronSites(double reach, std::vector<Mat3>* rotations) {
  // Segment crystal frame: [110] along the particle's z (5-fold axis), [001] along the
  // segment's bisector. The wedge between the twin planes (1-11) and (-111) holds [001].
  const Vec3 axis = Normalized(Vec3{1, 1, 0});
  const Vec3 bisector{0, 0, 1};
  constexpr double kInoTruncation = 0.8;  // {100} facet at z_crystal = c / 0.8
  std::vector<ShapeSite> sites;
  for (int s = 0; s < 5; ++s) {
    const double phi = 2.0 * kPiM * s / 5.0;
    const Mat3 rot =
        FrameRotation(axis, bisector, Vec3{0, 0, 1}, Vec3{std::cos(phi), std::sin(phi), 0});
    rotations->push_back(rot);
    AddSegmentSites(
        s, rot, Vec3{}, reach,
        [s](int u, int v, int w, const Vec3&) {
          if (u - v + w < 0 || -u + v + w < 0) return false;
          return s == 0 || !(w == 0 && u == v);  // the shared axis once
        },
        [](const Vec3& c) {
          const double top = (c.x + c.y + c.z) / std::sqrt(3.0);
          const double bottom = (-c.x - c.y + c.z) / std::sqrt(3.0);
          return std::max(std::max(top, bottom), kInoTruncation * c.z);
        },
        &sites);
  }
  return sites;
}

std::vector<ShapeSite> IcosahedronSites(double reach, std::vector<Mat3>* rotations) {
  const double g = 0.5 * (1.0 + std::sqrt(5.0));
  std::vector<Vec3> verts;
  for (double s1 : {-1.0, 1.0}) {
    for (double s2 : {-1.0, 1.0}) {
      verts.push_back(Vec3{0, s1, s2 * g});
      verts.push_back(Vec3{s1, s2 * g, 0});
      verts.push_back(Vec3{s2 * g, 0, s1});
    }
  }
  // A vertex (5-fold axis) along the particle's z.
  const Mat3 to_z = CrystalToLabRotation(Vec3{0, 1, g}, 0.0);
  for (Vec3& v : verts) v = Normalized(Apply(to_z, v));
  // Faces: vertex triples at the icosahedron's edge length (all pairwise dot = 1/sqrt(5)).
  const double edge_dot = 1.0 / std::sqrt(5.0);
  std::vector<std::array<int, 3>> faces;
  for (int i = 0; i < 12; ++i) {
    for (int j = i + 1; j < 12; ++j) {
      if (std::fabs(Dot(verts[i], verts[j]) - edge_dot) > 1e-6) continue;
      for (int k = j + 1; k < 12; ++k) {
        if (std::fabs(Dot(verts[i], verts[k]) - edge_dot) > 1e-6) continue;
        if (std::fabs(Dot(verts[j], verts[k]) - edge_dot) > 1e-6) continue;
        faces.push_back({i, j, k});
      }
    }
  }
  // Segment crystal frame: the tetrahedron with its vertex at the centre, edges along [110],
  // [101], [011] and outer face (111); [111] goes to the face normal, the projection of [110]
  // onto the face towards one of the face's vertices.
  const Vec3 c111 = Normalized(Vec3{1, 1, 1});
  const Vec3 c_edge = Normalized(Vec3{1, 1, -2});
  std::vector<ShapeSite> sites;
  for (size_t f = 0; f < faces.size(); ++f) {
    const Vec3& v1 = verts[faces[f][0]];
    const Vec3& v2 = verts[faces[f][1]];
    const Vec3& v3 = verts[faces[f][2]];
    const Vec3 n = Normalized(Vec3{v1.x + v2.x + v3.x, v1.y + v2.y + v3.y, v1.z + v2.z + v3.z});
    const double d = Dot(v1, n);
    const Vec3 p1 = Normalized(Vec3{v1.x - d * n.x, v1.y - d * n.y, v1.z - d * n.z});
    const Mat3 rot = FrameRotation(c111, c_edge, n, p1);
    rotations->push_back(rot);
    AddSegmentSites(
        static_cast<int>(f), rot, Vec3{}, reach,
        [](int u, int v, int w, const Vec3&) {
          return u + v - w >= 0 && u - v + w >= 0 && -u + v + w >= 0;
        },
        [](const Vec3& c) { return (c.x + c.y + c.z) / std::sqrt(3.0); }, &sites);
  }
  return sites;
}

// The first atoms in gauge order whose footprint area best matches pi (d/2)^2 (binary search,
// the hull only grows with the count).
std::vector<Vec3> SelectByFootprint(std::vector<ShapeSite> sites, const Vec2& center_a,
                                    double diameter_a, const Mat3& to_lab,
                                    std::vector<int>* segments) {
  if (sites.empty()) return {};
  std::stable_sort(sites.begin(), sites.end(),
                   [](const ShapeSite& p, const ShapeSite& q) { return p.key < q.key; });
  std::vector<Vec3> lab(sites.size());
  for (size_t i = 0; i < sites.size(); ++i) {
    const Vec3 r = Apply(to_lab, sites[i].particle);
    lab[i] = Vec3{center_a.x + r.x, center_a.y + r.y, r.z};
  }
  struct Projected {
    Vec2 p;
    size_t rank;
  };
  std::vector<Projected> proj(sites.size());
  for (size_t i = 0; i < sites.size(); ++i) proj[i] = Projected{Vec2{lab[i].x, lab[i].y}, i};
  std::stable_sort(proj.begin(), proj.end(),
                   [](const Projected& a, const Projected& b) { return LessXY(a.p, b.p); });
  const double target_r = 0.5 * diameter_a;
  const double r_atom = kGoldAtomicRadiusA;
  std::vector<Vec2> scratch;
  scratch.reserve(proj.size());
  const auto radius_error = [&](size_t count) {
    scratch.clear();
    for (const Projected& a : proj) {
      if (a.rank < count) scratch.push_back(a.p);
    }
    const std::vector<Vec2> hull = HullOfSorted(scratch);
    const double area =
        std::fabs(PolygonAreaA2(hull)) + Perimeter(hull) * r_atom + kPiM * r_atom * r_atom;
    return std::sqrt(area / kPiM) - target_r;
  };
  size_t lo = 1;
  size_t hi = sites.size();
  size_t chosen = hi;
  if (radius_error(hi) > 0.0) {
    if (radius_error(lo) > 0.0) {
      chosen = lo;
    } else {
      double lo_error = radius_error(lo);
      double hi_error = radius_error(hi);
      while (hi - lo > 1) {
        const size_t mid = lo + (hi - lo) / 2;
        const double e = radius_error(mid);
        if (e <= 0.0) {
          lo = mid;
          lo_error = e;
        } else {
          hi = mid;
          hi_error = e;
        }
      }
      chosen = -lo_error <= hi_error ? lo : hi;
    }
  }
  lab.resize(chosen);
  if (segments != nullptr) {
    segments->clear();
    for (size_t i = 0; i < chosen; ++i) segments->push_back(sites[i].segment);
  }
  return lab;
}

}  // namespace

const char* MorphologyName(Morphology morphology) {
  switch (morphology) {
    case Morphology::kSphere:
      return "sphere";
    case Morphology::kTruncatedOctahedron:
      return "truncated_octahedron";
    case Morphology::kDecahedron:
      return "decahedron";
    case Morphology::kIcosahedron:
      return "icosahedron";
  }
  return "sphere";
}

absl::StatusOr<Morphology> ParseMorphology(std::string_view name) {
  for (int m = 0; m < kNumMorphologies; ++m) {
    if (name == MorphologyName(static_cast<Morphology>(m))) return static_cast<Morphology>(m);
  }
  return absl::InvalidArgumentError(
      "morphology '" + std::string(name) +
      "' is not one of sphere, truncated_octahedron, decahedron, icosahedron");
}

double MorphologyReach(Morphology morphology) {
  return morphology == Morphology::kSphere ? 1.0 : kReachPolyhedra;
}

std::vector<Vec3> ParticleAtomsA(Morphology morphology, const Vec2& center_a, double diameter_a,
                                 const Mat3& particle_to_lab, const Vec3& lattice_offset,
                                 std::vector<int>* segments, std::vector<Mat3>* segment_rotations) {
  std::vector<Mat3> rotations;
  std::vector<ShapeSite> sites;
  const double reach = MorphologyReach(morphology) * 0.5 * diameter_a;
  switch (morphology) {
    case Morphology::kSphere: {
      std::vector<Vec3> atoms =
          GoldParticleAtomsA(center_a, diameter_a, particle_to_lab, lattice_offset);
      if (segments != nullptr) segments->assign(atoms.size(), 0);
      if (segment_rotations != nullptr) *segment_rotations = {Mat3{1, 0, 0, 0, 1, 0, 0, 0, 1}};
      return atoms;
    }
    case Morphology::kTruncatedOctahedron:
      sites = TruncatedOctahedronSites(reach, lattice_offset);
      rotations = {Mat3{1, 0, 0, 0, 1, 0, 0, 0, 1}};
      break;
    case Morphology::kDecahedron:
      sites = DecahedronSites(reach, &rotations);
      DropTwinDuplicates(&sites);
      break;
    case Morphology::kIcosahedron:
      sites = IcosahedronSites(reach, &rotations);
      DropTwinDuplicates(&sites);
      break;
  }
  if (segment_rotations != nullptr) *segment_rotations = rotations;
  return SelectByFootprint(std::move(sites), center_a, diameter_a, particle_to_lab, segments);
}

std::vector<Vec2> FootprintPolygonExactA(const std::vector<Vec3>& atoms, double atom_radius_a) {
  if (atoms.empty()) return {};
  std::vector<Vec2> points;
  points.reserve(atoms.size());
  for (const Vec3& atom : atoms) points.push_back(Vec2{atom.x, atom.y});
  return GrowHullA(ConvexHull(std::move(points)), atom_radius_a);
}

void AppendGraphiticFragmentAtomsA(const GraphiticFragment& f, std::vector<Vec2>* atoms_a) {
  constexpr double kPointSpacingA = 1.23;
  constexpr double kGrapheneAtomsPerA2 = 0.382;
  const int repeat =
      std::max(1, static_cast<int>(std::lround(kGrapheneAtomsPerA2 * f.depth_a * kPointSpacingA)));
  const Vec2 t{std::cos(f.angle_rad), std::sin(f.angle_rad)};
  const Vec2 nrm{-t.y, t.x};
  const double curvature = f.curvature_radius_a != 0.0 ? 1.0 / f.curvature_radius_a : 0.0;
  const int points = std::max(1, static_cast<int>(f.length_a / kPointSpacingA));
  for (int k = 0; k < f.layers; ++k) {
    const double offset = (k - 0.5 * (f.layers - 1)) * kGraphiteLayerSpacingA;
    for (int i = 0; i < points; ++i) {
      const double u = (i - 0.5 * (points - 1)) * kPointSpacingA;
      // Parabolic arc v = u^2 / (2R); the layers are offset along its local normal.
      const double v = 0.5 * curvature * u * u;
      const double slope = curvature * u;
      const double norm = std::sqrt(1.0 + slope * slope);
      const double nx = (-slope * t.x + nrm.x) / norm;
      const double ny = (-slope * t.y + nrm.y) / norm;
      const Vec2 p{f.center_a.x + u * t.x + v * nrm.x + offset * nx,
                   f.center_a.y + u * t.y + v * nrm.y + offset * ny};
      for (int r = 0; r < repeat; ++r) atoms_a->push_back(p);
    }
  }
}

}  // namespace fringe::sim
