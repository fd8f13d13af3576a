#include "diff/emit.hpp"

#include <cstdio>
#include <stdexcept>

#include "diff/quote.hpp"

namespace bbreview::diff {

namespace {

std::string mode_text(std::uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06o", mode);
  return buf;
}

// git omits a count of 1 ("@@ -3 +3 @@"); emitting the same keeps canonical input byte-exact.
void append_range(std::string& out, std::uint32_t start, std::uint32_t count) {
  out += std::to_string(start);
  if (count != 1) {
    out += ',';
    out += std::to_string(count);
  }
}

std::string prefixed(std::string_view prefix, const std::string& path) {
  return quote_c_path_if_needed(std::string(prefix) + path);
}

}  // namespace

void append_file(std::string& out, const FileDiff& f) {
  if (f.is_combined) return;
  const std::string& old_name = f.old_path ? *f.old_path : *f.new_path;
  const std::string& new_name = f.new_path ? *f.new_path : *f.old_path;
  out += "diff --git " + prefixed("a/", old_name) + " " + prefixed("b/", new_name) + "\n";
  if (f.status == FileStatus::Added) {
    out += "new file mode " + mode_text(f.new_mode.value_or(0100644)) + "\n";
  } else if (f.status == FileStatus::Deleted) {
    out += "deleted file mode " + mode_text(f.old_mode.value_or(0100644)) + "\n";
  } else if (f.old_mode && f.new_mode && *f.old_mode != *f.new_mode) {
    out += "old mode " + mode_text(*f.old_mode) + "\n";
    out += "new mode " + mode_text(*f.new_mode) + "\n";
  }
  if (f.similarity) out += "similarity index " + std::to_string(*f.similarity) + "%\n";
  if (f.dissimilarity) out += "dissimilarity index " + std::to_string(*f.dissimilarity) + "%\n";
  if (f.status == FileStatus::Renamed || f.status == FileStatus::Copied) {
    const char* verb = f.status == FileStatus::Renamed ? "rename" : "copy";
    out += std::string(verb) + " from " + quote_c_path_if_needed(old_name) + "\n";
    out += std::string(verb) + " to " + quote_c_path_if_needed(new_name) + "\n";
  }
  if (!f.old_hash.empty()) {
    out += "index " + f.old_hash + ".." + f.new_hash;
    const bool same_mode = f.old_mode && f.new_mode && *f.old_mode == *f.new_mode;
    if (same_mode && f.status != FileStatus::Added && f.status != FileStatus::Deleted) {
      out += " " + mode_text(*f.old_mode);
    }
    out += "\n";
  }
  if (f.is_binary) {
    if (!f.binary_payload.empty()) {
      out += "GIT binary patch\n";
      out.append(f.binary_payload);
    } else {
      out += "Binary files " + (f.old_path ? prefixed("a/", *f.old_path) : std::string("/dev/null")) + " and " +
             (f.new_path ? prefixed("b/", *f.new_path) : std::string("/dev/null")) + " differ\n";
    }
    return;
  }
  if (f.hunks.empty()) return;
  // Like git, a TAB ends a name holding a space, so patch(1) does not read past it.
  auto side = [](std::string_view prefix, const std::optional<std::string>& path) {
    if (!path) return std::string("/dev/null");
    std::string name = prefixed(prefix, *path);
    if (name.find(' ') != std::string::npos && name.front() != '"') name += '\t';
    return name;
  };
  out += "--- " + side("a/", f.old_path) + "\n";
  out += "+++ " + side("b/", f.new_path) + "\n";
  for (const Hunk& h : f.hunks) {
    out += "@@ -";
    append_range(out, h.old_start, h.old_count);
    out += " +";
    append_range(out, h.new_start, h.new_count);
    out += " @@";
    if (!h.section.empty()) {
      out += ' ';
      out.append(h.section);
    }
    out += '\n';
    for (const Line& l : h.lines) {
      out += static_cast<char>(l.kind);
      out.append(l.content);
      out += l.ending == LineEnding::CRLF ? "\r\n" : "\n";
      if (l.no_newline_at_eof) out += "\\ No newline at end of file\n";
    }
  }
}

std::string to_text(const PatchSet& patch) {
  if (patch.stats_only) {
    throw std::invalid_argument("this PatchSet was parsed for statistics only and holds no lines to emit; parse it in full");
  }
  std::string out;
  out.reserve(patch.input.size());
  for (const FileDiff& f : patch.files) append_file(out, f);
  return out;
}

}  // namespace bbreview::diff
