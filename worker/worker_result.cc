// Implementation of worker_result.h.
#include "worker/worker_result.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/key_value_file.h"
#include "common/seconds.h"

namespace cddp::worker {

void StepTotals::Count(uint64_t uplink_wire_bytes, uint64_t uplink_dense_bytes,
                       uint64_t downlink_bytes, TrainResult* result) {
  result->uplink_wire_bytes += uplink_wire_bytes;
  result->uplink_dense_bytes += uplink_dense_bytes;
  result->downlink_bytes += downlink_bytes;
  const auto step_end = std::chrono::steady_clock::now();
  if (!first_step_end_) first_step_end_ = step_end;
  result->steady_seconds = common::Seconds(step_end - *first_step_end_);
}

absl::Status WriteWorkerResult(const std::string& path, uint32_t worker_id,
                               const TrainResult& r) {
  common::KeyValues kv;
  const std::pair<const char*, std::string> entries[] = {
      {"worker", absl::StrCat(worker_id)},
      {"steps", absl::StrCat(r.steps)},
      {"test_accuracy", absl::StrFormat("%.6f", r.test_accuracy)},
      {"test_loss", absl::StrFormat("%.6f", r.test_loss)},
      {"final_loss", absl::StrFormat("%.6f", r.final_loss)},
      {"uplink_wire_bytes", absl::StrCat(r.uplink_wire_bytes)},
      {"uplink_dense_bytes", absl::StrCat(r.uplink_dense_bytes)},
      {"downlink_bytes", absl::StrCat(r.downlink_bytes)},
      {"seconds", absl::StrFormat("%.3f", r.seconds)},
      {"steady_seconds", absl::StrFormat("%.6f", r.steady_seconds)},
      {"params_match_servers", r.params_match_servers ? "1" : "0"},
      {"params_crc32", absl::StrFormat("%08x", r.params_crc32)},
      {"shards_at_one_step", r.shards_at_one_step ? "1" : "0"},
      {"stopped_early", r.stopped_early ? "1" : "0"}};
  for (const auto& [key, value] : entries) {
    if (absl::Status s = kv.Set(key, value); !s.ok()) return s;
  }
  return common::WriteKeyValueFile(path, kv);
}

}  // namespace cddp::worker
