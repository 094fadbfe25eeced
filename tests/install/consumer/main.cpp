// Uses the installed library the way an outside program would.
#include <pos/pos.h>

#include <cstdio>

int main() {
  if (!pos::init().ok()) return 1;
  pos::Wallet alice = pos::Wallet::generate();
  pos::Wallet bob = pos::Wallet::generate();
  auto tx = alice.transfer("pos-demo", bob.public_key(), 10, 1, 0, 1767225601000);
  auto back = pos::transaction_from_json(pos::to_json(*tx), "pos-demo");
  if (!back.ok() || (*back)->id() != tx->id() || !(*back)->check_signature().ok()) return 1;
  std::printf("%s\n", tx->id().hex().c_str());
  return 0;
}
