// What libpos/p2p needs of the EventLoop: its KJ I/O context, on the loop thread.
#pragma once

#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/debug.h>

#include <functional>
#include <thread>

#include "pos/event_loop.h"

namespace pos {

struct EventLoop::Impl {
  kj::Maybe<kj::AsyncIoContext> io;
  const kj::Executor* executor = nullptr;
  std::thread::id thread_id;
  kj::Own<kj::PromiseFulfiller<void>> stop;
  std::thread thread;

  kj::AsyncIoContext& context() { return KJ_ASSERT_NONNULL(io); }
};

}  // namespace pos
