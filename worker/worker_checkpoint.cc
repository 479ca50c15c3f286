#include "worker/worker_checkpoint.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/record_file.h"
#include "common/status_macros.h"

namespace cddp::worker {
namespace {

constexpr std::string_view kKind = "WRKR";
constexpr uint32_t kVersion = 2;            // with the velocity
constexpr uint32_t kVersionNoVelocity = 1;  // still read

}  // namespace

std::string WorkerCheckpointPath(const std::string& dir, uint32_t worker_id) {
  return (std::filesystem::path(dir) /
          absl::StrCat("worker-", worker_id, ".ckpt"))
      .string();
}

absl::Status SaveWorkerCheckpoint(const std::string& dir, uint32_t worker_id,
                                  uint64_t step, DataPosition position,
                                  const common::ErrorFeedback& residuals,
                                  std::span<const float> velocity) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(
        "cannot create checkpoint directory ", dir, ": ", ec.message()));
  }
  return common::WriteFileAtomically(
      WorkerCheckpointPath(dir, worker_id),
      EncodeWorkerCheckpoint(worker_id, step, position, residuals, velocity));
}

std::string EncodeWorkerCheckpoint(uint32_t worker_id, uint64_t step,
                                   DataPosition position,
                                   const common::ErrorFeedback& residuals,
                                   std::span<const float> velocity) {
  std::string payload;
  common::AppendU32(worker_id, &payload);
  common::AppendU64(step, &payload);
  common::AppendU64(static_cast<uint64_t>(position.epoch), &payload);
  common::AppendU64(static_cast<uint64_t>(position.batch), &payload);
  common::AppendU64(velocity.size(), &payload);
  common::AppendFloats(velocity.data(), velocity.size(), &payload);
  payload += residuals.Serialize();
  return common::MakeRecord(kKind, kVersion, payload);
}

absl::StatusOr<std::optional<WorkerCheckpoint>> LoadWorkerCheckpoint(
    const std::string& dir, uint32_t worker_id) {
  const std::string path = WorkerCheckpointPath(dir, worker_id);
  absl::StatusOr<std::string> data = common::ReadWholeFile(path);
  if (absl::IsNotFound(data.status())) return std::nullopt;
  if (!data.ok()) return data.status();
  absl::StatusOr<WorkerCheckpoint> ckpt =
      DecodeWorkerCheckpoint(*data, worker_id);
  if (!ckpt.ok()) return common::WithPath(ckpt.status(), path);
  return std::move(*ckpt);
}

absl::StatusOr<WorkerCheckpoint> DecodeWorkerCheckpoint(std::string_view data,
                                                        uint32_t worker_id) {
  uint32_t version = kVersion;
  absl::StatusOr<std::string_view> payload =
      common::ParseRecord(data, kKind, kVersion);
  if (absl::IsFailedPrecondition(payload.status())) {
    absl::StatusOr<std::string_view> old =
        common::ParseRecord(data, kKind, kVersionNoVelocity);
    if (old.ok()) {
      payload = old;
      version = kVersionNoVelocity;
    }
  }
  if (!payload.ok()) return payload.status();
  common::PayloadReader reader(*payload);
  WorkerCheckpoint ckpt;
  uint64_t epoch = 0, batch = 0;
  for (absl::Status s :
       {reader.ReadU32(&ckpt.worker_id), reader.ReadU64(&ckpt.step),
        reader.ReadU64(&epoch), reader.ReadU64(&batch)}) {
    if (!s.ok()) return s;
  }
  if (ckpt.worker_id != worker_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "belongs to worker ", ckpt.worker_id, ", not ", worker_id));
  }
  ckpt.position = {static_cast<int64_t>(epoch), static_cast<int64_t>(batch)};
  if (version == kVersion) {
    uint64_t n = 0;
    absl::Status s = reader.ReadU64(&n);
    if (s.ok() && n > reader.remaining() / sizeof(float)) {
      s = absl::DataLossError(absl::StrCat("velocity of ", n,
                                           " floats announced, ",
                                           reader.remaining(), " bytes left"));
    }
    if (s.ok()) {
      ckpt.velocity.resize(n);
      s = reader.ReadFloats(ckpt.velocity.data(), n);
    }
    if (!s.ok()) return s;
  }
  const size_t used = payload->size() - reader.remaining();
  absl::StatusOr<common::ErrorFeedback> residuals =
      common::ErrorFeedback::Deserialize(payload->substr(used));
  if (!residuals.ok()) return residuals.status();
  ckpt.residuals = std::move(*residuals);
  return ckpt;
}

}  // namespace cddp::worker
