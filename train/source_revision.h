// The revision of a source tree, for the provenance of models trained from a checkout by the
// command-line tools (fringe-train, fringe-study). It runs git; the server never calls it - a
// server-side training job records the revision fringe was built from.
#ifndef FRINGE_TRAIN_SOURCE_REVISION_H_
#define FRINGE_TRAIN_SOURCE_REVISION_H_

#include <string>

namespace fringe {

// `git rev-parse --short HEAD` in the checkout fringe was built from, with "-dirty" when
// tracked files changed; the configure-time revision when git or the tree is not there.
std::string SourceTreeRevision();

}  // namespace fringe

#endif  // FRINGE_TRAIN_SOURCE_REVISION_H_
