// The FFG fixpoint, carried from block to block. Two facts keep it small:
// - votes expire (a block of epoch e carries only votes whose target is in epoch e-1 or e), so a
//   link (source -> target) gains no vote once its target's epoch + 1 is over, and nothing it
//   decides changes after that (its source and every block between are older, so also
//   settled): the tallies kept are those of two epochs of targets;
// - which heights are justified is kept for the whole chain, since a vote's source may be any
//   justified block, in a persistent set that a child shares with its parent.
#include "pos/finality.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "snapshot_codec.h"

namespace pos {
namespace {

// A persistent set of heights: 64-way nodes over leaves of 4,096 heights. A copy costs a
// pointer; an insertion copies the path to its leaf and leaves every other copy unchanged.
class HeightSet {
 public:
  bool contains(std::uint64_t h) const {
    if (!root_ || h >= capacity(levels_)) return false;
    const Node* node = root_.get();
    for (unsigned level = levels_; level > 0; --level) {
      node = node->children[index(h, level)].get();
      if (!node) return false;
    }
    std::uint64_t bit = h & (kLeafHeights - 1);
    return (node->bits[bit / 64] >> (bit % 64)) & 1;
  }

  // The heights as maximal runs (first, count), ascending.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs() const {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
    if (root_) collect(root_.get(), levels_, 0, out);
    return out;
  }
  // The set of the heights in `runs`: ascending, disjoint, not empty, each within 2^64.
  static HeightSet from_runs(std::span<const std::pair<std::uint64_t, std::uint64_t>> runs) {
    HeightSet out;
    if (runs.empty()) return out;
    const std::uint64_t highest = runs.back().first + runs.back().second - 1;
    while (highest >= capacity(out.levels_)) ++out.levels_;
    auto root = std::make_shared<Node>();
    for (const auto& [first, count] : runs)
      for (std::uint64_t h = first; h - first < count; ++h) set_in_place(*root, out.levels_, h);
    out.root_ = std::move(root);
    return out;
  }

  HeightSet with(std::uint64_t h) const {
    HeightSet out = *this;
    while (h >= capacity(out.levels_)) {
      if (out.root_) {
        auto grown = std::make_shared<Node>();
        grown->children[0] = std::move(out.root_);
        out.root_ = std::move(grown);
      }
      ++out.levels_;
    }
    out.root_ = set(out.root_.get(), out.levels_, h);
    return out;
  }

 private:
  static constexpr std::uint64_t kLeafHeights = 4096;
  static constexpr unsigned kFanBits = 6;

  // Interior nodes use `children`, leaves `bits`.
  struct Node {
    std::array<std::shared_ptr<const Node>, 64> children;
    std::array<std::uint64_t, kLeafHeights / 64> bits{};
  };

  static std::uint64_t capacity(unsigned levels) {
    // 2^12 heights per leaf, times 64 per level; beyond 2^63 no chain reaches.
    unsigned bits = 12 + kFanBits * levels;
    return bits >= 64 ? UINT64_MAX : std::uint64_t{1} << bits;
  }
  static std::size_t index(std::uint64_t h, unsigned level) {
    return static_cast<std::size_t>((h >> (12 + kFanBits * (level - 1))) & 63);
  }
  static void collect(const Node* node, unsigned level, std::uint64_t base,
                      std::vector<std::pair<std::uint64_t, std::uint64_t>>& out) {
    if (level == 0) {
      for (std::uint64_t word = 0; word < kLeafHeights / 64; ++word)
        for (std::uint64_t bits = node->bits[word]; bits != 0; bits &= bits - 1) {
          std::uint64_t h = base + word * 64 + static_cast<std::uint64_t>(__builtin_ctzll(bits));
          if (!out.empty() && out.back().first + out.back().second == h)
            ++out.back().second;
          else
            out.emplace_back(h, 1);
        }
      return;
    }
    for (std::uint64_t i = 0; i < 64; ++i)
      if (const Node* child = node->children[i].get())
        collect(child, level - 1, base + (i << (12 + kFanBits * (level - 1))), out);
  }
  // On a tree that from_runs is building, whose nodes nobody else holds yet.
  static void set_in_place(Node& root, unsigned levels, std::uint64_t h) {
    Node* node = &root;
    for (unsigned level = levels; level > 0; --level) {
      auto& child = node->children[index(h, level)];
      if (!child) child = std::make_shared<Node>();
      node = const_cast<Node*>(child.get());  // made here, not const
    }
    std::uint64_t bit = h & (kLeafHeights - 1);
    node->bits[bit / 64] |= std::uint64_t{1} << (bit % 64);
  }
  static std::shared_ptr<const Node> set(const Node* node, unsigned level, std::uint64_t h) {
    auto copy = node ? std::make_shared<Node>(*node) : std::make_shared<Node>();
    if (level == 0) {
      std::uint64_t bit = h & (kLeafHeights - 1);
      copy->bits[bit / 64] |= std::uint64_t{1} << (bit % 64);
    } else {
      std::size_t i = index(h, level);
      copy->children[i] = set(copy->children[i].get(), level - 1, h);
    }
    return copy;
  }

