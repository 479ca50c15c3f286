// Request validation on the shard: arbitrary bytes parsed as a sequence of
// cddp.v1 JoinRequest / PushPullRequest / PullRequest messages and handed
// to a ShardState (2 workers, one shard) the way the service hands them
// over (proto/wire_adapter.h conversions, then Join, Push, or a read
// lease). Whatever the requests, the shard's values stay finite, its step
// only moves forward, every answered push was for an open round, and every
// lease is ended.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "cddp/v1/parameter_server.pb.h"
#include "prometheus/registry.h"
#include "proto/wire_adapter.h"
#include "server/shard/clock.h"
#include "server/shard/server_metrics.h"
#include "server/shard/shard_state.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using cddp::fuzz::Check;
using cddp::fuzz::SameBits;

using cddp::server::RoundResult;
using cddp::server::ShardState;

// Collects the leases of answered pushes; they are ended after the call
// that answered them returns.
class Waiter : public cddp::server::PushWaiter {
 public:
  void OnRoundClosed(std::shared_ptr<const RoundResult> result,
                     uint64_t lease) override {
    Check(!answered_, "a waiter was answered twice");
    answered_ = true;
    if (result->refused.ok()) leases_->push_back(lease);
  }
  std::vector<uint64_t>* leases_ = nullptr;
  bool answered_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cddp::fuzz::FuzzInput in(data, size);
  cddp::server::ShardOptions options;
  options.num_workers = 2;
  options.optimizer.lr = 0.5f;
  const uint8_t mode = in.Int<uint8_t>();
  if (mode % 3 == 1) options.downlink = cddp::server::DownlinkMode::kSparse;
  if (mode % 3 == 2) {
    options.downlink = cddp::server::DownlinkMode::kCompressed;
    options.optimizer.momentum = 0.9f;
  }
  options.sparse_piece_pairs = 4;
  if (!options.Validate().ok()) return 0;
  // Built once: a registry's metric families cost far more than a shard.
  static cddp::server::RealClock clock;
  static prometheus::Registry registry;
  static cddp::server::ServerMetrics metrics(registry, 0);
  ShardState state(options, &clock, &metrics, nullptr);

  std::vector<std::unique_ptr<Waiter>> waiters;
  std::vector<uint64_t> leases;
  uint64_t last_step = 0;
  for (int n = 0; n < 32 && !in.empty(); ++n) {
    const uint8_t kind = in.Int<uint8_t>() % 3;
    const std::string_view bytes = in.Bytes(1 << 14);
    if (kind == 0) {
      cddp::v1::JoinRequest r;
      if (!r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        continue;
      }
      std::optional<std::string_view> initial;
      if (r.has_initial_values()) initial = r.initial_values();
      (void)state.Join(r.worker_id(), r.shard_index(),
                       cddp::proto::LayoutFromProto(r.layout()), initial,
                       r.applies_delta_replies(), r.applies_momentum());
    } else if (kind == 1) {
      cddp::v1::PushPullRequest r;
      if (!r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        continue;
      }
      auto w = std::make_unique<Waiter>();
      w->leases_ = &leases;
      uint64_t current = 0;
      const uint64_t open = state.step();
      if (state
              .Push(r.worker_id(), r.shard_index(), r.step(),
                    cddp::proto::ChunkView(r.chunk()), bytes.size(), w.get(),
                    &current)
              .ok()) {
        Check(r.step() + 1 >= open && r.step() <= open,
              "a push for neither the open nor the last round was taken");
        waiters.push_back(std::move(w));  // it may be answered later
      }
    } else {
      auto lease = state.BeginRead();
      if (lease.ok()) leases.push_back(lease->id);
    }
    for (uint64_t l : leases) {
      state.ReadValues(l, [](std::span<const float> v) {
        for (float x : v) Check(std::isfinite(x), "a value is not finite");
      });
      state.EndRead(l);
    }
    leases.clear();
    Check(state.step() >= last_step, "the step went back");
    last_step = state.step();
  }
  // Withdraw whoever still waits, so no waiter outlives the shard's use.
  for (auto& w : waiters) {
    if (!w->answered_) state.CancelWaiter(w.get());
  }
  for (uint64_t l : leases) state.EndRead(l);
  return 0;
}
