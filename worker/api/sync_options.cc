// Implementation of cddp/options.h, and the conversions of SyncOptions into
// the worker's internal option structs (sync_options_internal.h). No
// LibTorch.
#include <cstdlib>
#include <string>
#include <type_traits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cddp/options.h"
#include "common/compress/sparse.h"
#include "common/status_macros.h"
#include "worker/api/sync_options_internal.h"
#include "worker/dgc.h"

namespace cddp {

absl::Status ValidateSyncOptions(const SyncOptions& o) {
  auto bad = [](const std::string& msg) {
    return absl::InvalidArgumentError(msg);
  };
  if (o.servers.empty()) return bad("--servers lists no server");
  for (size_t i = 0; i < o.servers.size(); ++i) {
    if (o.servers[i].empty()) {
      return bad(absl::StrCat("--servers: address ", i, " is empty"));
    }
  }
  if (o.num_workers < 1) return bad("--num_workers must be >= 1");
  if (o.worker_id >= o.num_workers) {
    return bad(absl::StrCat("--worker_id ", o.worker_id,
                            " must be below --num_workers ", o.num_workers));
  }
  if (o.reconnect_timeout < absl::ZeroDuration()) {
    return bad("--reconnect_timeout_s must be >= 0");
  }
  if (!(o.ratio > 0 && o.ratio <= 1)) return bad("--ratio must be in (0, 1]");
  if (o.min_compress_numel < 0) {
    return bad("--min_compress_numel must be >= 0");
  }
  if (auto vt = common::ParseValueType(o.value_type); !vt.ok()) {
    return bad(absl::StrCat("--value_type: ", vt.status().message()));
  }
  if (auto ie = common::ParseIndexEncoding(o.index_encoding); !ie.ok()) {
    return bad(absl::StrCat("--index_encoding: ", ie.status().message()));
  }
  if (absl::Status s = worker::ValidateDgcOptions(worker::DgcOptionsOf(o));
      !s.ok()) {
    return s;
  }
  if (o.overlap_backward && o.clip_norm > 0) {
    return bad(
        "--overlap_backward cannot be combined with --clip_norm (clipping "
        "needs the whole gradient's norm before any tensor can be sent)");
  }
  if (o.density_warmup_steps > 0 && !o.compress) {
    return bad("--density_warmup_steps needs compression (--compress)");
  }
  return worker::ValidateDensitySchedule(worker::DensityScheduleOf(o));
}

namespace {

// The first of `names` set (non-empty) in the environment, or nullptr;
// *which is the name found.
const char* Env(std::initializer_list<const char*> names, const char** which) {
  for (const char* n : names) {
    if (const char* v = std::getenv(n); v != nullptr && *v != '\0') {
      *which = n;
      return v;
    }
  }
  return nullptr;
}

absl::Status Malformed(const char* name, const char* value,
                       const char* expected) {
  return absl::InvalidArgumentError(absl::StrCat(
      "environment variable ", name, "=\"", value, "\" is not ", expected));
}

// Sets *field from the first of `names` when one is set; absl's parsers
// (SimpleAtoi, SimpleAtod, SimpleAtob) decide what is well formed.
template <typename T>
absl::Status Read(std::initializer_list<const char*> names, T* field) {
  const char* which = nullptr;
  const char* v = Env(names, &which);
  if (v == nullptr) return absl::OkStatus();
  if constexpr (std::is_same_v<T, std::string>) {
    *field = v;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!absl::SimpleAtob(v, field)) return Malformed(which, v, "true/false");
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!absl::SimpleAtod(v, field)) return Malformed(which, v, "a number");
  } else {
    if (!absl::SimpleAtoi(v, field)) return Malformed(which, v, "an integer");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SyncOptions> SyncOptionsFromEnvironment(SyncOptions o) {
  std::string servers;
  CDDP_RETURN_IF_ERROR(Read({"CDDP_SERVERS"}, &servers));
  if (servers.empty()) {
    return absl::InvalidArgumentError(
        "environment variable CDDP_SERVERS is not set (the shard addresses, "
        "comma-separated; cddp-launch sets it)");
  }
  o.servers = absl::StrSplit(servers, ',', absl::SkipEmpty());
  double reconnect_s = absl::ToDoubleSeconds(o.reconnect_timeout);
  for (absl::Status s : {
           Read({"CDDP_WORKER_ID", "RANK"}, &o.worker_id),
           Read({"CDDP_NUM_WORKERS", "WORLD_SIZE"}, &o.num_workers),
           Read({"CDDP_RECONNECT_TIMEOUT_S"}, &reconnect_s),
           Read({"CDDP_COMPRESS"}, &o.compress),
           Read({"CDDP_RATIO"}, &o.ratio),
           Read({"CDDP_MIN_COMPRESS_NUMEL"}, &o.min_compress_numel),
           Read({"CDDP_VALUE_TYPE"}, &o.value_type),
           Read({"CDDP_INDEX_ENCODING"}, &o.index_encoding),
           Read({"CDDP_DGC_MOMENTUM"}, &o.dgc_momentum),
           Read({"CDDP_MOMENTUM_MASKING"}, &o.momentum_masking),
           Read({"CDDP_CLIP_NORM"}, &o.clip_norm),
           Read({"CDDP_DENSITY_WARMUP_STEPS"}, &o.density_warmup_steps),
           Read({"CDDP_DENSITY_WARMUP_START"}, &o.density_warmup_start),
           Read({"CDDP_OVERLAP_BACKWARD"}, &o.overlap_backward),
           Read({"CDDP_CHECKPOINT_DIR"}, &o.checkpoint_dir),
           Read({"CDDP_RESULT_FILE"}, &o.result_file),
           Read({"CDDP_TLS_CERT"}, &o.tls_cert),
           Read({"CDDP_TLS_KEY"}, &o.tls_key),
           Read({"CDDP_TLS_CA"}, &o.tls_ca),
           Read({"CDDP_PLAINTEXT"}, &o.plaintext),
       }) {
    CDDP_RETURN_IF_ERROR(s);
  }
  o.reconnect_timeout = absl::Seconds(reconnect_s);
  return o;
}

}  // namespace cddp

namespace cddp::worker {

DgcOptions DgcOptionsOf(const SyncOptions& o) {
  return {o.dgc_momentum, o.momentum_masking, o.clip_norm};
}

DensitySchedule DensityScheduleOf(const SyncOptions& o) {
  return {o.ratio, o.density_warmup_steps, o.density_warmup_start};
}

}  // namespace cddp::worker
