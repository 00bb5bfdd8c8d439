// Atomic model of the specimen: an amorphous carbon support film and fcc
// gold particles, plus the geometry that turns a particle into its
// ground-truth footprint mask.
//
// Units: all lengths in Angstrom (A); positions are lab-frame coordinates
// with x along image columns (left to right), y along image rows (top to
// bottom), z along the beam. Pixel (row i, column j) covers
// [j*p, (j+1)*p) x [i*p, (i+1)*p) for pixel size p, its centre at
// ((j + 0.5) p, (i + 0.5) p).
#ifndef FRINGE_SIM_SPECIMEN_H_
#define FRINGE_SIM_SPECIMEN_H_

#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/hrtem_physics.h"
#include "sim/random.h"

namespace fringe::sim {

struct Vec2 {
  double x = 0.0;
  double y = 0.0;
};

struct Vec3 {
  double x = 0.0;
  double y = 0.0;
  double z = 0.0;
};

// Row-major 3x3 rotation matrix; lab = R * crystal.
using Mat3 = std::array<double, 9>;

// Parses a zone axis "[uvw]" (each index an optionally negative integer,
// e.g. "[110]", "[1-12]", "[100]") into a unit vector in crystal
// coordinates. Returns InvalidArgument for anything else (including
// "[000]").
absl::StatusOr<Vec3> ParseZoneAxis(std::string_view zone_axis);

// Returns a unit vector drawn uniformly on the sphere from `rng`.
Vec3 RandomUnitVector(Rng* rng);

// Returns the rotation that brings the crystal direction `beam_direction`
// (need not be normalised, must be non-zero) onto the beam (+z) and then
// rotates the crystal by `rotation_deg` about the beam (counter-clockwise
// in the x-y plane). A uniformly random direction plus a uniformly random
// rotation gives a uniformly random orientation.
Mat3 CrystalToLabRotation(const Vec3& beam_direction, double rotation_deg);

// Returns the lab-frame positions (A) of the gold atoms of an fcc lattice
// (constant kGoldLatticeConstantA) whose centres lie within
// `cutoff_radius_a` of `center_a` (z = 0 at the centre), rotated by
// `crystal_to_lab`. The lattice is shifted from the centre by
// `lattice_offset` (fractions of a, crystal axes; 0 puts a site at the
// centre). Deterministic.
std::vector<Vec3> GoldLatticeSphereA(const Vec2& center_a, double cutoff_radius_a,
                                     const Mat3& crystal_to_lab, const Vec3& lattice_offset = {});

// Returns the atoms of a roughly spherical gold particle whose footprint
// (FootprintPolygonA with kGoldAtomicRadiusA) has, as nearly as the atoms
// allow, the area of a disk of diameter `diameter_a`: the atoms of
// GoldLatticeSphereA(center_a, diameter_a / 2, ...) nearest the centre, as
// many as match the area. No atom centre lies farther than diameter_a / 2
// from the centre, so the footprint stays within diameter_a / 2 +
// kGoldAtomicRadiusA.
std::vector<Vec3> GoldParticleAtomsA(const Vec2& center_a, double diameter_a,
                                     const Mat3& crystal_to_lab, const Vec3& lattice_offset = {});

// Returns the area (A^2) of a simple polygon (positive if counter-clockwise).
double PolygonAreaA2(const std::vector<Vec2>& polygon_a);

// Returns the convex hull of `points` in counter-clockwise order without
// repeated or collinear points (Andrew's monotone chain). Fewer than three
// distinct points are returned as they are (deduplicated).
std::vector<Vec2> ConvexHull(std::vector<Vec2> points);

// Returns the footprint polygon (A) of a particle: the convex hull of its
// atoms projected along the beam, grown by `atom_radius_a` (Minkowski sum
// with a disk, approximated by 32 points per hull vertex). Empty if `atoms`
// is empty. Assumes a compact fcc gold cluster (as from GoldParticleAtomsA):
// atoms more than 10 A inside the outermost one are skipped as they cannot be
// hull vertices.
std::vector<Vec2> FootprintPolygonA(const std::vector<Vec3>& atoms, double atom_radius_a);

// Sets every pixel of `labels` (CV_16UC1) whose centre lies inside the convex
// polygon `polygon_a` (A, counter-clockwise, as from ConvexHull) to `label`;
// pixels outside the image are clipped. Returns the number of pixels set.
int64_t RasterizeConvexPolygon(const std::vector<Vec2>& polygon_a, double pixel_size_a,
                               uint16_t label, cv::Mat* labels);

// Fills `atoms_a` with the positions (A) of a slab of amorphous carbon
// covering [0, width_a) x [0, height_a) x [0, thickness_a): random sequential
// addition at kCarbonDensityPerA3 with no two atoms closer than
// kCarbonMinSpacingA in 3D, periodic in x and y as the simulation cell is.
// Deterministic given the state of `rng`. Thickness 0 gives no atoms.
// `density_per_a3` (atoms/A^3) replaces kCarbonDensityPerA3 when given (domain randomisation
// draws it per image; hydrocarbon contamination is less dense).
void GenerateAmorphousCarbon(double width_a, double height_a, double thickness_a, Rng* rng,
                             std::vector<Vec3>* atoms_a,
                             double density_per_a3 = kCarbonDensityPerA3);

// --- Particle morphologies (domain randomisation) ---

// Shapes a gold particle can take. kSphere is GoldParticleAtomsA; the others:
//   kTruncatedOctahedron  single fcc crystal bounded by {111} and {100} planes (the Archimedean
//                         proportions: {100} at 2c, {111} at sqrt(3) c from the centre).
//   kDecahedron           Ino decahedron: five fcc tetrahedral segments sharing a <110> axis
//                         (the 5-fold axis), twinned on {111}, each bounded by two external
//                         {111} faces and an Ino {100} truncation parallel to the axis.
//   kIcosahedron          Mackay icosahedron: twenty fcc tetrahedra sharing the centre, each
//                         with a {111} outer face, twinned on {111} with its neighbours.
// Twinned shapes are geometric approximations: the ideal tetrahedra (70.53 degree dihedral) are
// placed on the 72 degree sectors unstrained, which leaves 1.47 degree wedges empty; atoms on
// shared twin planes/axes closer than 1.5 A to an atom of an earlier segment are dropped. Every
// atom sits on an fcc site (a = kGoldLatticeConstantA) of its segment's lattice.
enum class Morphology { kSphere = 0, kTruncatedOctahedron = 1, kDecahedron = 2, kIcosahedron = 3 };
inline constexpr int kNumMorphologies = 4;

// "sphere", "truncated_octahedron", "decahedron", "icosahedron".
const char* MorphologyName(Morphology morphology);
absl::StatusOr<Morphology> ParseMorphology(std::string_view name);

// Atom centres of a particle of `morphology` lie within MorphologyReach(m) * diameter / 2 of
// its centre (1 for spheres; polyhedra have corners beyond their equal-area radius).
double MorphologyReach(Morphology morphology);

// Atoms (lab frame, A) of a particle of `morphology` whose footprint
// (FootprintPolygonExactA with kGoldAtomicRadiusA) has, as nearly as the atoms allow, the area
// of a disk of diameter `diameter_a`: the sites within MorphologyReach * diameter_a / 2 in order
// of the shape's gauge (distance to its facets), as many as match the area. kSphere returns
// GoldParticleAtomsA exactly. `particle_to_lab` rotates the particle frame (crystal frame for
// single crystals; for twinned shapes z is the 5-fold axis) into the lab. `lattice_offset`
// shifts single crystals' lattices; twinned shapes have a site at the centre. When `segments`
// is given it receives each atom's segment (0 for single crystals) and `segment_rotations` the
// crystal-to-particle rotation of each segment's lattice (site = centre + particle_to_lab *
// segment_rotation * (a/2 * (u, v, w) + a * offset) with integer u + v + w even).
std::vector<Vec3> ParticleAtomsA(Morphology morphology, const Vec2& center_a, double diameter_a,
                                 const Mat3& particle_to_lab, const Vec3& lattice_offset = {},
                                 std::vector<int>* segments = nullptr,
                                 std::vector<Mat3>* segment_rotations = nullptr);

// Like FootprintPolygonA but from every atom (no compact-cluster shortcut): for polyhedra.
std::vector<Vec2> FootprintPolygonExactA(const std::vector<Vec3>& atoms, double atom_radius_a);

// --- Carbon film nuisances (domain randomisation) ---

// A turbostratic graphitic fragment: `layers` graphene sheets 3.35 A apart seen edge-on, bent
// along a parabolic arc of curvature radius `curvature_radius_a` (signed), `length_a` long and
// `depth_a` deep along the beam, centred at `center_a` with its sheets along `angle_rad`.
struct GraphiticFragment {
  Vec2 center_a;
  double angle_rad = 0.0;
  double curvature_radius_a = 50.0;
  double length_a = 30.0;
  double depth_a = 20.0;
  int layers = 3;
};
// Spacing of graphite's (002) planes (A): the fringes these fragments show.
inline constexpr double kGraphiteLayerSpacingA = 3.35;

// Appends the fragment's carbon atoms projected onto the x-y plane: along each sheet, points
// 1.23 A apart (the projected zigzag spacing), each repeated to hold the sheet's atoms along
// the beam (graphene's 0.382 atoms/A^2 times depth_a).
void AppendGraphiticFragmentAtomsA(const GraphiticFragment& fragment, std::vector<Vec2>* atoms_a);

}  // namespace fringe::sim

#endif  // FRINGE_SIM_SPECIMEN_H_
