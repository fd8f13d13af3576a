#include "common/crypto.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <memory>
#include <stdexcept>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace bbreview::crypto {

namespace {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// OpenSSL's EVP lengths are ints.
bool fits_int(std::size_t n) { return n <= static_cast<std::size_t>(INT_MAX); }

constexpr std::string_view kScryptId = "$scrypt$";

// Memory scrypt needs for (N, r, p): 128·r·N for V plus 128·r·p for B, plus
// slack for the working block (OpenSSL checks the same sum against maxmem).
std::uint64_t scrypt_memory(const ScryptParams& p) {
  const std::uint64_t n = std::uint64_t{1} << p.log2_n;
  return 128 * std::uint64_t{p.r} * (n + 2) + 128 * std::uint64_t{p.r} * std::uint64_t{p.p} + 4096;
}

bool params_in_bounds(const ScryptParams& p) {
  if (p.log2_n < kScryptMinLog2N || p.log2_n > kScryptMaxLog2N) return false;
  if (p.r < 1 || p.r > kScryptMaxR || p.p < 1 || p.p > kScryptMaxP) return false;
  return scrypt_memory(p) <= kScryptMaxMemory;
}

// Derives kHashBytes with scrypt; false when OpenSSL refuses.
bool derive(std::string_view password, std::string_view salt, const ScryptParams& p,
            std::array<unsigned char, kHashBytes>& out) {
  // OpenSSL wants non-null pointers even for empty inputs.
  static constexpr char kEmpty = '\0';
  const char* pass = password.empty() ? &kEmpty : password.data();
  return EVP_PBE_scrypt(pass, password.size(), bytes(salt), salt.size(), std::uint64_t{1} << p.log2_n, p.r, p.p,
                        scrypt_memory(p), out.data(), out.size()) == 1;
}

// Parses "<name>=<unsigned>" at the front of `s`, consuming it.
std::optional<std::uint32_t> take_param(std::string_view& s, std::string_view name) {
  if (s.substr(0, name.size()) != name || s.size() <= name.size() || s[name.size()] != '=') return std::nullopt;
  s.remove_prefix(name.size() + 1);
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end == s.data()) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return value;
}

struct Parsed {
  ScryptParams params;
  std::string salt;
  std::string hash;
};

std::optional<Parsed> parse(std::string_view encoded) {
  if (encoded.substr(0, kScryptId.size()) != kScryptId) return std::nullopt;
  encoded.remove_prefix(kScryptId.size());
  Parsed out;
  auto ln = take_param(encoded, "ln");
  if (!ln || encoded.empty() || encoded.front() != ',') return std::nullopt;
  encoded.remove_prefix(1);
  auto r = take_param(encoded, "r");
  if (!r || encoded.empty() || encoded.front() != ',') return std::nullopt;
  encoded.remove_prefix(1);
  auto p = take_param(encoded, "p");
  if (!p || encoded.empty() || encoded.front() != '$') return std::nullopt;
  encoded.remove_prefix(1);
  out.params = ScryptParams{*ln, *r, *p};
  const auto dollar = encoded.find('$');
  if (dollar == std::string_view::npos) return std::nullopt;
  auto salt = base64_decode(encoded.substr(0, dollar));
  auto hash = base64_decode(encoded.substr(dollar + 1));
  if (!salt || !hash || salt->empty() || hash->size() != kHashBytes) return std::nullopt;
  out.salt = std::move(*salt);
  out.hash = std::move(*hash);
  return out;
}

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string_view describe(OpenError e) {
  switch (e) {
    case OpenError::kNone:
      return "no error";
    case OpenError::kTooShort:
      return "the data is too short to be a sealed message";
    case OpenError::kUnknownVersion:
      return "the data is not in a sealed-message format this version knows";
    case OpenError::kBadKeyLength:
      return "the key is not 32 bytes";
    case OpenError::kAuthenticationFailed:
      return "the data does not authenticate: wrong key, or the data was modified";
    case OpenError::kTooLarge:
      return "the data is too large";
  }
  return "unknown error";
}

std::string seal(std::string_view key, std::string_view plaintext, std::string_view associated) {
  if (key.size() != kKeyBytes) throw std::invalid_argument("the key must be 32 bytes (AES-256)");
  if (!fits_int(plaintext.size()) || !fits_int(associated.size()) ||
      plaintext.size() > static_cast<std::size_t>(INT_MAX) - kSealOverhead) {
    throw std::invalid_argument("the message is too large to seal");
  }
  std::string out(kSealOverhead + plaintext.size(), '\0');
  out[0] = static_cast<char>(kSealVersion);
  unsigned char* nonce = bytes(out) + 1;
  unsigned char* body = nonce + kNonceBytes;
  unsigned char* tag = body + plaintext.size();
  if (RAND_bytes(nonce, static_cast<int>(kNonceBytes)) != 1) throw std::runtime_error("the random generator failed");

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes), nullptr) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key), nonce) == 1 &&
      (associated.empty() ||
       EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(associated), static_cast<int>(associated.size())) == 1) &&
      (plaintext.empty() ||
       EVP_EncryptUpdate(ctx.get(), body, &len, bytes(plaintext), static_cast<int>(plaintext.size())) == 1) &&
      EVP_EncryptFinal_ex(ctx.get(), body + plaintext.size(), &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    throw std::runtime_error("AES-256-GCM encryption failed");
  }
  return out;
}

