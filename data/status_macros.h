// Private status helpers for the fringe::data module.
//
// The names carry a FRINGE_DATA_ prefix so they never collide with project-wide macros that other
// modules may define; only data/*.cc files include this header.
#ifndef FRINGE_DATA_STATUS_MACROS_H_
#define FRINGE_DATA_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FRINGE_DATA_CONCAT_INNER_(a, b) a##b
#define FRINGE_DATA_CONCAT_(a, b) FRINGE_DATA_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define FRINGE_DATA_RETURN_IF_ERROR(expr)            \
  do {                                               \
    const ::absl::Status fringe_data_s_ = (expr);    \
    if (!fringe_data_s_.ok()) return fringe_data_s_; \
  } while (0)

// `lhs = value of expr` (an absl::StatusOr<T>), or returns its status from the enclosing function.
#define FRINGE_DATA_ASSIGN_OR_RETURN(lhs, expr) \
  FRINGE_DATA_ASSIGN_OR_RETURN_IMPL_(FRINGE_DATA_CONCAT_(fringe_data_so_, __LINE__), lhs, expr)
#define FRINGE_DATA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                       \
  if (!tmp.ok()) return tmp.status();                      \
  lhs = std::move(tmp).value()

#endif  // FRINGE_DATA_STATUS_MACROS_H_
