// Scheduling priority of the node's helper threads.
#pragma once

namespace pos {

// Lowers the calling thread's scheduling priority (nice 10 on Linux; nothing elsewhere). The
// node's event loop forges and applies blocks against the slot clock; the signature checks of
// gossiped transactions and the RPC handlers are bulk work that must not take its CPU. Run at
// equal priority they did: a 10,000-transaction block took 350 ms to forge, not 130.
void lower_this_thread_priority();

}  // namespace pos
