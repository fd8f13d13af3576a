// bbreview::crypto: secrets at rest and the console's password hash, through
// OpenSSL's libcrypto.
//
// - seal/open: AES-256-GCM with a fresh random 96-bit nonce per message and a
//   128-bit tag, in a versioned byte format (see kSealVersion).
// - random_bytes: the OpenSSL CSPRNG (RAND_bytes).
// - hash_password/verify_password: scrypt (memory-hard, EVP_PBE_scrypt) as a
//   PHC-style string "$scrypt$ln=15,r=8,p=1$<salt>$<hash>" (unpadded base64).
//
// Nothing here logs, and no error message contains key, plaintext or password.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bbreview::crypto {

// AES-256 key length in bytes.
inline constexpr std::size_t kKeyBytes = 32;
// GCM nonce length: 96 bits, the size GCM is specified for (NIST SP 800-38D).
inline constexpr std::size_t kNonceBytes = 12;
// GCM tag length: the full 128 bits.
inline constexpr std::size_t kTagBytes = 16;
// First byte of every sealed message. A later format gets a new number, so
// stored secrets stay readable after an upgrade.
inline constexpr unsigned char kSealVersion = 0x01;
// Bytes a sealed message adds to its plaintext: version + nonce + tag.
inline constexpr std::size_t kSealOverhead = 1 + kNonceBytes + kTagBytes;

// Why open() refused a message. None of these reveal anything about the key.
enum class OpenError {
  kNone,
  // Shorter than kSealOverhead: not a sealed message at all.
  kTooShort,
  // The version byte is not one this build understands.
  kUnknownVersion,
  // The key is not kKeyBytes long.
  kBadKeyLength,
  // The tag does not verify: a wrong key, wrong associated data, or a message
  // that was modified after sealing.
  kAuthenticationFailed,
  // Larger than OpenSSL's int-sized lengths allow.
  kTooLarge,
};

// A short English description of `e`, e.g. for an exception message.
std::string_view describe(OpenError e);

// What open() returns: the plaintext, or the reason it could not be had.
struct Opened {
  std::optional<std::string> plaintext;
  OpenError error = OpenError::kNone;

  explicit operator bool() const { return plaintext.has_value(); }
};

// Returns kVersion + nonce(12) + ciphertext + tag(16) for `plaintext` under
// `key`, authenticating `associated` too (it is not stored in the output; the
// same bytes must be given to open()). Each call draws a new random nonce.
// Throws std::invalid_argument when the key is not kKeyBytes long or the input
// is too large for OpenSSL, and std::runtime_error if the CSPRNG or the cipher
// fails (neither message contains the inputs).
std::string seal(std::string_view key, std::string_view plaintext, std::string_view associated = {});

// The plaintext of a message made by seal() with the same key and associated
// data. Never throws for bad input: tampering, a wrong key, wrong associated
// data, truncation or garbage come back as an OpenError.
Opened open(std::string_view key, std::string_view sealed, std::string_view associated = {});

// `n` bytes from OpenSSL's CSPRNG. Throws std::runtime_error when it fails
// (e.g. it could not be seeded).
std::string random_bytes(std::size_t n);

// scrypt cost parameters. Defaults: N = 2^15, r = 8, p = 1, which needs
// 128 * r * N = 32 MiB per hash (OWASP's minimum recommendation for scrypt).
struct ScryptParams {
  std::uint32_t log2_n = 15;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
};

// Bounds hash_password and verify_password accept, so a stored string cannot
// ask for unbounded memory or time (the largest, ln=20 r=16, is 2 GiB; the
// memory limit below refuses it).
inline constexpr std::uint32_t kScryptMinLog2N = 10;
inline constexpr std::uint32_t kScryptMaxLog2N = 20;
inline constexpr std::uint32_t kScryptMaxR = 32;
inline constexpr std::uint32_t kScryptMaxP = 16;
// The most memory one scrypt computation may use.
inline constexpr std::uint64_t kScryptMaxMemory = std::uint64_t{256} << 20;
inline constexpr std::size_t kSaltBytes = 16;
inline constexpr std::size_t kHashBytes = 32;

// "$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>" with a fresh random 16-byte
// salt and a 32-byte derived key, both in unpadded standard base64. Takes about
// 0.1 s and 32 MiB with the defaults. Throws std::invalid_argument when the
// parameters are outside the bounds above, std::runtime_error when the CSPRNG
// or scrypt fails.
std::string hash_password(std::string_view password, const ScryptParams& params = {});

// True when `password` derives the hash in `encoded` (a hash_password string).
// The comparison is constant-time (CRYPTO_memcmp). A malformed string, or one
// whose parameters are outside the bounds, verifies nothing and returns false.
bool verify_password(std::string_view password, std::string_view encoded);

// The parameters of a well-formed hash_password string, or nullopt. Lets a
// caller see that a stored hash uses old, weaker parameters and rehash it.
std::optional<ScryptParams> password_params(std::string_view encoded);

// Standard base64 (RFC 4648 §4) without '=' padding, as PHC strings use it.
std::string base64_encode(std::string_view bytes);
// The bytes of unpadded (or padded) standard base64, or nullopt when `text`
// contains anything else or has an impossible length.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace bbreview::crypto
