#include "rules/glob.hpp"

#include <re2/re2.h>

#include <vector>

namespace bbreview::rules {

namespace {

std::string quote(char c) { return RE2::QuoteMeta(re2::StringPiece(&c, 1)); }

// Translates the class starting at glob[i] == '['. Returns the index after the
// closing ']', or npos when the class is not closed.
std::size_t translate_class(std::string_view glob, std::size_t i, std::string& out) {
  std::size_t j = i + 1;
  bool negate = false;
  if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) {
    negate = true;
    ++j;
  }
  const std::size_t first = j;  // a ']' here is a member, not the end
  std::string body;
  for (; j < glob.size(); ++j) {
    char c = glob[j];
    if (c == ']' && j != first) break;
    if (glob.substr(j, 2) == "[:") {
      // A POSIX class such as [:alpha:], passed through: RE2 knows the same names.
      const auto end = glob.find(":]", j + 2);
      if (end == std::string_view::npos) return std::string_view::npos;
      body.append(glob.substr(j, end + 2 - j));
      j = end + 1;
      continue;
    }
    if (c == '\\') {
      if (j + 1 >= glob.size()) return std::string_view::npos;
      c = glob[++j];
    } else if (c == '-' && j != first && j + 1 < glob.size() && glob[j + 1] != ']') {
      body += '-';  // a range such as a-z
      continue;
    } else if (c == '/') {
      continue;  // a class never matches "/" (git's wildmatch with WM_PATHNAME)
    }
    if (c == '\\' || c == ']' || c == '[' || c == '^' || c == '-') body += '\\';
    body += c;
  }
  if (j >= glob.size()) return std::string_view::npos;
  if (body.empty() && !negate) {
    out += "[^\\x00-\\x{10FFFF}]";  // "[/]": a class that no path character can match
    return j + 1;
  }
  out += negate ? "[^/" : "[";
  out += body;
  out += ']';
  return j + 1;
}

}  // namespace

GlobRegex translate_glob(std::string_view glob) {
  GlobRegex result;
  if (glob.empty()) {
    result.never = "the glob is empty";
    return result;
  }
  bool anchored = false;
  if (glob.front() == '/') {
    anchored = true;
    glob.remove_prefix(1);
  }
  bool dir_only = false;
  if (!glob.empty() && glob.back() == '/' && !(glob.size() >= 2 && glob[glob.size() - 2] == '\\')) {
    dir_only = true;
    glob.remove_suffix(1);
  }
  if (glob.empty()) {
    result.never = "the glob names no file or directory";
    return result;
  }
  if (glob.find('/') != std::string_view::npos) anchored = true;

  // Segment checks: diff paths are relative and normalised.
  std::size_t start = 0;
  while (start <= glob.size()) {
    auto end = glob.find('/', start);
    if (end == std::string_view::npos) end = glob.size();
    const std::string_view seg = glob.substr(start, end - start);
    if (seg.empty()) {
      result.never = "it has an empty path segment (\"//\"), and diff paths never do";
      return result;
    }
    if (seg == "." || seg == "..") {
      result.never = "it has a \"" + std::string(seg) + "\" segment, and diff paths are normalised without them";
      return result;
    }
    start = end + 1;
  }

  std::string body;
  for (std::size_t i = 0; i < glob.size();) {
    const char c = glob[i];
    if (c == '*') {
      std::size_t stars = 1;
      while (i + stars < glob.size() && glob[i + stars] == '*') ++stars;
      if (stars >= 2) {
        const bool at_seg_start = i == 0 || glob[i - 1] == '/';
        const std::size_t after = i + stars;
        const bool at_seg_end = after == glob.size() || glob[after] == '/';
        if (at_seg_start && at_seg_end) {
          if (after == glob.size()) {
            body += ".*";  // "/**" at the end (or the whole glob "**"): everything
            i = after;
          } else {
            body += "(?:.*/)?";  // "**/" spans zero or more directories
            i = after + 1;
          }
          continue;
        }
        body += ".*";  // any other "**" also spans directories
      } else {
        body += "[^/]*";
      }
      i += stars;
      continue;
    }
    if (c == '?') {
      body += "[^/]";
      ++i;
      continue;
    }
    if (c == '[') {
      const std::size_t next = translate_class(glob, i, body);
      if (next == std::string_view::npos) {
        result.never = "it has an unclosed \"[\"";
        return result;
      }
      i = next;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= glob.size()) {
        result.never = "it ends with a lone \"\\\"";
        return result;
      }
      body += quote(glob[i + 1]);
      i += 2;
      continue;
    }
    body += quote(c);
    ++i;
  }

  result.regex = anchored ? "" : "(?:.*/)?";
  result.regex += body;
  // Matching a directory matches every file below it.
  result.regex += dir_only ? "/.*" : "(?:/.*)?";
  return result;
}

}  // namespace bbreview::rules
