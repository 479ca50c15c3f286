// One client-side server-streaming call on the gRPC callback API, with a
// per-message handler and a blocking Wait(). Used by ShardClient to run the
// calls to all shards at once: start them all, then wait for each. `Base`
// is the reactor: ClientReadReactor for a server-streaming call, or a
// ClientBidiReactor whose writes a subclass makes (push_stream_call.h).
//
// Thread-safety: the handler runs on gRPC's threads, one message at a time;
// Wait() may be called from one other thread. The CDDP_HAPPENS_* marks tell
// ThreadSanitizer what gRPC guarantees but does inside its own,
// uninstrumented code: a reaction happens after the Start* call that asked
// for it (common/happens_before.h).
#ifndef CDDP_WORKER_CLIENT_STREAM_CALL_H_
#define CDDP_WORKER_CLIENT_STREAM_CALL_H_

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/happens_before.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "proto/status_convert.h"

namespace cddp::worker {

template <typename Response, typename Base = grpc::ClientReadReactor<Response>>
class StreamCall : public Base {
 public:
  // Called for every message; a non-OK status cancels the call and becomes
  // its result.
  using Handler = std::function<absl::Status(const Response&)>;

  explicit StreamCall(Handler handler) : handler_(std::move(handler)) {}

  grpc::ClientContext* context() { return &context_; }

  // Call after the stub has bound this reactor (stub->async()->Method(...)).
  void Begin() {
    CDDP_HAPPENS_BEFORE(this);
    this->StartRead(&response_);
    this->StartCall();
  }

  // Cancels the call with `error` as its result (Wait returns the first
  // such error): the handler's, or the subclass's own (a piece it will not
  // write).
  void Fail(absl::Status error) {
    {
      absl::MutexLock lock(&mu_);
      if (handler_error_.ok()) handler_error_ = std::move(error);
    }
    context_.TryCancel();
  }

  void OnReadDone(bool ok) final {
    CDDP_HAPPENS_AFTER(this);
    if (!ok) return;  // end of stream or failure; OnDone follows
    ++messages_;
    bytes_received_ += response_.ByteSizeLong();
    absl::Status s = handler_(response_);
    if (!s.ok()) {
      Fail(std::move(s));
      return;
    }
    CDDP_HAPPENS_BEFORE(this);
    this->StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) final {
    CDDP_HAPPENS_AFTER(this);
    done_at_ = absl::Now();
    absl::MutexLock lock(&mu_);
    grpc_status_ = status;
    done_ = true;
  }

  // Blocks until the call is over. Returns the handler's error if it
  // failed, else the call's status.
  absl::Status Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    if (!handler_error_.ok()) return handler_error_;
    return proto::FromGrpcStatus(grpc_status_);
  }

  // Valid after Wait().
  uint64_t bytes_received() const { return bytes_received_; }
  uint64_t messages() const { return messages_; }
  absl::Time done_at() const { return done_at_; }

 private:
  Handler handler_;
  grpc::ClientContext context_;
  Response response_;
  uint64_t bytes_received_ = 0;
  uint64_t messages_ = 0;
  absl::Time done_at_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status grpc_status_ ABSL_GUARDED_BY(mu_);
  absl::Status handler_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_STREAM_CALL_H_
