// The public SyncOptions (cddp/options.h) seen as the worker's internal
// option structs. No LibTorch.
#ifndef CDDP_WORKER_API_SYNC_OPTIONS_INTERNAL_H_
#define CDDP_WORKER_API_SYNC_OPTIONS_INTERNAL_H_

#include "cddp/options.h"
#include "worker/dgc.h"

namespace cddp::worker {

// DGC's momentum correction, masking and clipping.
DgcOptions DgcOptionsOf(const SyncOptions& options);
// The density of each step: `ratio` after the warm-up.
DensitySchedule DensityScheduleOf(const SyncOptions& options);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_API_SYNC_OPTIONS_INTERNAL_H_
