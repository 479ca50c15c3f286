// The one way a LibTorch exception becomes a Status: LibTorch reports errors
// by throwing c10::Error, and every LibTorch translation unit catches it at
// its edge and returns TorchError(what it was doing, e). Header only.
#ifndef CDDP_WORKER_TORCH_TORCH_ERROR_H_
#define CDDP_WORKER_TORCH_TORCH_ERROR_H_

#include <c10/util/Exception.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace cddp::worker {

// INTERNAL: "<what>: LibTorch error: <LibTorch's message, no backtrace>".
inline absl::Status TorchError(absl::string_view what, const c10::Error& e) {
  return absl::InternalError(
      absl::StrCat(what, ": LibTorch error: ", e.what_without_backtrace()));
}

}  // namespace cddp::worker

#endif  // CDDP_WORKER_TORCH_TORCH_ERROR_H_
