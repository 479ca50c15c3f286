// ShardClient's gathering of a PushPull round (shard_client.h): every
// shard's outcome into the result and the shard steps, the pairs no shard
// counted for certain back to the caller, those of broken calls kept until
// a Join settles them.
#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "worker/client/push_pull_round.h"
#include "worker/client/shard_client.h"

namespace cddp::worker {
namespace {

// A status the server answers a push with before counting it: on the only
// attempt of a call, the push was certainly not counted.
bool RefusedByServer(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::Status ShardClient::GatherReplies(
    PushPullRound& round, const std::vector<absl::Status>& statuses,
    common::SparseSelection* undelivered, std::vector<uint32_t>* stale) {
  PushPullResult& result = round.result;
  absl::Status first_error;
  const auto hand_back = [&](uint32_t s, common::SparseSelection* to) {
    const ShardPairs& pairs = split_[s];
    if (pairs.whole) {
      const size_t from = to->indices.size();
      to->indices.resize(from + pairs.size());
      std::iota(to->indices.begin() + static_cast<ptrdiff_t>(from),
                to->indices.end(), static_cast<uint32_t>(shard_map_.begin(s)));
    } else {
      to->indices.insert(to->indices.end(), pairs.indices.begin(),
                         pairs.indices.end());
    }
    to->values.insert(to->values.end(), pairs.values.begin(),
                      pairs.values.end());
  };
  for (uint32_t s = 0; s < shard_map_.num_shards(); ++s) {
    if (round.held[s]) {  // not pushed: certainly not counted
      if (undelivered != nullptr) hand_back(s, undelivered);
      continue;
    }
    absl::Status st = statuses[s];
    const PushPullRound::Reply& rep = round.replies[s];
    if (st.ok() &&
        (!rep.last || (!rep.sparse && rep.next != shard_map_.size(s)))) {
      st = absl::DataLossError("incomplete reply");
    }
    result.bytes_received += round.calls[s]->bytes_received();
    result.bytes_sent += round.calls[s]->bytes_sent();
    if (metrics_) {
      metrics_->push_pull_seconds[s]->Observe(
          absl::ToDoubleSeconds(round.calls[s]->done_at() - round.start));
    }
    if (!st.ok()) {
      if (first_error.ok()) first_error = Annotate(st, s);
      if (rep.any) continue;  // the round took it
      if (round.attempts[s] == 1 && RefusedByServer(st)) {
        if (undelivered != nullptr) hand_back(s, undelivered);
        continue;
      }
      // The call broke: the shard may have counted it. The next Join
      // settles it (SettleAndWait); one still unsettled from before is
      // taken as not counted (callers Join after every failure).
      Unsettled& u = unsettled_[s];
      if (u.pending) {
        uncounted_.Append(u.pairs);
      }
      u.pending = true;
      u.step = round.steps[s];
      u.pairs.clear();
      hand_back(s, &u.pairs);
      continue;
    }
    result.contributors[s] = rep.contributors;
    // A sparse update is exact only on top of the step it followed.
    if ((rep.sparse && shard_steps_[s] != round.steps[s]) || round.resync[s]) {
      stale->push_back(s);
    }
    shard_steps_[s] = rep.step;
    result.step = std::max(result.step, rep.step);
  }
  return first_error;
}

}  // namespace cddp::worker
