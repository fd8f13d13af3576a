#include "webhook/signature.hpp"

#include <array>
#include <cstdint>
#include <optional>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace bbreview::webhook {

namespace {

using Digest = std::array<unsigned char, 32>;

Digest hmac_sha256(std::string_view secret, std::string_view body) {
    Digest out{};
    unsigned int len = 0;
    // OpenSSL wants a non-null key pointer even for an empty key.
    static constexpr char kEmpty = '\0';
    const void* key = secret.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(secret.data());
    HMAC(EVP_sha256(), key, static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(body.data()),
         body.size(), out.data(), &len);
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The digest a well-formed header carries, or nullopt when it is malformed.
std::optional<Digest> parse_header(std::string_view header) {
    while (!header.empty() && is_space(header.front())) header.remove_prefix(1);
    while (!header.empty() && is_space(header.back())) header.remove_suffix(1);
    if (header.size() != kSignaturePrefix.size() + kSignatureHexDigits) return std::nullopt;
    for (std::size_t i = 0; i < kSignaturePrefix.size(); ++i) {
        char c = header[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != kSignaturePrefix[i]) return std::nullopt;
    }
    header.remove_prefix(kSignaturePrefix.size());
    Digest d{};
    for (std::size_t i = 0; i < d.size(); ++i) {
        int hi = hex_value(header[2 * i]);
        int lo = hex_value(header[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        d[i] = static_cast<unsigned char>((hi << 4) | lo);
    }
    return d;
}

}  // namespace

std::string sign(std::string_view secret, std::string_view body) {
    static constexpr char kHex[] = "0123456789abcdef";
    Digest d = hmac_sha256(secret, body);
    std::string out(kSignaturePrefix);
    out.reserve(kSignaturePrefix.size() + kSignatureHexDigits);
    for (unsigned char b : d) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 0x0f]);
    }
    return out;
}

bool verify(std::string_view secret, std::string_view body, std::string_view header) {
    auto claimed = parse_header(header);
    if (!claimed) return false;
    Digest expected = hmac_sha256(secret, body);
    // Constant time in the position of the first difference, so that a forger
    // cannot find the digest byte by byte from response times.
    return CRYPTO_memcmp(expected.data(), claimed->data(), expected.size()) == 0;
}

}  // namespace bbreview::webhook
