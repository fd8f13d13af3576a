#include "diff/quote.hpp"

namespace bbreview::diff {

std::optional<std::string> unquote_c_path(std::string_view text, std::size_t& consumed) {
  if (text.empty() || text.front() != '"') return std::nullopt;
  std::string out;
  std::size_t i = 1;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"') {
      consumed = i + 1;
      return out;
    }
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) return std::nullopt;
    const char e = text[i + 1];
    switch (e) {
      case 'a': out.push_back('\a'); i += 2; continue;
      case 'b': out.push_back('\b'); i += 2; continue;
      case 't': out.push_back('\t'); i += 2; continue;
      case 'n': out.push_back('\n'); i += 2; continue;
      case 'v': out.push_back('\v'); i += 2; continue;
      case 'f': out.push_back('\f'); i += 2; continue;
      case 'r': out.push_back('\r'); i += 2; continue;
      case '"': out.push_back('"'); i += 2; continue;
      case '\\': out.push_back('\\'); i += 2; continue;
      default: break;
    }
    // Octal escape: exactly three digits, as git writes them (\303\251).
    if (e < '0' || e > '3' || i + 3 >= text.size()) return std::nullopt;
    unsigned value = 0;
    for (std::size_t k = 1; k <= 3; ++k) {
      const char d = text[i + k];
      if (d < '0' || d > '7') return std::nullopt;
      value = value * 8 + static_cast<unsigned>(d - '0');
    }
    out.push_back(static_cast<char>(static_cast<unsigned char>(value)));
    i += 4;
  }
  return std::nullopt;
}

bool needs_c_quoting(std::string_view path) {
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') return true;
  }
  return false;
}

std::string quote_c_path_if_needed(std::string_view path) {
  if (!needs_c_quoting(path)) return std::string(path);
  static constexpr char kOctal[] = "01234567";
  std::string out = "\"";
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '\a': out += "\\a"; continue;
      case '\b': out += "\\b"; continue;
      case '\t': out += "\\t"; continue;
      case '\n': out += "\\n"; continue;
      case '\v': out += "\\v"; continue;
      case '\f': out += "\\f"; continue;
      case '\r': out += "\\r"; continue;
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      default: break;
    }
    if (u < 0x20 || u >= 0x7f) {
      out.push_back('\\');
      out.push_back(kOctal[(u >> 6) & 7]);
      out.push_back(kOctal[(u >> 3) & 7]);
      out.push_back(kOctal[u & 7]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace bbreview::diff
