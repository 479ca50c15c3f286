// The emulator's scheduler (emu.h): fibers, barriers, deadlock detection.
//
// A context switch is the whole cost of the emulator (a tile of 4096
// elements passes ~50 barriers, each a switch per thread), so on x86-64 it
// is a few instructions of our own; ucontext's swapcontext, the portable
// fallback, makes two system calls per switch (the signal mask) and runs
// the tests several times slower. Under AddressSanitizer every switch is
// announced
// (__sanitizer_start/finish_switch_fiber) so that it knows which stack is
// live.
#include "tests/common/compress/cuda_emulation/emu.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CDDP_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CDDP_EMU_ASAN 1
#endif
#endif
#if defined(CDDP_EMU_ASAN)
#include <sanitizer/common_interface_defs.h>
#define CDDP_EMU_NO_ASAN __attribute__((no_sanitize_address))
#else
#define CDDP_EMU_NO_ASAN
#endif

namespace emu {

dim3 thread_idx, block_idx, block_dim, grid_dim;

namespace {

constexpr unsigned kMaxThreads = 1024;
constexpr unsigned kWarp = 32;
// Kernel frames are small; a sanitized Debug build makes them a few times
// larger. A guard page below each stack turns an overflow into SIGSEGV.
constexpr size_t kStackBytes = 256 * 1024;

// ---- context switching ----
#if defined(__x86_64__)
// Saves the callee-saved registers and the stack pointer in *save_sp, then
// resumes the context whose stack pointer is `resume_sp`.
extern "C" void cddp_emu_switch(void** save_sp, void* resume_sp);
asm(R"(
  .text
  .globl cddp_emu_switch
  .type cddp_emu_switch, @function
cddp_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cddp_emu_switch, .-cddp_emu_switch
)");

struct Context {
  void* sp = nullptr;
};
// A fresh context that starts in entry() (which must never return).
void MakeContext(Context& c, char* stack, size_t bytes, void (*entry)()) {
  // cddp_emu_switch pops six registers, then returns into entry() with the
  // stack as after a call: 8 bytes past a 16-byte boundary.
  void** top = reinterpret_cast<void**>(stack + bytes);
  top[-1] = nullptr;  // entry()'s return address: none
  top[-2] = reinterpret_cast<void*>(entry);
  for (int r = 3; r <= 8; ++r) top[-r] = nullptr;
  c.sp = top - 8;
}
void RawSwitch(Context& from, Context& to) { cddp_emu_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
void MakeContext(Context& c, char* stack, size_t bytes, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
void RawSwitch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

struct Fiber {
  Context context;
  char* stack = nullptr;
  unsigned index = 0;
  bool done = false;
#if defined(CDDP_EMU_ASAN)
  void* fake_stack = nullptr;
#endif
};

// The block running now. One at a time; globals because threadIdx and the
// intrinsics have no other way to reach it.
struct Block {
  std::vector<Fiber> fibers;
  Context scheduler;
  const std::function<void()>* thread = nullptr;
  unsigned current = 0;
  unsigned live = 0;
  // Consecutive switches in which no thread arrived at a barrier or
  // finished: more than one round of them means no thread can progress.
  unsigned idle_switches = 0;
  unsigned block_arrived = 0;
  unsigned block_generation = 0;
  unsigned warp_arrived[kMaxThreads / kWarp] = {};
  unsigned warp_generation[kMaxThreads / kWarp] = {};
  uint64_t warp_slots[kMaxThreads / kWarp][2][kWarp] = {};
#if defined(CDDP_EMU_ASAN)
  const void* scheduler_stack = nullptr;
  size_t scheduler_stack_bytes = 0;
  void* scheduler_fake_stack = nullptr;
#endif
};
Block* g_block = nullptr;

char* StackFor(unsigned t) {
  static std::vector<char*> pool(kMaxThreads, nullptr);
  if (pool[t] == nullptr) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p, page, PROT_NONE) != 0) {
      std::perror("emu: fiber stack");
      std::abort();
    }
    pool[t] = static_cast<char*>(p) + page;
  }
  return pool[t];
}

// Leaves the running fiber (or the scheduler, from == nullptr) for `to`
// (nullptr: the scheduler). A fiber that has finished never comes back.
CDDP_EMU_NO_ASAN void SwitchTo(Fiber* from, Fiber* to) {
  Block& b = *g_block;
  if (to != nullptr) {
    b.current = to->index;
    thread_idx = dim3{to->index, 1, 1};
  }
#if defined(CDDP_EMU_ASAN)
  void** save = from == nullptr ? &b.scheduler_fake_stack
                : from->done    ? nullptr
                                : &from->fake_stack;
  if (to != nullptr) {
    __sanitizer_start_switch_fiber(save, to->stack, kStackBytes);
  } else {
    __sanitizer_start_switch_fiber(save, b.scheduler_stack,
                                   b.scheduler_stack_bytes);
  }
#endif
  RawSwitch(from != nullptr ? from->context : b.scheduler,
            to != nullptr ? to->context : b.scheduler);
#if defined(CDDP_EMU_ASAN)
  // Back in `from`.
  __sanitizer_finish_switch_fiber(*save, nullptr, nullptr);
#endif
}

// Hands over to the next unfinished thread after the current one among
// [begin, end) (its warp or its block); aborts when a whole round of
// switches passed with nobody progressing.
void Yield(unsigned begin, unsigned end, const char* waiting_at) {
  Block& b = *g_block;
  if (++b.idle_switches > 2 * b.live) {
    std::fprintf(stderr,
                 "emu: deadlock in block %u: thread %u waits at %s forever "
                 "(%u of %zu threads at __syncthreads, %zu finished)\n",
                 block_idx.x, b.current, waiting_at, b.block_arrived,
                 b.fibers.size(), b.fibers.size() - b.live);
    std::abort();
  }
  Fiber& me = b.fibers[b.current];
  unsigned next = b.current;
  do {
    next = next + 1 == end ? begin : next + 1;
  } while (b.fibers[next].done && next != b.current);
  if (next != b.current) SwitchTo(&me, &b.fibers[next]);
}

[[noreturn]] CDDP_EMU_NO_ASAN void FiberMain() {
  Block& b = *g_block;
#if defined(CDDP_EMU_ASAN)
  // First run of this fiber: complete the switch, and learn the
  // scheduler's stack (the first fiber comes from it).
  const void* from_stack = nullptr;
  size_t from_bytes = 0;
  __sanitizer_finish_switch_fiber(nullptr, &from_stack, &from_bytes);
  if (b.current == 0) {
    b.scheduler_stack = from_stack;
    b.scheduler_stack_bytes = from_bytes;
  }
#endif
  (*b.thread)();
  Fiber& me = b.fibers[b.current];
  me.done = true;
  b.idle_switches = 0;
  if (--b.live == 0) SwitchTo(&me, nullptr);
  unsigned next = me.index;
  do {
    next = (next + 1) % b.fibers.size();
  } while (b.fibers[next].done);
  SwitchTo(&me, &b.fibers[next]);
  std::abort();  // a finished fiber is never resumed
}

}  // namespace

