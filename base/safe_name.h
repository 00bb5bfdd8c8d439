// Names a client may choose for things the server stores on disk (datasets, model names,
// pretrained weight files): letters, digits, '-', '_', '.', not starting with '.', at most 200
// characters - so a name is always one path component and never "..", hidden or absolute.
#ifndef FRINGE_BASE_SAFE_NAME_H_
#define FRINGE_BASE_SAFE_NAME_H_

#include <string>

namespace fringe {

bool IsSafeName(const std::string& name);

}  // namespace fringe

#endif  // FRINGE_BASE_SAFE_NAME_H_
