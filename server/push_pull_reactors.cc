#include "server/push_pull_reactors.h"

#include <optional>
#include <span>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "common/happens_before.h"
#include "common/status_macros.h"
#include "common/wire/push_pieces.h"
#include "proto/status_convert.h"
#include "proto/wire_adapter.h"
#include "server/worker_identity.h"

namespace cddp::server {

using cddp::v1::PushPullRequest;
using ReplyPiece = proto::ReplyPieceMessage;

grpc::Status AbandonedReply() {
  return grpc::Status(grpc::StatusCode::ABORTED,
                      "reply abandoned: the reader did not keep up within "
                      "the server's --reply_timeout; pull again");
}

namespace {

// The reactors mark every Start*/Finish call with CDDP_HAPPENS_BEFORE(this)
// and open every reaction with CDDP_HAPPENS_AFTER(this), and the handlers
// mark the reactor they return: gRPC orders these, but inside its own
// uninstrumented code, where ThreadSanitizer cannot see it
// (common/happens_before.h). Nothing in a normal build.

// Answers one push once it is registered (Enter): waits for its round as
// the ShardState's waiter, then streams the reply. `Base` is the gRPC
// reactor of the method: ServerWriteReactor (PushPull) or ServerBidiReactor
// (PushPullStream). Deletes itself in OnDone.
template <typename Base>
class PushReplyReactor : public Base, public PushWaiter {
 public:
  PushReplyReactor(grpc::CallbackServerContext* context,
                   const PushContext& push)
      : context_(context), push_(push) {}

  // Once mu_ is released after the last piece, another thread may finish
  // the call and delete this reactor: take what is needed after the lock
  // into locals first.
  void OnRoundClosed(std::shared_ptr<const RoundResult> result,
                     uint64_t lease) override {
    ShardState* const state = push_.state;
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      delivered_ = true;
      if (!result->refused.ok()) {  // nothing applied, no lease
        FinishLocked(proto::ToGrpcStatus(result->refused));
        return;
      }
      has_lease_ = true;
      lease_ = lease;
      result_ = std::move(result);
      if (cancelled_) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      } else {
        release = WriteNextLocked();
      }
      if (release) has_lease_ = false;
    }
    if (release) state->EndRead(lease);
  }

