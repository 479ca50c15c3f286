// ParameterClient: how a training loop talks to the parameter servers, and
// nothing more — join, push a step's sparse gradient and take the reply,
// pull. The training session, and anything else that trains, depends on
// this interface only; ShardClient (gRPC, every shard at once) implements
// it, and tests may hand the session any other implementation.
//
// All values live in the caller's flat parameter vector (`params`, the
// model's parameters back to back in parameter order). No LibTorch.
//
// Thread-safety: implementations need not be thread-safe; one training loop
// drives a client, one call at a time.
#ifndef CDDP_WORKER_CLIENT_PARAMETER_CLIENT_H_
#define CDDP_WORKER_CLIENT_PARAMETER_CLIENT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/compress/sparse.h"

namespace cddp::worker {

// What one push-pull did.
struct PushPullResult {
  uint64_t step = 0;  // the job's step to push next: the largest shard step
  std::vector<uint32_t> contributors;  // per shard, for the closed round
  uint64_t bytes_sent = 0;             // serialized request bytes
  uint64_t bytes_received = 0;         // serialized reply bytes
};

class ParameterClient {
 public:
  virtual ~ParameterClient() = default;

  // Joins the job with this worker's layout (`tensor_sizes` add up to
  // params.size()) and initial values (`params`, used only where the servers
  // have none yet), then pulls: `params` ends up with the servers' values.
  // Returns the step to push next. FAILED_PRECONDITION when the layout
  // differs from the job's; UNAVAILABLE when a server cannot be reached.
  virtual absl::StatusOr<uint64_t> Join(std::span<const uint64_t> tensor_sizes,
                                        std::span<float> params) = 0;

  // Pushes `selection` (flat indices, strictly ascending, finite values) for
  // the next step and writes the servers' reply into `params`. On error the
  // Status says why, `params` may hold a partial reply (Join again to
  // resynchronise), and `undelivered` (cleared first) holds the pairs no
  // server counted for certain, for the caller's error-feedback residual;
  // the pairs of a push that may have been counted (its call broke) are
  // settled by the next Join (TakeUncounted). A rejection for a wrong step
  // is FAILED_PRECONDITION.
  virtual absl::StatusOr<PushPullResult> PushPull(
      const common::SparseSelection& selection, std::span<float> params,
      common::SparseSelection* undelivered) = 0;

  // PushPull with the selection handed over in parts while it is being
  // computed (the backward pass, --overlap_backward), so that a shard's push
  // can start as soon as its range is known: BeginPushPull(params), then
  // PushPullPart(from, pairs) for consecutive ranges from the top of the
  // flat vector down (each part holds the pairs of [from, the previous
  // part's from), the first part's range ending at params.size()), then
  // FinishPushPull(undelivered), which takes whatever lies below the last
  // part as holding no pairs. The round, its reply in `params`, its result
  // and its errors are those of one PushPull of the parts' union, bit for
  // bit; replies may be written into `params` from BeginPushPull on, and
  // only into ranges already handed over. Every BeginPushPull that returned
  // OK must be followed by FinishPushPull. FAILED_PRECONDITION for calls out
  // of this order, INVALID_ARGUMENT (nothing changed) for a part that is
  // not below the previous one or holds pairs outside its range or not
  // strictly ascending. The default gathers the parts and calls PushPull
  // at the end: correct, without overlap.
  virtual absl::Status BeginPushPull(std::span<float> params);
  virtual absl::Status PushPullPart(uint64_t from,
                                    const common::SparseSelection& pairs);
  virtual absl::StatusOr<PushPullResult> FinishPushPull(
      common::SparseSelection* undelivered);

  // Writes the servers' current values into `params`; returns their step.
  virtual absl::StatusOr<uint64_t> Pull(std::span<float> params) = 0;

  // After a Join: appends to `out` the pairs of earlier pushes whose calls
  // broke and that their shards say they did not count, for the residual;
  // the pairs of those the shards did count are dropped (exactly once).
  // Pairs of a shard no Join has reached since stay pending.
  virtual void TakeUncounted(common::SparseSelection* out) { (void)out; }

  // False if the last Join, Pull or PushPull left the shards at different
  // steps (a shard resumed from an older checkpoint and has not caught up).
  virtual bool ShardsAtOneStep() const { return true; }

 protected:
  // The parts of an overlapped PushPull, checked, for the default
  // implementation and for ShardClient (parameter_client.cc).
  struct PartsInFlight {
    bool open = false;
    std::span<float> params;
    uint64_t covered_from = 0;                   // the lowest part's `from`
    std::vector<common::SparseSelection> parts;  // as handed over, top down

    // Opens for `params`; FAILED_PRECONDITION if already open.
    absl::Status Open(std::span<float> params);
    // Checks a part as PushPullPart says and keeps it.
    absl::Status Add(uint64_t from, const common::SparseSelection& pairs);
    // The pairs of flat range [begin, end) over every part, ascending.
    void Collect(uint64_t begin, uint64_t end,
                 common::SparseSelection* out) const;
    // Ends the open PushPull (its parts dropped); FAILED_PRECONDITION,
    // nothing changed, when none is open.
    absl::Status Close();
  };

 private:
  PartsInFlight default_parts_;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_PARAMETER_CLIENT_H_