  std::shared_ptr<const Node> root_;
  unsigned levels_ = 0;
};

// The votes for one source and target so far, weighed in the target's two validator sets.
struct Link {
  Checkpoint source;
  Checkpoint target;
  std::uint64_t weight = 0;
  std::uint64_t previous_weight = 0;
  std::uint64_t total = 0;
  std::uint64_t previous_total = 0;

  bool has_supermajority() const {
    return is_supermajority(weight, total) && is_supermajority(previous_weight, previous_total);
  }
};

}  // namespace

// The votes counted for one target height: who voted, and the links by source height. Shared
// between the states of a chain until a block adds a vote for that height.
struct TargetVotes {
  std::uint64_t epoch = 0;  // the target's epoch: its votes may come until epoch + 1 ends
  // In key order, each once: a block that adds votes copies one array, not a tree of nodes.
  std::vector<PublicKey> voters;
  std::map<std::uint64_t, Link> links;  // by source height: on one chain a height names one block

  // Adds the keys appended to `voters` after its first `sorted` ones, keeping the order.
  void merge_voters(std::size_t sorted) {
    auto mid = voters.begin() + static_cast<std::ptrdiff_t>(sorted);
    std::sort(mid, voters.end());
    std::inplace_merge(voters.begin(), mid, voters.end());
    voters.erase(std::unique(voters.begin(), voters.end()), voters.end());
  }
};

namespace {

// By target height, ascending: a sorted array of pointers, which a child copies in one piece.
using TargetMap = std::vector<std::pair<std::uint64_t, std::shared_ptr<const TargetVotes>>>;

// The first entry at or above `height`.
template <typename Targets>
auto lower_target(Targets& targets, std::uint64_t height) {
  return std::lower_bound(targets.begin(), targets.end(), height,
                          [](const auto& item, std::uint64_t h) { return item.first < h; });
}

TargetMap::const_iterator find_target(const TargetMap& targets, std::uint64_t height) {
  auto at = lower_target(targets, height);
  return at != targets.end() && at->first == height ? at : targets.end();
}

// Puts `votes` at `height`, replacing what was there; false when it replaced something.
bool put_target(TargetMap& targets, std::uint64_t height,
                std::shared_ptr<const TargetVotes> votes) {
  auto at = lower_target(targets, height);
  if (at != targets.end() && at->first == height) {
    at->second = std::move(votes);
    return false;
  }
  targets.emplace(at, height, std::move(votes));
  return true;
}

}  // namespace

struct FinalityState::Impl {
  Checkpoint block;
  Checkpoint justified;
  Checkpoint finalized;
  HeightSet justified_heights;
  // By target height, for as long as the target's votes may come. A child copies this map of
  // pointers and only the entries its votes touch, so a block costs in proportion to its votes
  // and the window's heights, not to the votes the window holds.
  TargetMap targets;
};

bool is_supermajority(std::uint64_t votes, std::uint64_t total) {
  // 3v > 2t, without overflow: with d = t - v, that is 2d < v, that is v - d > d.
  if (votes > total) return true;
  std::uint64_t short_of = total - votes;
  return votes > short_of && votes - short_of > short_of;
}

