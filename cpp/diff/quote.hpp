// Git's C-style path quoting, as used in "diff --git", "---"/"+++", and the
// rename/copy headers when a path holds a control character, a double quote, a
// backslash or (with core.quotePath) a byte >= 0x80.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bbreview::diff {

// Parses a quoted path at the start of `text`, which must begin with '"'.
// Returns the unquoted bytes and sets `consumed` to the number of input bytes
// used, closing quote included. Returns std::nullopt when the quoting is
// malformed (no closing quote, an unknown escape, or an octal escape > 0377).
std::optional<std::string> unquote_c_path(std::string_view text, std::size_t& consumed);

// True when git would quote this path (control characters, '"', '\\', bytes >= 0x80).
bool needs_c_quoting(std::string_view path);

// Quotes `path` the way git does when needs_c_quoting() is true, returns it as is otherwise.
std::string quote_c_path_if_needed(std::string_view path);

}  // namespace bbreview::diff
