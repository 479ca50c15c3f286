#include "server/shard/shard_checkpoint.h"

#include <cmath>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/record_file.h"

namespace cddp::server {
namespace {

constexpr std::string_view kKind = "SHRD";
constexpr uint32_t kVersion = 3;
constexpr uint32_t kVersionNoCopy = 2;        // still read
constexpr uint32_t kVersionFixedBuffers = 1;  // still read

void AppendFloat(float v, std::string* out) {
  common::AppendFloats(&v, 1, out);
}

void AppendVector(const std::vector<float>& v, std::string* out) {
  common::AppendU64(v.size(), out);
  common::AppendFloats(v.data(), v.size(), out);
}

void AppendU64s(const std::vector<uint64_t>& v, std::string* out) {
  common::AppendU32(static_cast<uint32_t>(v.size()), out);
  for (uint64_t x : v) common::AppendU64(x, out);
}

// The update rule's fields: u32 count, then name and buffer each.
void AppendFields(const UpdateRuleState& state, std::string* out) {
  common::AppendU32(static_cast<uint32_t>(state.fields.size()), out);
  for (const auto& [name, buffer] : state.fields) {
    common::AppendU32(static_cast<uint32_t>(name.size()), out);
    out->append(name);
    AppendVector(buffer, out);
  }
}

// Reads a u64 count and that many floats, refusing counts the payload
// cannot hold before allocating anything.
absl::Status ReadVector(common::PayloadReader& r, std::vector<float>* v) {
  uint64_t n = 0;
  if (auto s = r.ReadU64(&n); !s.ok()) return s;
  if (n > r.remaining() / sizeof(float)) {
    return absl::DataLossError(absl::StrCat("payload truncated: ", n,
                                            " floats announced, ",
                                            r.remaining(), " bytes left"));
  }
  v->resize(n);
  return r.ReadFloats(v->data(), n);
}

absl::Status ReadU64s(common::PayloadReader& r, std::vector<uint64_t>* v) {
  uint32_t n = 0;
  if (auto s = r.ReadU32(&n); !s.ok()) return s;
  if (n > r.remaining() / sizeof(uint64_t)) {
    return absl::DataLossError(absl::StrCat("payload truncated: ", n,
                                            " sizes announced, ", r.remaining(),
                                            " bytes left"));
  }
  v->resize(n);
  for (uint64_t& x : *v) {
    if (auto s = r.ReadU64(&x); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// PayloadReader reads no raw bytes: take `len` bytes from the tail of
// `payload` it has left, and move it past them.
absl::Status ReadName(std::string_view payload, uint32_t len,
                      common::PayloadReader& r, std::string* name) {
  if (len > r.remaining()) {
    return absl::DataLossError(
        absl::StrCat("payload truncated: a field name of ", len, " bytes, ",
                     r.remaining(), " bytes left"));
  }
  const std::string_view rest = payload.substr(payload.size() - r.remaining());
  name->assign(rest.substr(0, len));
  r = common::PayloadReader(rest.substr(len));
  return absl::OkStatus();
}

absl::Status ReadFields(std::string_view payload, common::PayloadReader& r,
                        UpdateRuleState* state) {
  uint32_t n = 0;
  if (auto s = r.ReadU32(&n); !s.ok()) return s;
  for (uint32_t f = 0; f < n; ++f) {
    uint32_t len = 0;
    if (auto s = r.ReadU32(&len); !s.ok()) return s;
    std::string name;
    if (auto s = ReadName(payload, len, r, &name); !s.ok()) return s;
    if (state->fields.count(name) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer state field '", name, "' appears twice"));
    }
    if (auto s = ReadVector(r, &state->fields[name]); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Version 1's two fixed buffers, under the names the rules use now.
absl::Status ReadFixedBuffers(common::PayloadReader& r, OptimizerKind kind,
                              UpdateRuleState* state) {
  std::vector<float> buf1, buf2;
  if (auto s = ReadVector(r, &buf1); !s.ok()) return s;
  if (auto s = ReadVector(r, &buf2); !s.ok()) return s;
  const bool adam = kind == OptimizerKind::kAdam;
  if (!buf1.empty()) {
    state->fields[adam ? "exp_avg" : "momentum_buffer"] = std::move(buf1);
  }
  // SGD never wrote a second buffer; one that is there is kept under its
  // old name, which no SGD rule loads.
  if (!buf2.empty())
    state->fields[adam ? "exp_avg_sq" : "buf2"] = std::move(buf2);
  return absl::OkStatus();
}

absl::Status Mismatch(const char* what, const std::string& in_file,
                      const std::string& configured) {
  return absl::FailedPreconditionError(
      absl::StrCat("checkpoint is for ", what, " ", in_file,
                   ", this server has ", configured));
}

// Bitwise equality of the optimizer configuration (floats as written).
bool SameOptimizer(const OptimizerOptions& a, const OptimizerOptions& b) {
  return a.kind == b.kind && a.lr == b.lr && a.momentum == b.momentum &&
         a.nesterov == b.nesterov && a.weight_decay == b.weight_decay &&
         a.beta1 == b.beta1 && a.beta2 == b.beta2 && a.epsilon == b.epsilon;
}

}  // namespace

std::string ShardCheckpointPath(const std::string& dir, uint32_t shard_index) {
  return (std::filesystem::path(dir) /
          absl::StrCat("server-", shard_index, ".ckpt"))
      .string();
}

std::string EncodeShardCheckpoint(const ShardCheckpoint& c) {
  std::string p;
  size_t state_floats = 0;
  for (const auto& [name, buffer] : c.rule_state.fields) {
    state_floats += buffer.size();
  }
  p.reserve(128 + 4 * (c.values.size() + c.workers_copy.size() + state_floats));
  common::AppendU32(c.shard_index, &p);
  common::AppendU32(c.num_shards, &p);
  common::AppendU32(c.num_workers, &p);
  common::AppendU64(c.layout.total_size, &p);
  AppendU64s(c.layout.shard_bounds, &p);
  AppendU64s(c.layout.tensor_sizes, &p);
  common::AppendU64(c.step, &p);
  common::AppendU32(c.optimizer.kind == OptimizerKind::kAdam ? 1 : 0, &p);
  common::AppendU32(c.optimizer.nesterov ? 1 : 0, &p);
  for (float f :
       {c.optimizer.lr, c.optimizer.momentum, c.optimizer.weight_decay,
        c.optimizer.beta1, c.optimizer.beta2, c.optimizer.epsilon}) {
    AppendFloat(f, &p);
  }
  common::AppendU64(c.rule_state.steps, &p);
  AppendFields(c.rule_state, &p);
  AppendVector(c.values, &p);
  AppendVector(c.workers_copy, &p);
  return common::MakeRecord(kKind, kVersion, p);
}

absl::StatusOr<ShardCheckpoint> DecodeShardCheckpoint(std::string_view data) {
  uint32_t version = kVersion;
  absl::StatusOr<std::string_view> payload =
      common::ParseRecord(data, kKind, kVersion);
  for (uint32_t old_version : {kVersionNoCopy, kVersionFixedBuffers}) {
    if (!absl::IsFailedPrecondition(payload.status())) break;
    absl::StatusOr<std::string_view> old =
        common::ParseRecord(data, kKind, old_version);
    if (old.ok()) {
      payload = old;
      version = old_version;
    }
  }
  if (!payload.ok()) return payload.status();
  common::PayloadReader r(*payload);
  ShardCheckpoint c;
  uint32_t kind = 0, nesterov = 0;
  OptimizerOptions& o = c.optimizer;
  for (absl::Status s :
       {r.ReadU32(&c.shard_index), r.ReadU32(&c.num_shards),
        r.ReadU32(&c.num_workers), r.ReadU64(&c.layout.total_size),
        ReadU64s(r, &c.layout.shard_bounds),
        ReadU64s(r, &c.layout.tensor_sizes), r.ReadU64(&c.step),
        r.ReadU32(&kind), r.ReadU32(&nesterov), r.ReadFloats(&o.lr, 1),
        r.ReadFloats(&o.momentum, 1), r.ReadFloats(&o.weight_decay, 1),
        r.ReadFloats(&o.beta1, 1), r.ReadFloats(&o.beta2, 1),
        r.ReadFloats(&o.epsilon, 1), r.ReadU64(&c.rule_state.steps)}) {
    if (!s.ok()) return s;
  }
  if (kind > 1 || nesterov > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown optimizer kind ", kind, " or nesterov flag ", nesterov));
  }
  o.kind = kind == 1 ? OptimizerKind::kAdam : OptimizerKind::kSgd;
  o.nesterov = nesterov == 1;
  for (absl::Status s : {version == kVersionFixedBuffers
                             ? ReadFixedBuffers(r, o.kind, &c.rule_state)
                             : ReadFields(*payload, r, &c.rule_state),
                         ReadVector(r, &c.values),
                         version == kVersion ? ReadVector(r, &c.workers_copy)
                                             : absl::OkStatus()}) {
    if (!s.ok()) return s;
  }
  if (!r.done()) {
    return absl::InvalidArgumentError(
        absl::StrCat(r.remaining(), " unexpected bytes after the ",
                     version == kVersion ? "workers' copy" : "values"));
  }
  return c;
}

absl::Status CheckShardCheckpoint(const ShardCheckpoint& c,
                                  const ShardOptions& options) {
  if (c.shard_index != options.shard_index) {
    return Mismatch("shard", absl::StrCat(c.shard_index),
                    absl::StrCat("--shard_index=", options.shard_index));
  }
  if (c.num_shards != options.num_shards) {
    return Mismatch("a job of", absl::StrCat(c.num_shards, " shards"),
                    absl::StrCat("--num_shards=", options.num_shards));
  }
  if (c.num_workers != options.num_workers) {
    return Mismatch("a job of", absl::StrCat(c.num_workers, " workers"),
                    absl::StrCat("--num_workers=", options.num_workers));
  }
  if (!SameOptimizer(c.optimizer, options.optimizer)) {
    return Mismatch("optimizer", c.optimizer.DebugString(),
                    options.optimizer.DebugString());
  }
  if (auto s = CheckLayout(c.layout, c.num_shards, nullptr); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint layout: ", s.message()));
  }
  const uint64_t n = c.layout.shard_bounds[c.shard_index + 1] -
                     c.layout.shard_bounds[c.shard_index];
  bool state_fits = true;
  std::string state_sizes;
  for (const auto& [name, buffer] : c.rule_state.fields) {
    if (!buffer.empty() && buffer.size() != n) state_fits = false;
    absl::StrAppend(&state_sizes, state_sizes.empty() ? "" : "/",
                    buffer.size());
  }
  if (!c.workers_copy.empty() && c.workers_copy.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint holds a workers' copy of ",
                     c.workers_copy.size(), " values; the shard has ", n));
  }
  if (c.values.size() != n || !state_fits) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint holds ", c.values.size(), " values and ",
                     state_sizes.empty() ? "0" : state_sizes,
                     " optimizer state entries; the shard has ", n));
  }
  for (size_t i = 0; i < c.values.size(); ++i) {
    if (!std::isfinite(c.values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint value ", i, " is not finite"));
    }
  }
  for (size_t i = 0; i < c.workers_copy.size(); ++i) {
    if (!std::isfinite(c.workers_copy[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint workers' copy value ", i, " is not finite"));
    }
  }
  return absl::OkStatus();
}

absl::Status SaveShardCheckpoint(const std::string& dir,
                                 const ShardCheckpoint& ckpt) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(
        "cannot create checkpoint directory ", dir, ": ", ec.message()));
  }
  return common::WriteFileAtomically(ShardCheckpointPath(dir, ckpt.shard_index),
                                     EncodeShardCheckpoint(ckpt));
}

absl::StatusOr<std::optional<ShardCheckpoint>> LoadShardCheckpoint(
    const std::string& dir, const ShardOptions& options) {
  const std::string path = ShardCheckpointPath(dir, options.shard_index);
  absl::StatusOr<std::string> data = common::ReadWholeFile(path);
  if (absl::IsNotFound(data.status())) return std::nullopt;
  if (!data.ok()) return data.status();
  absl::StatusOr<ShardCheckpoint> ckpt = DecodeShardCheckpoint(*data);
  if (!ckpt.ok()) return common::WithPath(ckpt.status(), path);
  if (auto s = CheckShardCheckpoint(*ckpt, options); !s.ok()) {
    return common::WithPath(s, path);
  }
  return std::optional<ShardCheckpoint>(std::move(*ckpt));
}

}  // namespace cddp::server
