#include "server/aggregate.h"

#include <vector>

namespace cddp::server {

void SumInWorkerOrder(std::span<const common::SparseSelection* const> pushes,
                      common::SparseSelection* out) {
  size_t total = 0;
  for (const auto* p : pushes) total += p->size();
  out->indices.resize(total);
  out->values.resize(total);
  uint32_t* oi = out->indices.data();
  float* ov = out->values.data();
  size_t k = 0;
  if (pushes.size() == 1) {
    const auto& p = *pushes[0];
    for (size_t j = 0; j < p.size(); ++j) {
      oi[j] = p.indices[j];
      ov[j] = 0.0f + p.values[j];  // as the general case: -0 becomes +0
    }
    k = p.size();
  } else if (pushes.size() == 2) {
    // The common case, without the per-element loop over workers.
    const auto& a = *pushes[0];
    const auto& b = *pushes[1];
    size_t i = 0, j = 0;
    const size_t na = a.size(), nb = b.size();
    while (i < na && j < nb) {
      const uint32_t x = a.indices[i], y = b.indices[j];
      if (x < y) {
        oi[k] = x;
        ov[k++] = 0.0f + a.values[i++];
      } else if (y < x) {
        oi[k] = y;
        ov[k++] = 0.0f + b.values[j++];
      } else {
        oi[k] = x;
        ov[k++] = (0.0f + a.values[i++]) + b.values[j++];
      }
    }
    for (; i < na; ++i, ++k) oi[k] = a.indices[i], ov[k] = 0.0f + a.values[i];
    for (; j < nb; ++j, ++k) oi[k] = b.indices[j], ov[k] = 0.0f + b.values[j];
  } else if (!pushes.empty()) {
    std::vector<size_t> pos(pushes.size(), 0);
    while (true) {
      bool any = false;
      uint32_t next = 0;
      for (size_t w = 0; w < pushes.size(); ++w) {
        if (pos[w] < pushes[w]->size()) {
          const uint32_t i = pushes[w]->indices[pos[w]];
          if (!any || i < next) next = i;
          any = true;
        }
      }
      if (!any) break;
      float sum = 0.0f;
      for (size_t w = 0; w < pushes.size(); ++w) {
        if (pos[w] < pushes[w]->size() &&
            pushes[w]->indices[pos[w]] == next) {
          sum += pushes[w]->values[pos[w]++];
        }
      }
      oi[k] = next;
      ov[k++] = sum;
    }
  }
  out->indices.resize(k);
  out->values.resize(k);
}

}  // namespace cddp::server
