#include "diff/anchor.hpp"

#include <algorithm>
#include <utility>

namespace bbreview::diff {

namespace {

// Calls visit(first, last, hunk) for each maximal interval of commentable lines.
template <typename Visit>
void for_each_interval(const FileDiff& file, Side side, Visit&& visit) {
  for (const Hunk& h : file.hunks) {
    if (side == Side::New) {
      // Every new-side line of a hunk is either added or context: the whole span is commentable.
      if (h.new_count > 0) visit(h.new_start, h.new_end(), h);
      continue;
    }
    std::uint32_t run_first = 0, run_last = 0;
    for (const Line& l : h.lines) {
      if (l.kind == LineKind::Removed) {
        if (run_first != 0 && l.old_lineno == run_last + 1) {
          run_last = l.old_lineno;
        } else {
          if (run_first != 0) visit(run_first, run_last, h);
          run_first = run_last = l.old_lineno;
        }
      } else if (l.kind == LineKind::Context && run_first != 0) {
        visit(run_first, run_last, h);
        run_first = 0;
      }
    }
    if (run_first != 0) visit(run_first, run_last, h);
  }
}

}  // namespace

const Hunk* anchor_hunk(const FileDiff& file, Side side, std::uint32_t line) {
  const Hunk* found = nullptr;
  for_each_interval(file, side, [&](std::uint32_t first, std::uint32_t last, const Hunk& h) {
    if (!found && line >= first && line <= last) found = &h;
  });
  return found;
}

std::optional<Anchor> nearest_anchor(const FileDiff& file, Side side, std::uint32_t start, std::uint32_t end,
                                     std::uint32_t max_distance) {
  if (start > end) std::swap(start, end);
  std::optional<Anchor> best;
  std::uint32_t best_overlap = 0;
  std::uint64_t best_distance = UINT64_MAX;
  for_each_interval(file, side, [&](std::uint32_t first, std::uint32_t last, const Hunk& h) {
    const std::uint32_t lo = std::max(start, first), hi = std::min(end, last);
    if (lo <= hi) {
      const std::uint32_t overlap = hi - lo + 1;
      if (overlap > best_overlap) {
        best_overlap = overlap;
        best = Anchor{side, lo, hi, &h, start >= first && end <= last};
      }
      return;
    }
    if (best_overlap > 0) return;
    // No overlap: distance from the requested range to this interval.
    const bool before = last < start;
    const std::uint64_t distance = before ? start - last : first - end;
    if (distance <= max_distance && distance < best_distance) {
      best_distance = distance;
      const std::uint32_t line = before ? last : first;
      best = Anchor{side, line, line, &h, false};
    }
  });
  return best;
}

}  // namespace bbreview::diff
