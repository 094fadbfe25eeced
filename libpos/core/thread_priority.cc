#include "pos/thread_priority.h"

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace pos {

// Linux keeps a nice value per thread: PRIO_PROCESS with a thread id changes that thread only.
// Lowering it needs no privilege; a failure leaves the thread as it was, which is only slower.
void lower_this_thread_priority() {
#if defined(__linux__)
  constexpr int kBackgroundNice = 10;
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  if (getpriority(PRIO_PROCESS, tid) < kBackgroundNice)
    (void)setpriority(PRIO_PROCESS, tid, kBackgroundNice);
#endif
}

}  // namespace pos