FinalityState FinalityState::genesis(const Hash& genesis_hash) {
  auto impl = std::make_shared<Impl>();
  impl->block = Checkpoint{genesis_hash, 0, 0};
  impl->justified = impl->block;
  impl->finalized = impl->block;
  impl->justified_heights = impl->justified_heights.with(0);
  return FinalityState(std::move(impl));
}

FinalityState FinalityState::child(const Checkpoint& block, std::span<const CountedVote> votes,
                                   std::uint64_t epoch_slots) const {
  if (!impl_) throw std::logic_error("FinalityState::child of a placeholder");
  if (block.height != impl_->block.height + 1 || epoch_slots == 0)
    throw std::invalid_argument("FinalityState::child: not a child block");
  auto next = std::make_shared<Impl>(*impl_);
  next->block = block;
  const std::uint64_t epoch = block.slot / epoch_slots;
  std::erase_if(next->targets, [&](const auto& item) { return item.second->epoch + 1 < epoch; });

  // This block's own copies, with how many voters each held before the block's votes.
  std::map<std::uint64_t, std::pair<std::shared_ptr<TargetVotes>, std::size_t>> touched;
  for (const auto& v : votes) {
    if (v.source.height >= v.target.height || v.target.height >= block.height)
      throw std::invalid_argument("FinalityState::child: a vote that is not valid here");
    auto& [mine, before] = touched[v.target.height];
    if (!mine) {
      auto held = find_target(next->targets, v.target.height);
      mine = held == next->targets.end() ? std::make_shared<TargetVotes>()
                                         : std::make_shared<TargetVotes>(*held->second);
      mine->epoch = v.target.slot / epoch_slots;
      before = mine->voters.size();
      put_target(next->targets, v.target.height, mine);
    }
    mine->voters.push_back(v.validator);  // merged in order below
    auto [it, fresh] = mine->links.try_emplace(v.source.height);
    Link& link = it->second;
    if (fresh) {
      link.source = v.source;
      link.target = v.target;
      link.total = v.total;
      link.previous_total = v.previous_total;
    }
    link.weight += v.weight;
    link.previous_weight += v.previous_weight;
  }
  for (auto& [height, copy] : touched) copy.first->merge_voters(copy.second);

  // Every link with a supermajority, in ascending order of source height: a target justified
  // here only enables links whose source is that target, which come later in one pass.
  std::vector<std::pair<std::uint64_t, const Link*>> strong;  // (source height, link)
  for (const auto& [target, held] : next->targets)
    for (const auto& [source, link] : held->links)
      if (link.has_supermajority()) strong.emplace_back(source, &link);
  std::sort(strong.begin(), strong.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [source, link] : strong) {
    const std::uint64_t target = link->target.height;
    if (next->justified_heights.contains(target) || !next->justified_heights.contains(source))
      continue;
    next->justified_heights = next->justified_heights.with(target);
    if (target > next->justified.height) next->justified = link->target;
  }
  // Finalization (k-finality): a justified source with a justified link to a target above it,
  // every block between them justified too.
  for (const auto& [source, link] : strong) {
    if (source <= next->finalized.height || !next->justified_heights.contains(source)) continue;
    bool all_between = true;
    for (std::uint64_t h = source + 1; h < link->target.height && all_between; ++h)
      all_between = next->justified_heights.contains(h);
    if (all_between) next->finalized = link->source;
  }
  return FinalityState(std::move(next));
}

const Checkpoint& FinalityState::justified() const {
  return impl_->justified;
}

const Checkpoint& FinalityState::finalized() const {
  return impl_->finalized;
}

bool FinalityState::is_justified(std::uint64_t height) const {
  return impl_->justified_heights.contains(height);
}

const Checkpoint& FinalityState::block() const {
  return impl_->block;
}

bool FinalityState::has_vote(const PublicKey& validator, std::uint64_t target_height) const {
  auto held = find_target(impl_->targets, target_height);
  if (held == impl_->targets.end()) return false;
  const auto& voters = held->second->voters;
  return std::binary_search(voters.begin(), voters.end(), validator);
}

