// bbreview::webhook signatures: Bitbucket Cloud signs a delivery with
// X-Hub-Signature: "sha256=" + lowercase hex of HMAC-SHA256(secret, raw body)
// (reference §7.2). Verify over the raw bytes, before any JSON parsing.
#pragma once

#include <string>
#include <string_view>

namespace bbreview::webhook {

// The only scheme Bitbucket Cloud sends: no SHA-1 variant, no
// X-Hub-Signature-256 header (reference §7.2).
inline constexpr std::string_view kSignaturePrefix = "sha256=";
// Hex digits after the prefix: 32 bytes of SHA-256.
inline constexpr std::size_t kSignatureHexDigits = 64;

// Returns "sha256=<64 lowercase hex digits>" for `body` signed with `secret`.
// An empty secret is a valid (if useless) HMAC key.
std::string sign(std::string_view secret, std::string_view body);

// True when `header` (the X-Hub-Signature value) is "sha256=" followed by the
// 64 hex digits of HMAC-SHA256(secret, body). Surrounding whitespace is ignored,
// the prefix and the hex digits are case-insensitive. A header with a missing
// or different prefix, a wrong length or non-hex digits is malformed and never
// verifies. The digest comparison takes the same time wherever the first
// differing byte is (CRYPTO_memcmp).
bool verify(std::string_view secret, std::string_view body, std::string_view header);

}  // namespace bbreview::webhook
