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
  std::set<PublicKey> voters;
  std::map<std::uint64_t, Link> links;  // by source height: on one chain a height names one block
};

struct FinalityState::Impl {
  Checkpoint block;
  Checkpoint justified;
  Checkpoint finalized;
  HeightSet justified_heights;
  // By target height, for as long as the target's votes may come. A child copies this map of
  // pointers and only the entries its votes touch, so a block costs in proportion to its votes
  // and the window's heights, not to the votes the window holds.
  std::map<std::uint64_t, std::shared_ptr<const TargetVotes>> targets;
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

  std::map<std::uint64_t, std::shared_ptr<TargetVotes>> touched;  // this block's own copies
  for (const auto& v : votes) {
    if (v.source.height >= v.target.height || v.target.height >= block.height)
      throw std::invalid_argument("FinalityState::child: a vote that is not valid here");
    auto& mine = touched[v.target.height];
    if (!mine) {
      auto held = next->targets.find(v.target.height);
      mine = held == next->targets.end() ? std::make_shared<TargetVotes>()
                                         : std::make_shared<TargetVotes>(*held->second);
      mine->epoch = v.target.slot / epoch_slots;
      next->targets[v.target.height] = mine;
    }
    mine->voters.insert(v.validator);
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
  auto held = impl_->targets.find(target_height);
  return held != impl_->targets.end() && held->second->voters.contains(validator);
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
