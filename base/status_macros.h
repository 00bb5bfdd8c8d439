// Small helpers for absl::Status plumbing (DESIGN rule 4: no exceptions across modules).
#ifndef FRINGE_BASE_STATUS_MACROS_H_
#define FRINGE_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FRINGE_CONCAT_INNER_(a, b) a##b
#define FRINGE_CONCAT_(a, b) FRINGE_CONCAT_INNER_(a, b)

// Returns from the current function with the status of `expr` when it is not OK.
#define FRINGE_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    const absl::Status fringe_status_ = (expr);      \
    if (!fringe_status_.ok()) return fringe_status_; \
  } while (0)

// `lhs = value of expr` when `expr` (a StatusOr) is OK; otherwise returns its status.
#define FRINGE_ASSIGN_OR_RETURN(lhs, expr) \
  FRINGE_ASSIGN_OR_RETURN_IMPL_(FRINGE_CONCAT_(fringe_statusor_, __LINE__), lhs, expr)
#define FRINGE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

#endif  // FRINGE_BASE_STATUS_MACROS_H_
