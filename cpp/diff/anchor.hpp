// Which diff lines can carry a Bitbucket Cloud inline comment (reference §6.5):
// added and context lines on the new side (`inline.to`), removed lines on the
// old side (`inline.from`). A range uses `start_to`+`to` or `start_from`+`from`.
#pragma once

#include <cstdint>
#include <optional>

#include "diff/model.hpp"

namespace bbreview::diff {

enum class Side : std::uint8_t { New, Old };

// Returns the hunk in which `line` (1-based, on `side`) is commentable, or
// nullptr when it is not: outside every hunk, or on the old side a context
// line (those anchor on the new side). Needs a fully parsed file: a file from
// a statistics-only parse has no hunks and anchors nothing.
const Hunk* anchor_hunk(const FileDiff& file, Side side, std::uint32_t line);

struct Anchor {
  Side side = Side::New;
  std::uint32_t start = 0;  // first commentable line of the anchored range
  std::uint32_t end = 0;    // last one; equal to start for a single line
  const Hunk* hunk = nullptr;
  bool exact = false;       // the whole requested range was commentable
};

// Maps the requested range [start, end] on `side` to the commentable range that
// overlaps it most, all within one hunk (on the old side, within one run of
// consecutive removed lines). With no overlap, snaps to the closest commentable
// line if it is at most `max_distance` lines away. Returns nullopt when no
// anchor exists. start > end is treated as the reversed range.
std::optional<Anchor> nearest_anchor(const FileDiff& file, Side side, std::uint32_t start, std::uint32_t end,
                                     std::uint32_t max_distance = 0);

}  // namespace bbreview::diff
