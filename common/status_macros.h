// Small helpers for propagating absl::Status, in the style of abseil's
// internal macros (which are not public API).
#ifndef CDDP_COMMON_STATUS_MACROS_H_
#define CDDP_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CDDP_CONCAT_INNER_(a, b) a##b
#define CDDP_CONCAT_(a, b) CDDP_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define CDDP_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status cddp_status_ = (expr);        \
    if (!cddp_status_.ok()) return cddp_status_; \
  } while (0)

// `CDDP_ASSIGN_OR_RETURN(auto x, StatusOrExpr());` declares/assigns the value
// or returns the error status from the enclosing function.
#define CDDP_ASSIGN_OR_RETURN(lhs, expr) \
  CDDP_ASSIGN_OR_RETURN_IMPL_(CDDP_CONCAT_(cddp_statusor_, __LINE__), lhs, expr)
#define CDDP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#endif  // CDDP_COMMON_STATUS_MACROS_H_
