// KernelStatus: the result of the CUDA kernel library's host functions.
// The library is absl-free (it builds on a machine that has only the CUDA
// toolkit), so this is a small stand-in for absl::Status: a code and a
// message. Callers with absl map the code (device_error_feedback.cc).
#ifndef CDDP_COMMON_COMPRESS_CUDA_KERNEL_STATUS_H_
#define CDDP_COMMON_COMPRESS_CUDA_KERNEL_STATUS_H_

#include <string>
#include <utility>

namespace cddp::cuda {

class [[nodiscard]] KernelStatus {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,  // a caller's programming error (sizes, null pointers)
    kUnavailable,      // no usable CUDA device or driver
    kOutOfMemory,      // device or pinned memory ran out
    kInternal,         // any other CUDA error
  };

  static KernelStatus Ok() { return KernelStatus(Code::kOk, {}); }
  static KernelStatus Error(Code code, std::string message) {
    return KernelStatus(code, std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  KernelStatus(Code code, std::string message)
      : code_(code), message_(std::move(message)) {}
  Code code_;
  std::string message_;
};

}  // namespace cddp::cuda

#endif  // CDDP_COMMON_COMPRESS_CUDA_KERNEL_STATUS_H_
