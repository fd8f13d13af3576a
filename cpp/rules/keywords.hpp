// The literal keyword prefilter: which of many keywords occur in a line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bbreview::rules {

// An Aho-Corasick automaton over a fixed set of keywords, matched without
// regard to ASCII case (keywords and text are both folded; other bytes compare
// exactly). One pass over a line finds every keyword it contains, however many
// keywords there are, which is why this is used rather than one substring
// search per keyword: gitleaks-style rule sets carry hundreds of keywords.
//
// The automaton is a full transition table over byte classes (bytes that
// occur in no keyword share one class), so the scan loop is one table lookup
// per byte. Immutable after construction; safe to share between threads.
class KeywordMatcher {
 public:
  KeywordMatcher() = default;
  // Keywords must be non-empty. Duplicates (after case folding) share an id:
  // id(k) is the index of k's first occurrence in `keywords`.
  explicit KeywordMatcher(const std::vector<std::string>& keywords);

  bool empty() const { return keyword_count_ == 0; }
  std::size_t size() const { return keyword_count_; }

  // The id of `keyword` as assigned by the constructor.
  std::uint32_t id(std::size_t keyword_index) const { return ids_[keyword_index]; }

  // Calls on_hit(id) for each keyword occurrence in `text` (an id may repeat).
  // Returns whether any keyword occurred.
  template <typename F>
  bool scan(std::string_view text, F&& on_hit) const {
    if (keyword_count_ == 0) return false;
    // `row` is state * classes_: the table holds row offsets, so each byte's
    // step is one load and one add on the loop's critical path.
    std::uint32_t row = 0;
    bool any = false;
    for (const char ch : text) {
      row = delta_[row + byte_class_[static_cast<unsigned char>(ch)]];
      if (row < first_output_row_) continue;  // the common case: one compare per byte
      const std::size_t o = row / classes_ - first_output_state_;
      for (std::uint32_t k = out_begin_[o]; k < out_begin_[o + 1]; ++k) on_hit(out_[k]);
      any = true;
    }
    return any;
  }

 private:
  std::size_t keyword_count_ = 0;          // distinct keywords
  std::uint32_t classes_ = 1;
  std::uint8_t byte_class_[256] = {};
  std::vector<std::uint32_t> delta_;       // state * classes_ + class -> next state * classes_
  std::uint32_t first_output_state_ = 0;   // states are numbered so that those with output come last
  std::uint32_t first_output_row_ = 0;     // first_output_state_ * classes_
  std::vector<std::uint32_t> out_begin_;   // (state - first_output_state_) -> first index into out_
  std::vector<std::uint32_t> out_;         // keyword ids ending at each state, failure chain included
  std::vector<std::uint32_t> ids_;         // input index -> keyword id
};

}  // namespace bbreview::rules
