// ReadWorkerReport (launcher.h): what a worker's result file says.
#include "common/key_value_file.h"
#include "common/record_file.h"
#include "common/status_macros.h"
#include "deploy/local/launcher.h"

namespace cddp::local {

absl::StatusOr<WorkerReport> ReadWorkerReport(const std::string& path) {
  CDDP_ASSIGN_OR_RETURN(common::KeyValues kv, common::ReadKeyValueFile(path));
  WorkerReport report;
  // A missing entry is a malformed file, not a missing one.
  const auto bad = [&path](const absl::Status& s) {
    return common::WithPath(absl::InvalidArgumentError(s.message()), path);
  };
  const auto uint = [&](const char* key, uint64_t* v) -> absl::Status {
    absl::StatusOr<uint64_t> r = kv.GetUint64(key);
    if (!r.ok()) return bad(r.status());
    *v = *r;
    return absl::OkStatus();
  };
  CDDP_RETURN_IF_ERROR(uint("steps", &report.steps));
  CDDP_RETURN_IF_ERROR(uint("uplink_wire_bytes", &report.uplink_wire_bytes));
  CDDP_RETURN_IF_ERROR(uint("uplink_dense_bytes", &report.uplink_dense_bytes));
  CDDP_RETURN_IF_ERROR(uint("downlink_bytes", &report.downlink_bytes));
  absl::StatusOr<double> accuracy = kv.GetDouble("test_accuracy");
  if (!accuracy.ok()) return bad(accuracy.status());
  report.test_accuracy = *accuracy;
  absl::StatusOr<std::string> crc = kv.Get("params_crc32");
  if (!crc.ok()) return bad(crc.status());
  report.params_crc32 = *crc;
  absl::StatusOr<bool> match = kv.GetBool("params_match_servers");
  if (!match.ok()) return bad(match.status());
  report.params_match_servers = *match;
  if (kv.Get("shards_at_one_step").ok()) {
    absl::StatusOr<bool> one_step = kv.GetBool("shards_at_one_step");
    if (!one_step.ok()) return bad(one_step.status());
    report.shards_at_one_step = *one_step;
  }
  report.seen = true;
  return report;
}

}  // namespace cddp::local
