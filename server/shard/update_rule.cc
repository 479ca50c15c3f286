// UpdateRule's state handling (save and load under named fields) and the
// factory that picks a rule from OptimizerOptions.
#include "server/shard/update_rule.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/shard/update_rules.h"

namespace cddp::server {

UpdateRule::UpdateRule(std::vector<std::string> field_names)
    : field_names_(std::move(field_names)), fields_(field_names_.size()) {}

void UpdateRule::AllocateFields(size_t n) {
  for (std::vector<float>& f : fields_) {
    if (f.empty()) f.assign(n, 0.0f);
  }
}

UpdateRuleState UpdateRule::SaveState() const {
  UpdateRuleState state;
  state.steps = steps_;
  for (size_t i = 0; i < field_names_.size(); ++i) {
    state.fields[field_names_[i]] = fields_[i];
  }
  return state;
}

absl::Status UpdateRule::LoadState(const UpdateRuleState& state, size_t size) {
  std::vector<std::vector<float>> fields(field_names_.size());
  for (const auto& [field_name, buffer] : state.fields) {
    size_t i = 0;
    while (i < field_names_.size() && field_names_[i] != field_name) ++i;
    if (i == field_names_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer state field '", field_name,
                       "' is not one of ", std::string(name()), "'s fields [",
                       absl::StrJoin(field_names_, ", "), "]"));
    }
    if (!buffer.empty() && buffer.size() != size) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer state buffer has ", buffer.size(),
                       " elements, the shard ", size));
    }
    fields[i] = buffer;
  }
  steps_ = state.steps;
  fields_ = std::move(fields);
  return absl::OkStatus();
}

std::unique_ptr<UpdateRule> MakeUpdateRule(const OptimizerOptions& o) {
  if (o.kind == OptimizerKind::kAdam) {
    return std::make_unique<AdamRule>(o.lr, o.weight_decay, o.beta1, o.beta2,
                                      o.epsilon);
  }
  if (o.momentum == 0.0f)
    return std::make_unique<SgdRule>(o.lr, o.weight_decay);
  if (o.nesterov) {
    return std::make_unique<NesterovRule>(o.lr, o.momentum, o.weight_decay);
  }
  return std::make_unique<MomentumRule>(o.lr, o.momentum, o.weight_decay);
}

}  // namespace cddp::server
