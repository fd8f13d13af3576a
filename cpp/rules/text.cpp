#include "rules/text.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

namespace bbreview::rules {

namespace {

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

std::uint32_t count_code_points(std::string_view utf8) {
  std::uint32_t n = 0;
  for (const char c : utf8) n += is_continuation(c) ? 0U : 1U;
  return n;
}

std::size_t code_point_length(std::string_view text, std::size_t pos) {
  if (pos >= text.size()) return 1;
  std::size_t n = 1;
  while (pos + n < text.size() && n < 4 && is_continuation(text[pos + n])) ++n;
  return n;
}

double shannon_entropy(std::string_view text) {
  if (text.empty()) return 0.0;
  std::array<std::uint32_t, 256> counts{};
  for (const char c : text) ++counts[static_cast<unsigned char>(c)];
  const double size = static_cast<double>(text.size());
  double h = 0.0;
  for (const std::uint32_t count : counts) {
    if (count == 0) continue;
    const double p = static_cast<double>(count) / size;
    h -= p * std::log2(p);
  }
  return h;
}

std::string redact(std::string_view secret) {
  const std::uint32_t n = count_code_points(secret);
  const std::uint32_t keep = std::min<std::uint32_t>(4, n / 4);
  std::string out;
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < keep; ++i) {
    const std::size_t len = code_point_length(secret, pos);
    out.append(secret.substr(pos, len));
    pos += len;
  }
  out.append(n - keep, '*');
  return out;
}

std::string normalise_whitespace(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  bool pending_space = false;
  for (const char c : line) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

std::string sha256_hex128(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // EVP_Digest with a static EVP_MD needs no shared state, so concurrent scans may call it.
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1 || size < 16) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return out;
}

std::string fingerprint(std::string_view rule_id, std::string_view path, std::string_view content,
                        std::uint32_t occurrence) {
  std::string input;
  input.reserve(rule_id.size() + path.size() + content.size() + 16);
  input.append(rule_id);
  input += '\0';
  input.append(path);
  input += '\0';
  input.append(normalise_whitespace(content));
  if (occurrence > 1) {
    input += '\0';
    input.append(std::to_string(occurrence));
  }
  return sha256_hex128(input);
}

bool Suppression::covers(std::string_view rule_id) const {
  return all || std::find(ids.begin(), ids.end(), rule_id) != ids.end();
}

Suppression parse_suppression(std::string_view line) {
  Suppression result;
  static constexpr std::string_view kTag = "bbreview:";
  static constexpr std::string_view kIgnore = "ignore";
  std::size_t pos = 0;
  while ((pos = line.find(kTag, pos)) != std::string_view::npos) {
    std::size_t i = pos + kTag.size();
    pos = i;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (line.substr(i, kIgnore.size()) != kIgnore) continue;
    i += kIgnore.size();
    if (i < line.size() && line[i] == '[') {
      const std::size_t close = line.find(']', i + 1);
      if (close == std::string_view::npos) continue;
      std::string_view list = line.substr(i + 1, close - i - 1);
      std::size_t k = 0;
      while (k < list.size()) {
        while (k < list.size() && (list[k] == ',' || is_space(list[k]))) ++k;
        const std::size_t begin = k;
        while (k < list.size() && list[k] != ',' && !is_space(list[k])) ++k;
        if (k > begin) result.ids.emplace_back(list.substr(begin, k - begin));
      }
      pos = close + 1;
    } else if (i < line.size() && is_word_char(line[i])) {
      continue;  // "bbreview: ignored", "bbreview: ignore-next": not ours
    } else {
      result.all = true;
      pos = i;
    }
  }
  return result;
}

bool is_comment_only(std::string_view line) {
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  static constexpr std::string_view kMarkers[] = {"#", "//", "/*", "*", "--", "<!--", ";", "%", "'", "REM ", "rem "};
  for (const std::string_view m : kMarkers) {
    if (line.substr(0, m.size()) == m) return true;
  }
  return false;
}

}  // namespace bbreview::rules
