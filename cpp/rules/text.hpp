// Small text functions behind findings: columns, entropy, redaction,
// fingerprints and suppression comments. All are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bbreview::rules {

// Number of Unicode code points in UTF-8 text: every byte that is not a
// continuation byte counts once, so an invalid byte counts as one character,
// as it does after Python's errors="replace" decoding.
std::uint32_t count_code_points(std::string_view utf8);

// Byte length of the code point starting at text[pos] (1 for invalid bytes and
// for pos at the end).
std::size_t code_point_length(std::string_view text, std::size_t pos);

// Shannon entropy of `text` in bits per byte (0 for empty text, at most 8).
double shannon_entropy(std::string_view text);

// The redacted form of a secret: its first min(4, n / 4) code points, then one
// "*" for each remaining code point, n being its length in code points. So a
// 20-character AWS key keeps "AKIA" and a 7-character password keeps one.
std::string redact(std::string_view secret);

// Line content with runs of whitespace (space, tab, CR, LF, VT, FF) collapsed
// to one space and leading and trailing whitespace removed.
std::string normalise_whitespace(std::string_view line);

// Lower-case hex of the first 16 bytes of SHA-256(data).
std::string sha256_hex128(std::string_view data);

// The fingerprint of a finding: sha256_hex128 of
//   rule_id NUL path NUL normalise_whitespace(content)
// followed by NUL and the decimal occurrence when occurrence > 1 (the second,
// third... finding with the same rule, path and normalised content in a file).
// No line number is involved, so it survives lines moving up or down.
std::string fingerprint(std::string_view rule_id, std::string_view path, std::string_view content,
                        std::uint32_t occurrence);

// What the "bbreview: ignore" comments on a line suppress.
struct Suppression {
  bool all = false;               // a bare "bbreview: ignore"
  std::vector<std::string> ids;   // ids from "bbreview: ignore[id1, id2]"

  bool covers(std::string_view rule_id) const;
  bool empty() const { return !all && ids.empty(); }
};

// Parses every "bbreview: ignore" and "bbreview: ignore[ids]" directive in a
// line (any comment syntax; spaces after the colon are optional). "ignore"
// must end there or be followed by "[": "bbreview: ignored" is not a directive.
// Ids in brackets are separated by commas and/or spaces.
Suppression parse_suppression(std::string_view line);

// True when the line, leading whitespace aside, starts with a comment marker
// of a common language (#, //, /*, *, --, <!--, ;, %, ' or REM).
bool is_comment_only(std::string_view line);

}  // namespace bbreview::rules
