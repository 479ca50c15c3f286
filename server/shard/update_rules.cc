// The update rules' arithmetic. The loops are the ones the shard always
// ran (same expressions, same order), so results stay bit-identical to the
// serial reference in tests/support.
#include "server/shard/update_rules.h"

#include <algorithm>
#include <cmath>

#include "server/shard/parallel_for.h"

namespace cddp::server {

namespace {

// Entries per DenseStep call: the block's gradient and the rule's streams
// stay in L1/L2 while it runs.
constexpr size_t kBlock = 4096;

}  // namespace

void DenseUpdateRule::Apply(std::span<float> values,
                            common::SparseSelection* sum, float scale) {
  const size_t n = values.size();
  AllocateFields(n);
  CountStep();
  const size_t parts = PartsFor(n, threads());
  if (grads_.size() < parts) grads_.resize(parts);
  for (size_t p = 0; p < parts; ++p) {
    if (grads_[p].size() != kBlock) grads_[p].assign(kBlock, 0.0f);
  }
  const std::vector<uint32_t>& idx = sum->indices;
  const size_t blocks = (n + kBlock - 1) / kBlock;
  // Distinct, ascending, below n: n of them are 0..n-1, and the sum is
  // the gradient itself, with nothing to scatter.
  if (sum->size() == n) {
    const std::span<const float> whole(sum->values);
    ParallelFor(blocks, parts, [&](size_t, size_t b0, size_t b1) {
      for (size_t begin = b0 * kBlock; begin < std::min(n, b1 * kBlock);
           begin += kBlock) {
        const size_t len = std::min(kBlock, n - begin);
        DenseStep(values.subspan(begin, len), begin, whole.subspan(begin, len),
                  scale);
      }
    });
    return;
  }
  // Each part runs whole blocks, with a block gradient of its own.
  ParallelFor(blocks, parts, [&](size_t part, size_t b0, size_t b1) {
    std::vector<float>& grad = grads_[part];
    size_t k = static_cast<size_t>(
        std::lower_bound(idx.begin(), idx.end(), b0 * kBlock) - idx.begin());
    for (size_t begin = b0 * kBlock; begin < std::min(n, b1 * kBlock);
         begin += kBlock) {
      const size_t len = std::min(kBlock, n - begin);
      const size_t first = k;
      for (; k < idx.size() && idx[k] < begin + len; ++k) {
        grad[idx[k] - begin] = sum->values[k];
      }
      DenseStep(values.subspan(begin, len), begin,
                std::span<const float>(grad.data(), len), scale);
      for (size_t j = first; j < k; ++j) grad[idx[j] - begin] = 0.0f;
    }
  });
}

SgdRule::SgdRule(float lr, float weight_decay)
    : DenseUpdateRule(std::vector<std::string>{}),
      lr_(lr),
      weight_decay_(weight_decay) {}

void SgdRule::Apply(std::span<float> values, common::SparseSelection* sum,
                    float scale) {
  if (!TouchesOnlyPushed()) {
    DenseUpdateRule::Apply(values, sum, scale);
    return;
  }
  CountStep();
  const float lr = lr_;
  const uint32_t* idx = sum->indices.data();
  float* g = sum->values.data();
  const size_t n = sum->size();
  // The entries are scattered over the shard and the loop is bound by the
  // misses: prefetch far ahead into L2 (locality 1), which tracks many more
  // outstanding misses than L1 (bench/codec_bench.cc: 30 % faster than
  // 64 ahead into L1). Parts take disjoint runs of the (distinct) entries.
  constexpr size_t kAhead = 128;
  if (n == values.size()) {  // distinct and below n: 0..n-1, in order
    float* v = values.data();
    ParallelFor(n, PartsFor(n, threads()), [&](size_t, size_t k0, size_t k1) {
      for (size_t k = k0; k < k1; ++k) {
        const float p = v[k] - lr * (g[k] * scale);
        v[k] = p;
        g[k] = p;
      }
    });
    return;
  }
  ParallelFor(n, PartsFor(n, threads()), [&](size_t, size_t k0, size_t k1) {
    for (size_t k = k0; k < k1; ++k) {
      if (k + kAhead < k1) __builtin_prefetch(&values[idx[k + kAhead]], 1, 1);
      const float p = values[idx[k]] - lr * (g[k] * scale);
      values[idx[k]] = p;
      g[k] = p;
    }
  });
}

void SgdRule::DenseStep(std::span<float> values, size_t /*offset*/,
                        std::span<const float> grad, float scale) {
  const float lr = lr_;
  const float wd = weight_decay_;
  for (size_t i = 0; i < values.size(); ++i) {
    float g = grad[i] * scale;
    if (wd != 0.0f) g = g + wd * values[i];
    values[i] = values[i] - lr * g;
  }
}

template <bool kNesterov>
MomentumRuleT<kNesterov>::MomentumRuleT(float lr, float momentum,
                                        float weight_decay)
    : DenseUpdateRule({"momentum_buffer"}),
      lr_(lr),
      momentum_(momentum),
      weight_decay_(weight_decay) {}

template <bool kNesterov>
void MomentumRuleT<kNesterov>::DenseStep(std::span<float> values, size_t offset,
                                         std::span<const float> grad,
                                         float scale) {
  const float lr = lr_;
  const float wd = weight_decay_;
  const float mu = momentum_;
  float* buf = field(0).data() + offset;
  for (size_t i = 0; i < values.size(); ++i) {
    float g = grad[i] * scale;
    if (wd != 0.0f) g = g + wd * values[i];
    const float v = mu * buf[i] + g;
    buf[i] = v;
    const float d = kNesterov ? g + mu * v : v;
    values[i] = values[i] - lr * d;
  }
}

template class MomentumRuleT<false>;
template class MomentumRuleT<true>;

AdamRule::AdamRule(float lr, float weight_decay, float beta1, float beta2,
                   float epsilon)
    : DenseUpdateRule({"exp_avg", "exp_avg_sq"}),
      lr_(lr),
      weight_decay_(weight_decay),
      beta1_(beta1),
      beta2_(beta2),
      epsilon_(epsilon) {}

void AdamRule::DenseStep(std::span<float> values, size_t offset,
                         std::span<const float> grad, float scale) {
  const size_t n = values.size();
  float* m1 = field(0).data() + offset;
  float* m2 = field(1).data() + offset;
  const float lr = lr_;
  const float wd = weight_decay_;
  const float b1 = beta1_;
  const float b2 = beta2_;
  const double t = static_cast<double>(steps_taken());
  const float c1 = static_cast<float>(1.0 - std::pow(double{b1}, t));
  const float c2 = static_cast<float>(1.0 - std::pow(double{b2}, t));
  const float sqrt_c2 = std::sqrt(c2);
  const float eps = epsilon_;
  for (size_t i = 0; i < n; ++i) {
    float g = grad[i] * scale;
    if (wd != 0.0f) g = g + wd * values[i];
    const float m = b1 * m1[i] + (1.0f - b1) * g;
    const float v = b2 * m2[i] + (1.0f - b2) * (g * g);
    m1[i] = m;
    m2[i] = v;
    const float denom = std::sqrt(v) / sqrt_c2 + eps;
    values[i] = values[i] - (lr / c1) * (m / denom);
  }
}

}  // namespace cddp::server