  void OnWriteDone(bool ok) override {
    CDDP_HAPPENS_AFTER(this);
    ShardState* const state = push_.state;
    bool release = false;
    uint64_t lease = 0;
    {
      absl::MutexLock lock(&mu_);
      lease = lease_;
      if (!ok) {
        FinishLocked(
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "reply stream broke"));
      } else if (wrote_last_) {
        FinishLocked(grpc::Status::OK);
      } else {
        release = WriteNextLocked();
        if (release) has_lease_ = false;
      }
    }
    if (release) state->EndRead(lease);
  }

  void OnCancel() override {
    CDDP_HAPPENS_AFTER(this);
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    // Still arriving: nothing to withdraw. Not yet answered: withdraw
    // from the round. If the round already took us, OnRoundClosed is
    // coming and finishes the call.
    if (!entered_ || (!delivered_ && push_.state->CancelWaiter(this))) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
  }

  void OnDone() override {
    CDDP_HAPPENS_AFTER(this);
    bool release;
    uint64_t lease;
    {
      absl::MutexLock lock(&mu_);
      release = has_lease_;
      has_lease_ = false;
      lease = lease_;
    }
    if (release) push_.state->EndRead(lease);
    delete this;
  }

 protected:
  // Registers the push with the shard through `enter` (ShardState::Push or
  // PushAssembled with this as the waiter; called without mu_, since it may
  // answer this waiter at once) and finishes the call if it is refused.
  void Enter(absl::FunctionRef<absl::Status(uint64_t* current_step)> enter) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      entered_ = true;
    }
    uint64_t current_step = 0;
    const absl::Status s = enter(&current_step);
    absl::MutexLock lock(&mu_);
    if (!s.ok()) {
      context_->AddTrailingMetadata(proto::kCurrentStepMetadataKey,
                                    std::to_string(current_step));
      FinishLocked(proto::ToGrpcStatus(s));
    } else if (cancelled_ && !delivered_ && push_.state->CancelWaiter(this)) {
      // Cancelled while entering, when there was nothing to withdraw yet.
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
  }

  // OK when the call's peer may push as `worker_id` (always without
  // authorize_workers); a refusal is counted.
  absl::Status Authorize(uint32_t worker_id) {
    if (!push_.authorize_workers) return absl::OkStatus();
    absl::Status s = AuthorizeWorker(context_->auth_context().get(), worker_id);
    if (!s.ok()) {
      push_.metrics->Reject(RejectReason::kNotAuthorized);
      push_.metrics->pushes_rejected.Increment();
    }
    return s;
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    CDDP_HAPPENS_BEFORE(this);
    this->Finish(status);
  }

  grpc::CallbackServerContext* const context_;
  const PushContext push_;
  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;

 private:
  // Builds and starts the next piece; true once the values are no longer
  // needed (the last piece is built), so the caller can end the lease.
  bool WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ShardState* const state = push_.state;
    if (sparse_next_ == 0 && dense_next_ == 0) {  // the reply's first piece
      push_.metrics->sent_dense_equivalent_bytes.Increment(
          static_cast<double>(state->values().size() * sizeof(float)));
    }
    if (result_->sparse) {
      if (sparse_reply_ == nullptr)
        sparse_reply_ = push_.sparse_replies->Get(result_);
      const ReplyPiece& piece = *(*sparse_reply_)[sparse_next_++];
      wrote_last_ = sparse_next_ == sparse_reply_->size();
      push_.metrics->sent_bytes.Increment(
          static_cast<double>(piece.ByteSizeLong()));
      CDDP_HAPPENS_BEFORE(this);
      this->StartWrite(&piece);
      // The pieces hold their own bytes and never read the shard's values:
      // the lease can end with the first piece (and only once).
      return sparse_next_ == 1;
    }
    const size_t index = dense_next_++;
    dense_piece_ =
        push_.dense_replies->Get(result_, index, [&](ReplyPiece* piece) {
          piece->step = result_->open_round;
          piece->contributors = result_->contributors;
          size_t offset = index * push_.piece_floats;
          return state->ReadValues(lease_, [&](std::span<const float> values) {
            proto::FillDensePiece(values, push_.piece_floats, &offset, piece);
          });
        });
    if (dense_piece_ == nullptr) {
      FinishLocked(AbandonedReply());
      return true;  // the lease is gone already
    }
    wrote_last_ = dense_piece_->last;
    push_.metrics->sent_bytes.Increment(
        static_cast<double>(dense_piece_->ByteSizeLong()));
    CDDP_HAPPENS_BEFORE(this);
    this->StartWrite(dense_piece_.get());
    return wrote_last_;
  }

  bool entered_ ABSL_GUARDED_BY(mu_) = false;
  bool delivered_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool has_lease_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t lease_ ABSL_GUARDED_BY(mu_) = 0;
  bool wrote_last_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<const RoundResult> result_ ABSL_GUARDED_BY(mu_);
  // Dense downlink: the piece being written and the next one's number.
  DenseReplyCache::Piece dense_piece_ ABSL_GUARDED_BY(mu_);
  size_t dense_next_ ABSL_GUARDED_BY(mu_) = 0;
  // Sparse downlink: the round's shared messages and the next to write.
  std::shared_ptr<const SparseReplyCache::Reply> sparse_reply_
      ABSL_GUARDED_BY(mu_);
  size_t sparse_next_ ABSL_GUARDED_BY(mu_) = 0;
};

// PushPull: the whole push arrived with the call.
class PushPullReactor final
    : public PushReplyReactor<grpc::ServerWriteReactor<ReplyPiece>> {
 public:
  using PushReplyReactor::PushReplyReactor;

  void Start(const PushPullRequest& request) {
    Enter([&](uint64_t* current_step) {
      CDDP_RETURN_IF_ERROR(Authorize(request.worker_id()));
      return push_.state->Push(request.worker_id(), request.shard_index(),
                               request.step(),
                               proto::ChunkView(request.chunk()),
                               request.ByteSizeLong(), this, current_step);
    });
  }
};

