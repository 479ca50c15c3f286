// One PushPullStream call: writes a push in pieces, one at a time as gRPC
// takes them (the next piece is encoded when the previous one is written),
// then half-closes; reads the reply as StreamCall does. The pieces are
// proto::PushPieceMessage, whose encoded bytes gRPC takes without a copy;
// the reply's are proto::ReplyPieceMessage, whose bytes stay in gRPC's
// slices until the handler copies them where they belong.
//
// Thread-safety: as StreamCall. `next_piece` runs on gRPC's threads (the
// first piece on the caller's), one piece at a time; it may block only for
// work that does not need gRPC (ShardClient's order check).
#ifndef CDDP_WORKER_CLIENT_PUSH_STREAM_CALL_H_
#define CDDP_WORKER_CLIENT_PUSH_STREAM_CALL_H_

#include <cstddef>
#include <functional>
#include <utility>

#include "cddp/v1/parameter_server.pb.h"
#include "common/happens_before.h"
#include "grpcpp/support/client_callback.h"
#include "proto/push_piece_message.h"
#include "proto/reply_piece_message.h"
#include "worker/client/stream_call.h"

namespace cddp::worker {

class PushStreamCall final
    : public StreamCall<proto::ReplyPieceMessage,
                        grpc::ClientBidiReactor<proto::PushPieceMessage,
                                                proto::ReplyPieceMessage>> {
 public:
  // Fills `piece` with piece number `index` of the push (its `last` field
  // marks the final piece). A non-OK status instead cancels the call with
  // it as the result: nothing more is written.
  using NextPiece =
      std::function<absl::Status(size_t index, proto::PushPieceMessage* piece)>;

  PushStreamCall(Handler handler, NextPiece next_piece)
      : StreamCall(std::move(handler)), next_piece_(std::move(next_piece)) {}

  // Call after the stub has bound this reactor. Writes the first piece.
  void Begin() {
    WriteNext();
    StreamCall::Begin();
  }

  void OnWriteDone(bool ok) override {
    CDDP_HAPPENS_AFTER(this);
    if (!ok) return;  // the call failed; OnDone follows with its status
    if (piece_.last) {
      CDDP_HAPPENS_BEFORE(this);
      StartWritesDone();
      return;
    }
    WriteNext();
  }

  // Valid after Wait(): the bytes of the pieces written.
  size_t bytes_sent() const { return bytes_sent_; }

 private:
  void WriteNext() {
    if (absl::Status s = next_piece_(pieces_++, &piece_); !s.ok()) {
      Fail(std::move(s));
      return;
    }
    bytes_sent_ += piece_.ByteSizeLong();
    CDDP_HAPPENS_BEFORE(this);
    StartWrite(&piece_);
  }

  NextPiece next_piece_;
  proto::PushPieceMessage piece_;
  size_t pieces_ = 0;
  size_t bytes_sent_ = 0;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_PUSH_STREAM_CALL_H_
