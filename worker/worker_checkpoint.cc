#include "worker/worker_checkpoint.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/record_file.h"
#include "common/status_macros.h"

namespace cddp::worker {
namespace {

constexpr std::string_view kKind = "WRKR";
constexpr uint32_t kVersion = 1;

}  // namespace

std::string WorkerCheckpointPath(const std::string& dir, uint32_t worker_id) {
  return (std::filesystem::path(dir) /
          absl::StrCat("worker-", worker_id, ".ckpt"))
      .string();
}

absl::Status SaveWorkerCheckpoint(const std::string& dir, uint32_t worker_id,
                                  uint64_t step, DataPosition position,
                                  const common::ErrorFeedback& residuals) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(
        "cannot create checkpoint directory ", dir, ": ", ec.message()));
  }
  std::string payload;
  common::AppendU32(worker_id, &payload);
  common::AppendU64(step, &payload);
  common::AppendU64(static_cast<uint64_t>(position.epoch), &payload);
  common::AppendU64(static_cast<uint64_t>(position.batch), &payload);
  payload += residuals.Serialize();
  return common::WriteFileAtomically(
      WorkerCheckpointPath(dir, worker_id),
      common::MakeRecord(kKind, kVersion, payload));
}

absl::StatusOr<std::optional<WorkerCheckpoint>> LoadWorkerCheckpoint(
    const std::string& dir, uint32_t worker_id) {
  const std::string path = WorkerCheckpointPath(dir, worker_id);
  absl::StatusOr<std::string> data = common::ReadWholeFile(path);
  if (absl::IsNotFound(data.status())) return std::nullopt;
  if (!data.ok()) return data.status();
  absl::StatusOr<std::string_view> payload =
      common::ParseRecord(*data, kKind, kVersion);
  if (!payload.ok()) return common::WithPath(payload.status(), path);
  common::PayloadReader reader(*payload);
  WorkerCheckpoint ckpt;
  uint64_t epoch = 0, batch = 0;
  for (absl::Status s :
       {reader.ReadU32(&ckpt.worker_id), reader.ReadU64(&ckpt.step),
        reader.ReadU64(&epoch), reader.ReadU64(&batch)}) {
    if (!s.ok()) return common::WithPath(s, path);
  }
  if (ckpt.worker_id != worker_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": belongs to worker ", ckpt.worker_id, ", not ", worker_id));
  }
  ckpt.position = {static_cast<int64_t>(epoch), static_cast<int64_t>(batch)};
  const size_t used = payload->size() - reader.remaining();
  absl::StatusOr<common::ErrorFeedback> residuals =
      common::ErrorFeedback::Deserialize(payload->substr(used));
  if (!residuals.ok()) return common::WithPath(residuals.status(), path);
  ckpt.residuals = std::move(*residuals);
  return ckpt;
}

}  // namespace cddp::worker