// PushPullStream: reads the pieces, assembling them as they come, and
// enters the push with its last piece.
class PushPullStreamReactor final
    : public PushReplyReactor<
          grpc::ServerBidiReactor<proto::PushPieceMessage, ReplyPiece>> {
 public:
  using PushReplyReactor::PushReplyReactor;

  void Start() {
    CDDP_HAPPENS_BEFORE(this);
    StartRead(&piece_);
  }

  void OnReadDone(bool ok) override {
    CDDP_HAPPENS_AFTER(this);
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (!ok) {  // the stream ended or broke before the last piece
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                                  "the push ended before its last piece"));
        return;
      }
      if (absl::Status s = TakePieceLocked(); !s.ok()) {
        FinishLocked(proto::ToGrpcStatus(s));
        return;
      }
      if (!piece_.last) {
        CDDP_HAPPENS_BEFORE(this);
        StartRead(&piece_);
        return;
      }
    }
    // The last piece: nothing else touches the assembler from here on.
    Enter([&](uint64_t* current_step) {
      return push_.state->PushAssembled(
          worker_id_, shard_index_, step_, assembler_->Take(), decode_size_,
          assembler_->digest(), wire_bytes_, this, current_step);
    });
  }

 private:
  // Checks piece_ against the call's first piece (or, for the first, the
  // shard's refusals that need no decoding) and adds it to the push.
  absl::Status TakePieceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    wire_bytes_ += piece_.ByteSizeLong();
    if (!assembler_.has_value()) {
      worker_id_ = piece_.worker_id;
      shard_index_ = piece_.shard_index;
      step_ = piece_.step;
      CDDP_RETURN_IF_ERROR(Authorize(worker_id_));
      uint64_t current_step = 0;
      if (absl::Status s = push_.state->PreAdmit(worker_id_, shard_index_,
                                                 step_, &current_step);
          !s.ok()) {
        context_->AddTrailingMetadata(proto::kCurrentStepMetadataKey,
                                      std::to_string(current_step));
        return s;
      }
      decode_size_ = push_.state->decode_size();
      assembler_.emplace(decode_size_, push_.state->SpareBuffer(worker_id_));
    } else if (piece_.worker_id != worker_id_ ||
               piece_.shard_index != shard_index_ || piece_.step != step_) {
      return Refused(absl::InvalidArgumentError(absl::StrCat(
          "piece ", assembler_->pieces(), " of a push is for worker ",
          piece_.worker_id, ", shard ", piece_.shard_index, ", step ",
          piece_.step, "; its first piece was for worker ", worker_id_,
          ", shard ", shard_index_, ", step ", step_)));
    }
    return Refused(
        assembler_->Add(proto::ChunkPartsOf(piece_, &parts_), piece_.offset));
  }

  // Counts a push refused for its content as Push counts an invalid chunk.
  absl::Status Refused(absl::Status s) {
    if (!s.ok()) {
      push_.metrics->Reject(RejectReason::kInvalidChunk);
      push_.metrics->pushes_rejected.Increment();
    }
    return s;
  }

  // The piece being read: its chunk's bytes are still gRPC's slices,
  // copied into the push by the assembler.
  proto::PushPieceMessage piece_;
  proto::PieceParts parts_;
  // From the first piece on.
  uint32_t worker_id_ = 0;
  uint32_t shard_index_ = 0;
  uint64_t step_ = 0;
  uint32_t decode_size_ = 0;
  size_t wire_bytes_ = 0;
  std::optional<common::PushAssembler> assembler_;
};

}  // namespace

grpc::ServerWriteReactor<ReplyPiece>* StartPushPull(
    grpc::CallbackServerContext* context, const PushPullRequest* request,
    const PushContext& push) {
  auto* reactor = new PushPullReactor(context, push);
  reactor->Start(*request);
  CDDP_HAPPENS_BEFORE(reactor);  // the handler happens before the reactions
  return reactor;
}

grpc::ServerBidiReactor<proto::PushPieceMessage, ReplyPiece>*
StartPushPullStream(grpc::CallbackServerContext* context,
                    const PushContext& push) {
  auto* reactor = new PushPullStreamReactor(context, push);
  reactor->Start();
  CDDP_HAPPENS_BEFORE(reactor);
  return reactor;
}

}  // namespace cddp::server