Opened open(std::string_view key, std::string_view sealed, std::string_view associated) {
  if (key.size() != kKeyBytes) return {std::nullopt, OpenError::kBadKeyLength};
  if (sealed.size() < kSealOverhead) return {std::nullopt, OpenError::kTooShort};
  if (static_cast<unsigned char>(sealed[0]) != kSealVersion) return {std::nullopt, OpenError::kUnknownVersion};
  if (!fits_int(sealed.size()) || !fits_int(associated.size())) return {std::nullopt, OpenError::kTooLarge};
  const std::size_t body_size = sealed.size() - kSealOverhead;
  const std::string_view nonce = sealed.substr(1, kNonceBytes);
  const std::string_view body = sealed.substr(1 + kNonceBytes, body_size);
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer; copy rather than cast constness away.
  std::array<unsigned char, kTagBytes> tag{};
  const std::string_view tag_view = sealed.substr(1 + kNonceBytes + body_size);
  std::copy(tag_view.begin(), tag_view.end(), tag.begin());

  std::string plain(body_size, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const bool set_up =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes), nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key), bytes(nonce)) == 1 &&
      (associated.empty() ||
       EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(associated), static_cast<int>(associated.size())) == 1) &&
      (body.empty() ||
       EVP_DecryptUpdate(ctx.get(), bytes(plain), &len, bytes(body), static_cast<int>(body.size())) == 1) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag.data()) == 1;
  // Final checks the tag; until it passes, the decrypted bytes must not be used.
  if (!set_up || EVP_DecryptFinal_ex(ctx.get(), bytes(plain) + body_size, &len) != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return {std::nullopt, OpenError::kAuthenticationFailed};
  }
  return {std::move(plain), OpenError::kNone};
}

std::string random_bytes(std::size_t n) {
  if (!fits_int(n)) throw std::invalid_argument("too many random bytes requested");
  std::string out(n, '\0');
  if (n != 0 && RAND_bytes(bytes(out), static_cast<int>(n)) != 1) {
    throw std::runtime_error("the random generator failed");
  }
  return out;
}

std::string hash_password(std::string_view password, const ScryptParams& params) {
  if (!params_in_bounds(params)) {
    throw std::invalid_argument("scrypt parameters out of bounds: ln 10..20, r 1..32, p 1..16, at most 256 MiB");
  }
  const std::string salt = random_bytes(kSaltBytes);
  std::array<unsigned char, kHashBytes> hash{};
  if (!derive(password, salt, params, hash)) throw std::runtime_error("scrypt failed");
  std::string out(kScryptId);
  out += "ln=" + std::to_string(params.log2_n) + ",r=" + std::to_string(params.r) +
         ",p=" + std::to_string(params.p) + "$";
  out += base64_encode(salt);
  out += '$';
  out += base64_encode(std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
  OPENSSL_cleanse(hash.data(), hash.size());
  return out;
}

bool verify_password(std::string_view password, std::string_view encoded) {
  auto parsed = parse(encoded);
  if (!parsed || !params_in_bounds(parsed->params)) return false;
  std::array<unsigned char, kHashBytes> hash{};
  if (!derive(password, parsed->salt, parsed->params, hash)) return false;
  // Constant time, so response times do not reveal how much of the hash matched.
  const bool same = CRYPTO_memcmp(hash.data(), parsed->hash.data(), kHashBytes) == 0;
  OPENSSL_cleanse(hash.data(), hash.size());
  return same;
}

std::optional<ScryptParams> password_params(std::string_view encoded) {
  auto parsed = parse(encoded);
  if (!parsed) return std::nullopt;
  return parsed->params;
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    const auto b1 = static_cast<unsigned char>(in[i + 1]);
    const auto b2 = static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlphabet[b0 >> 2]);
    out.push_back(kAlphabet[((b0 & 0x03) << 4) | (b1 >> 4)]);
    out.push_back(kAlphabet[((b1 & 0x0f) << 2) | (b2 >> 6)]);
    out.push_back(kAlphabet[b2 & 0x3f]);
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    out.push_back(kAlphabet[b0 >> 2]);
    out.push_back(kAlphabet[(b0 & 0x03) << 4]);
  } else if (rest == 2) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    const auto b1 = static_cast<unsigned char>(in[i + 1]);
    out.push_back(kAlphabet[b0 >> 2]);
    out.push_back(kAlphabet[((b0 & 0x03) << 4) | (b1 >> 4)]);
    out.push_back(kAlphabet[(b1 & 0x0f) << 2]);
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  // A lone sextet cannot carry a whole byte.
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = sextet(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xffu));
    }
  }
  return out;
}

}  // namespace bbreview::crypto