void Run(unsigned grid, unsigned block, const std::function<void()>& thread) {
  if (grid == 0 || block == 0 || block % kWarp != 0 || block > kMaxThreads) {
    std::fprintf(stderr, "emu: unsupported launch <<<%u, %u>>>\n", grid, block);
    std::abort();
  }
  if (g_block != nullptr) {
    std::fprintf(stderr, "emu: a kernel launched a kernel\n");
    std::abort();
  }
  grid_dim = dim3{grid, 1, 1};
  block_dim = dim3{block, 1, 1};
  for (unsigned bi = 0; bi < grid; ++bi) {
    Block b;
    b.thread = &thread;
    b.fibers.resize(block);
    b.live = block;
    for (unsigned t = 0; t < block; ++t) {
      Fiber& f = b.fibers[t];
      f.index = t;
      f.stack = StackFor(t);
      MakeContext(f.context, f.stack, kStackBytes, FiberMain);
    }
    g_block = &b;
    block_idx = dim3{bi, 1, 1};
    SwitchTo(nullptr, &b.fibers[0]);  // returns when every thread finished
    g_block = nullptr;
  }
}

void SyncBlock() {
  Block& b = *g_block;
  b.idle_switches = 0;
  const unsigned generation = b.block_generation;
  if (++b.block_arrived == b.fibers.size()) {
    b.block_arrived = 0;
    ++b.block_generation;
    return;
  }
  while (b.block_generation == generation) {
    Yield(0, static_cast<unsigned>(b.fibers.size()), "__syncthreads");
  }
}

void SyncWarp() {
  Block& b = *g_block;
  b.idle_switches = 0;
  const unsigned warp = b.current / kWarp;
  const unsigned generation = b.warp_generation[warp];
  if (++b.warp_arrived[warp] == kWarp) {
    b.warp_arrived[warp] = 0;
    ++b.warp_generation[warp];
    return;
  }
  // Only the warp's own lanes can complete a warp barrier.
  while (b.warp_generation[warp] == generation) {
    Yield(warp * kWarp, (warp + 1) * kWarp, "a warp intrinsic");
  }
}

uint64_t* WarpSlots() {
  Block& b = *g_block;
  const unsigned warp = b.current / kWarp;
  return b.warp_slots[warp][b.warp_generation[warp] % 2];
}

void CheckFullMask(unsigned mask, const char* intrinsic) {
  if (mask != 0xffffffffu) {
    std::fprintf(stderr, "emu: %s with mask 0x%08x: only full warps\n",
                 intrinsic, mask);
    std::abort();
  }
}

}  // namespace emu