void detail::SnapshotCodec::write(SnapshotWriter& w, const FinalityState& finality) {
  const FinalityState::Impl& f = *finality.impl_;
  w.checkpoint(f.block);
  w.checkpoint(f.justified);
  w.checkpoint(f.finalized);
  auto runs = f.justified_heights.runs();
  w.body().u32(static_cast<std::uint32_t>(runs.size()));
  for (const auto& [first, count] : runs) w.body().u64(first).u64(count);
  w.body().u32(static_cast<std::uint32_t>(f.targets.size()));
  for (const auto& [height, votes] : f.targets) {
    w.body().u64(height).u64(votes->epoch).u32(static_cast<std::uint32_t>(votes->voters.size()));
    for (const PublicKey& key : votes->voters) w.body().raw(key.view());
    w.body().u32(static_cast<std::uint32_t>(votes->links.size()));
    for (const auto& [source, link] : votes->links) {
      w.checkpoint(link.source);
      w.checkpoint(link.target);
      w.body().u64(link.weight).u64(link.previous_weight).u64(link.total).u64(link.previous_total);
    }
  }
}

FinalityState detail::SnapshotCodec::read_finality(SnapshotReader& r, const Checkpoint& block) {
  auto f = std::make_shared<FinalityState::Impl>();
  f->block = r.checkpoint();
  if (f->block != block) SnapshotReader::damaged("a finality state of another block");
  f->justified = r.checkpoint();
  f->finalized = r.checkpoint();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs(r.count(16));
  std::uint64_t previous_end = 0;  // one past the previous run's last height
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto& [first, count] = runs[i];
    first = r.u64();
    count = r.u64();
    if (count == 0 || first > f->block.height || count - 1 > f->block.height - first ||
        (i > 0 && first <= previous_end))
      SnapshotReader::damaged("justified heights that are not separate runs up to the block");
    previous_end = first + count;
  }
  f->justified_heights = HeightSet::from_runs(runs);
  if (!f->justified_heights.contains(f->justified.height) ||
      !f->justified_heights.contains(f->finalized.height))
    SnapshotReader::damaged("a justified or finalized block that is not justified");
  for (std::uint32_t n = r.count(24); n > 0; --n) {
    std::uint64_t height = r.u64();
    auto votes = std::make_shared<TargetVotes>();
    votes->epoch = r.u64();
    for (std::uint32_t i = r.count(32); i > 0; --i) votes->voters.push_back(r.key());
    votes->merge_voters(0);  // in order and each once, as the set it replaced read them
    for (std::uint32_t i = r.count(2 * 48 + 32); i > 0; --i) {
      Link link;
      link.source = r.checkpoint();
      link.target = r.checkpoint();
      link.weight = r.u64();
      link.previous_weight = r.u64();
      link.total = r.u64();
      link.previous_total = r.u64();
      if (link.target.height != height || link.source.height >= height ||
          !votes->links.emplace(link.source.height, link).second)
        SnapshotReader::damaged("a vote tally that does not fit its target");
    }
    if (height >= f->block.height || !put_target(f->targets, height, std::move(votes)))
      SnapshotReader::damaged("vote tallies that do not fit the block");
  }
  return FinalityState(std::move(f));
}

Result<TrustedBlock> TrustedBlock::parse(std::string_view text) {
  auto refuse = [&](const std::string& why) {
    return make_error(Reason::kInvalidArgument,
                      "a checkpoint is HEIGHT:HASH (a block height, a colon and the block's "
                      "64-character hex hash); \"" +
                          std::string(text) + "\" " + why);
  };
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return refuse("has no colon");
  TrustedBlock out;
  std::string_view height = text.substr(0, colon);
  auto [end, ec] = std::from_chars(height.data(), height.data() + height.size(), out.height);
  if (height.empty() || ec != std::errc() || end != height.data() + height.size())
    return refuse("has no decimal height before the colon");
  auto hash = Hash::from_hex(text.substr(colon + 1));
  if (!hash.ok()) return refuse("has no hash after the colon: " + hash.error().message);
  out.hash = *hash;
  return out;
}

}  // namespace pos
