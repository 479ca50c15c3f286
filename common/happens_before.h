// Happens-before annotations for ThreadSanitizer, for the hand-offs that
// happen inside libraries TSan cannot see into.
//
// gRPC's callback API moves a call from one of its threads to another
// through its own (uninstrumented) queues, so TSan sees no ordering between
// the code that starts an operation (StartCall, StartRead, StartWrite,
// Finish, ...) and the reaction that follows it (OnReadDone, OnWriteDone,
// OnDone, ...), and reports the reactor's own fields as raced. The callback
// API guarantees that ordering; these two macros tell TSan about it:
//
//   CDDP_HAPPENS_BEFORE(this);  // right before every Start*/Finish call
//   CDDP_HAPPENS_AFTER(this);   // first thing in every reaction
//
// A CDDP_HAPPENS_AFTER(p) is ordered after every CDDP_HAPPENS_BEFORE(p) that
// TSan has already seen on any thread; what a thread does after its
// CDDP_HAPPENS_BEFORE stays unordered, so a write made after starting an
// operation still races with that operation's reaction and is reported.
//
// Both expand to nothing unless the translation unit is compiled with
// -fsanitize=thread (they then call TSan's runtime). Thread-safe.
#ifndef CDDP_COMMON_HAPPENS_BEFORE_H_
#define CDDP_COMMON_HAPPENS_BEFORE_H_

#include "absl/base/config.h"  // ABSL_HAVE_THREAD_SANITIZER

#ifdef ABSL_HAVE_THREAD_SANITIZER
#include <sanitizer/tsan_interface.h>

// `key` is any pointer both sides agree on (usually the reactor).
#define CDDP_HAPPENS_BEFORE(key) \
  __tsan_release(const_cast<void*>(static_cast<const volatile void*>(key)))
#define CDDP_HAPPENS_AFTER(key) \
  __tsan_acquire(const_cast<void*>(static_cast<const volatile void*>(key)))
#else
// Unevaluated: the key is still type-checked and counts as used.
#define CDDP_HAPPENS_BEFORE(key) static_cast<void>(sizeof(key))
#define CDDP_HAPPENS_AFTER(key) static_cast<void>(sizeof(key))
#endif

#endif  // CDDP_COMMON_HAPPENS_BEFORE_H_
