// gtest assertions on absl::Status and absl::StatusOr: a failed setup step
// fails the test with the status message instead of aborting the binary
// (CHECK) or dereferencing an error (`*status_or`).
//   ASSERT_OK(expr)                  expr: Status or StatusOr; fatal
//   EXPECT_OK(expr)                  the same, non-fatal
//   ASSERT_OK_AND_ASSIGN(lhs, expr)  lhs = std::move(expr).value() when ok;
//                                    otherwise a fatal failure. lhs may
//                                    declare (`auto x`). One per line.
// ASSERT_* return from the enclosing function, so like gtest's own ASSERTs
// they work only in functions returning void.
#ifndef CDDP_TESTS_SUPPORT_STATUS_MATCHERS_H_
#define CDDP_TESTS_SUPPORT_STATUS_MATCHERS_H_

#include <gtest/gtest.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cddp::testing::internal_status {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// Success, or a failure carrying the status (code and message).
template <typename S>
::testing::AssertionResult IsOk(const S& s) {
  const absl::Status& status = GetStatus(s);
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << status;
}

}  // namespace cddp::testing::internal_status

#define CDDP_STATUS_CONCAT_INNER_(a, b) a##b
#define CDDP_STATUS_CONCAT_(a, b) CDDP_STATUS_CONCAT_INNER_(a, b)

// Each evaluates `expr` once.
#ifndef ASSERT_OK
#define ASSERT_OK(expr) \
  ASSERT_TRUE(::cddp::testing::internal_status::IsOk(expr))
#endif
#ifndef EXPECT_OK
#define EXPECT_OK(expr) \
  EXPECT_TRUE(::cddp::testing::internal_status::IsOk(expr))
#endif

#ifndef ASSERT_OK_AND_ASSIGN
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  CDDP_ASSERT_OK_AND_ASSIGN_IMPL_(      \
      CDDP_STATUS_CONCAT_(cddp_status_or_, __LINE__), lhs, expr)
#define CDDP_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)   \
  auto tmp = (expr);                                      \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status(); \
  lhs = std::move(tmp).value()
#endif

#endif  // CDDP_TESTS_SUPPORT_STATUS_MATCHERS_H_
