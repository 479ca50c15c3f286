// ShardClient's private state of one PushPull (shard_client.cc and, for the
// overlapped PushPull, shard_client_overlap.cc). Not part of the API.
#ifndef CDDP_WORKER_CLIENT_PUSH_PULL_ROUND_H_
#define CDDP_WORKER_CLIENT_PUSH_PULL_ROUND_H_

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "worker/client/pending_check.h"
#include "worker/client/push_stream_call.h"
#include "worker/client/shard_client.h"

namespace cddp::worker {

// What one PushPull's calls share: written by the calling thread while it
// starts the calls, and by gRPC's threads for their own shard's reply.
struct ShardClient::PushPullRound {
  struct Reply {
    uint64_t step = 0;
    uint32_t contributors = 0;
    uint64_t next = 0;  // dense: values received so far
    bool sparse = false;
    bool last = false;
    bool any = false;            // a reply arrived: the round took the push
    bool applied_delta = false;  // a delta piece changed params
  };

  PushPullRound(std::vector<uint64_t> steps_in, std::span<float> params_in,
                uint32_t num_shards)
      : steps(std::move(steps_in)),
        params(params_in),
        resync(num_shards, 0),
        held(num_shards, 0),
        attempts(num_shards, 0),
        replies(num_shards),
        calls(num_shards),
        started(num_shards) {
    result.contributors.assign(num_shards, 0);
  }

  const std::vector<uint64_t> steps;  // the step each shard is pushed at
  const std::span<float> params;
  // Per shard; not vector<bool>, whose packed bits would be shared bytes.
  // An attempt that failed after applying delta pieces left the shard's
  // range unknown (a retry's reply adds the same differences again): pull
  // it once the round is over.
  std::vector<char> resync;
  // Shards not pushed this time: ahead of the others, which catch up.
  std::vector<char> held;
  std::vector<int> attempts;  // calls started per shard
  std::vector<Reply> replies;
  std::vector<std::unique_ptr<PushStreamCall>> calls;
  // Per shard: the first attempt, started before CloseRound (overlap).
  std::vector<Waiter> started;
  // A whole-vector selection's order check, run while the push streams:
  // every shard's last piece waits for it (null: checked before).
  const PendingCheck* order_check = nullptr;
  // The pushed values are the caller's, valid until the PushPull returns:
  // fp32 pieces of a whole shard's run may lend them to gRPC (lent_).
  bool lend_values = false;
  absl::Time start;
  PushPullResult result;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_PUSH_PULL_ROUND_H_
