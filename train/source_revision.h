// The revision of a source tree, for the provenance of models trained from a checkout by the
// command-line tools (fringe-train, fringe-study). It runs git; the server never calls it - a
// server-side training job records the revision fringe was built from.
#ifndef FRINGE_TRAIN_SOURCE_REVISION_H_
#define FRINGE_TRAIN_SOURCE_REVISION_H_

#include <string>

namespace fringe {

// `git rev-parse --short HEAD` in `source_dir`, with "-dirty" when tracked files changed;
// `fallback` when git or the tree is not there.
std::string SourceTreeRevision(const std::string& source_dir, const std::string& fallback);

}  // namespace fringe

#endif  // FRINGE_TRAIN_SOURCE_REVISION_H_
