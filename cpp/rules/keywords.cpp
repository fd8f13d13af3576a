#include "rules/keywords.hpp"

#include <deque>
#include <stdexcept>
#include <unordered_map>

namespace bbreview::rules {

namespace {

unsigned char fold(unsigned char c) { return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c; }

}  // namespace

KeywordMatcher::KeywordMatcher(const std::vector<std::string>& keywords) {
  // Distinct folded keywords get ids in order of first appearance.
  std::unordered_map<std::string, std::uint32_t> by_text;
  std::vector<std::string> distinct;
  ids_.reserve(keywords.size());
  for (const auto& k : keywords) {
    if (k.empty()) throw std::invalid_argument("a keyword must not be empty");
    std::string folded(k);
    for (char& c : folded) c = static_cast<char>(fold(static_cast<unsigned char>(c)));
    auto [it, inserted] = by_text.try_emplace(folded, static_cast<std::uint32_t>(distinct.size()));
    if (inserted) distinct.push_back(folded);
    ids_.push_back(it->second);
  }
  keyword_count_ = distinct.size();
  if (keyword_count_ == 0) return;

  // Byte classes: class 0 for bytes in no keyword, one class per other byte;
  // an upper-case ASCII letter shares its lower-case letter's class.
  bool used[256] = {};
  for (const auto& k : distinct) {
    for (const char c : k) used[static_cast<unsigned char>(c)] = true;
  }
  classes_ = 1;
  for (unsigned b = 0; b < 256; ++b) {
    if (used[b]) byte_class_[b] = static_cast<std::uint8_t>(classes_++);
  }
  for (unsigned b = 'A'; b <= 'Z'; ++b) byte_class_[b] = byte_class_[b - 'A' + 'a'];

  // Trie over classes; 0 in `go` means "no edge" (the root is never a target).
  std::vector<std::uint32_t> go(classes_, 0);
  std::vector<std::vector<std::uint32_t>> own(1);
  for (std::uint32_t id = 0; id < distinct.size(); ++id) {
    std::uint32_t s = 0;
    for (const char c : distinct[id]) {
      const std::size_t cls = byte_class_[static_cast<unsigned char>(c)];
      std::uint32_t& next = go[s * classes_ + cls];
      if (next == 0) {
        next = static_cast<std::uint32_t>(own.size());
        own.emplace_back();
        go.resize(go.size() + classes_, 0);
      }
      s = go[s * classes_ + cls];
    }
    own[s].push_back(id);
  }
  const std::size_t states = own.size();

  // Breadth-first: failure links, full transitions, and inherited outputs.
  std::vector<std::uint32_t> fail(states, 0);
  std::vector<std::vector<std::uint32_t>> out = own;
  delta_.assign(states * classes_, 0);
  std::deque<std::uint32_t> queue;
  for (std::uint32_t c = 0; c < classes_; ++c) {
    const std::uint32_t t = go[c];
    delta_[c] = t;
    if (t != 0) queue.push_back(t);
  }
  while (!queue.empty()) {
    const std::uint32_t s = queue.front();
    queue.pop_front();
    const auto& inherited = out[fail[s]];
    out[s].insert(out[s].end(), inherited.begin(), inherited.end());
    for (std::uint32_t c = 0; c < classes_; ++c) {
      const std::uint32_t t = go[s * classes_ + c];
      if (t != 0) {
        fail[t] = delta_[fail[s] * classes_ + c];
        delta_[s * classes_ + c] = t;
        queue.push_back(t);
      } else {
        delta_[s * classes_ + c] = delta_[fail[s] * classes_ + c];
      }
    }
  }

  // Renumber: states without output first (the root, with none, stays 0), so
  // the scan loop tells "no keyword ends here" with one comparison.
  std::vector<std::uint32_t> order;  // new id -> old id
  order.reserve(states);
  for (std::uint32_t st = 0; st < states; ++st) {
    if (out[st].empty()) order.push_back(st);
  }
  first_output_state_ = static_cast<std::uint32_t>(order.size());
  for (std::uint32_t st = 0; st < states; ++st) {
    if (!out[st].empty()) order.push_back(st);
  }
  std::vector<std::uint32_t> new_id(states);
  for (std::uint32_t n = 0; n < states; ++n) new_id[order[n]] = n;
  std::vector<std::uint32_t> renumbered(states * classes_);
  for (std::uint32_t n = 0; n < states; ++n) {
    for (std::uint32_t c = 0; c < classes_; ++c) {
      // Stored as the target's row offset: the scan loop then needs no multiply.
      renumbered[n * classes_ + c] = new_id[delta_[order[n] * classes_ + c]] * classes_;
    }
  }
  delta_ = std::move(renumbered);

  first_output_row_ = first_output_state_ * classes_;
  out_begin_.reserve(states - first_output_state_ + 1);
  for (std::uint32_t n = first_output_state_; n < states; ++n) {
    out_begin_.push_back(static_cast<std::uint32_t>(out_.size()));
    out_.insert(out_.end(), out[order[n]].begin(), out[order[n]].end());
  }
  out_begin_.push_back(static_cast<std::uint32_t>(out_.size()));
}

}  // namespace bbreview::rules
