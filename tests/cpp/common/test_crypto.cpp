#include "common/crypto.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>

namespace {

using namespace bbreview::crypto;

const std::string kKey(kKeyBytes, 'k');
const std::string kOtherKey(kKeyBytes, 'K');
// The cheapest parameters the bounds allow: the tests check the format and
// the logic, not the cost.
constexpr ScryptParams kFast{10, 8, 1};

TEST(Seal, RoundTripsThroughOpen) {
  const std::string sealed = seal(kKey, "ATATT3x-secret");
  Opened opened = open(kKey, sealed);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened.plaintext, "ATATT3x-secret");
  EXPECT_EQ(opened.error, OpenError::kNone);
}

TEST(Seal, WritesVersionNonceCiphertextAndTag) {
  const std::string plain = "hello";
  const std::string sealed = seal(kKey, plain);
  ASSERT_EQ(sealed.size(), 1 + kNonceBytes + plain.size() + kTagBytes);
  EXPECT_EQ(static_cast<unsigned char>(sealed[0]), kSealVersion);
  EXPECT_EQ(sealed.find(plain), std::string::npos);
}

TEST(Seal, DrawsAFreshNonceEachTime) {
  std::set<std::string> nonces;
  for (int i = 0; i < 50; ++i) nonces.insert(seal(kKey, "same").substr(1, kNonceBytes));
  EXPECT_EQ(nonces.size(), 50u);
}

TEST(Seal, HandlesAnEmptyPlaintext) {
  const std::string sealed = seal(kKey, "");
  EXPECT_EQ(sealed.size(), kSealOverhead);
  Opened opened = open(kKey, sealed);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened.plaintext, "");
}

TEST(Seal, KeepsBinaryBytesIntact) {
  const std::string plain("\0\xff\x01 zero and high bytes\0", 24);
  Opened opened = open(kKey, seal(kKey, plain));
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened.plaintext, plain);
}

TEST(Seal, RejectsAKeyOfTheWrongLength) {
  EXPECT_THROW(seal(std::string(16, 'k'), "x"), std::invalid_argument);
  EXPECT_THROW(seal("", "x"), std::invalid_argument);
}

TEST(Open, FailsWithTheWrongKey) {
  Opened opened = open(kOtherKey, seal(kKey, "secret"));
  EXPECT_FALSE(opened);
  EXPECT_EQ(opened.error, OpenError::kAuthenticationFailed);
}

TEST(Open, FailsWhenAnyByteWasFlipped) {
  const std::string sealed = seal(kKey, "a secret worth protecting");
  for (std::size_t i = 1; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    Opened opened = open(kKey, bad);
    EXPECT_FALSE(opened) << "byte " << i;
    EXPECT_EQ(opened.error, OpenError::kAuthenticationFailed) << "byte " << i;
  }
}

TEST(Open, FailsWhenTheAssociatedDataDiffers) {
  const std::string sealed = seal(kKey, "hook secret", "installation:acme/app");
  EXPECT_TRUE(open(kKey, sealed, "installation:acme/app"));
  EXPECT_EQ(open(kKey, sealed, "installation:acme/other").error, OpenError::kAuthenticationFailed);
  EXPECT_EQ(open(kKey, sealed).error, OpenError::kAuthenticationFailed);
}

TEST(Open, RefusesInputShorterThanTheOverhead) {
  const std::string sealed = seal(kKey, "x");
  for (std::size_t n = 0; n < kSealOverhead; ++n) {
    EXPECT_EQ(open(kKey, sealed.substr(0, n)).error, OpenError::kTooShort) << n;
  }
}

TEST(Open, RefusesATruncatedMessage) {
  const std::string sealed = seal(kKey, "long enough to cut");
  EXPECT_EQ(open(kKey, sealed.substr(0, sealed.size() - 1)).error, OpenError::kAuthenticationFailed);
}

TEST(Open, RefusesAnUnknownVersion) {
  std::string sealed = seal(kKey, "x");
  sealed[0] = '\x02';
  EXPECT_EQ(open(kKey, sealed).error, OpenError::kUnknownVersion);
}

TEST(Open, RefusesAKeyOfTheWrongLengthWithoutThrowing) {
  EXPECT_EQ(open("short", seal(kKey, "x")).error, OpenError::kBadKeyLength);
}

TEST(Open, DescribesEveryErrorWithoutMentioningTheInputs) {
  for (OpenError e : {OpenError::kTooShort, OpenError::kUnknownVersion, OpenError::kBadKeyLength,
                      OpenError::kAuthenticationFailed, OpenError::kTooLarge}) {
    EXPECT_FALSE(describe(e).empty());
  }
}

TEST(RandomBytes, ReturnsTheRequestedLengthAndDiffers) {
  EXPECT_EQ(random_bytes(0).size(), 0u);
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(32), random_bytes(32));
}

TEST(HashPassword, ProducesAPhcStringWithTheParameters) {
  const std::string h = hash_password("correct horse battery", kFast);
  EXPECT_EQ(h.rfind("$scrypt$ln=10,r=8,p=1$", 0), 0u) << h;
  EXPECT_EQ(h.find("correct horse"), std::string::npos);
  auto params = password_params(h);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->log2_n, 10u);
  EXPECT_EQ(params->r, 8u);
  EXPECT_EQ(params->p, 1u);
}

TEST(HashPassword, UsesN215R8P1ByDefault) {
  const std::string h = hash_password("correct horse battery");
  EXPECT_EQ(h.rfind("$scrypt$ln=15,r=8,p=1$", 0), 0u) << h;
  EXPECT_TRUE(verify_password("correct horse battery", h));
}

TEST(HashPassword, SaltsEachHashDifferently) {
  EXPECT_NE(hash_password("same password", kFast), hash_password("same password", kFast));
}

TEST(HashPassword, RefusesParametersOutsideTheBounds) {
  EXPECT_THROW(hash_password("x", ScryptParams{4, 8, 1}), std::invalid_argument);
  EXPECT_THROW(hash_password("x", ScryptParams{21, 8, 1}), std::invalid_argument);
  EXPECT_THROW(hash_password("x", ScryptParams{15, 0, 1}), std::invalid_argument);
  EXPECT_THROW(hash_password("x", ScryptParams{20, 16, 1}), std::invalid_argument);  // 2 GiB
}

TEST(VerifyPassword, AcceptsTheRightPasswordOnly) {
  const std::string h = hash_password("correct horse battery", kFast);
  EXPECT_TRUE(verify_password("correct horse battery", h));
  EXPECT_FALSE(verify_password("correct horse batterY", h));
  EXPECT_FALSE(verify_password("", h));
}

TEST(VerifyPassword, AcceptsAnEmptyPasswordHashedAsSuch) {
  EXPECT_TRUE(verify_password("", hash_password("", kFast)));
}

TEST(VerifyPassword, MatchesAnIndependentScryptVector) {
  // RFC 7914 §12, second vector: P="password", S="NaCl", N=1024, r=8, p=16
  // (first 32 bytes of the 64-byte output).
  const std::string salt = base64_encode("NaCl");
  const unsigned char dk[] = {0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00, 0x78, 0x56, 0xe7,
                              0x19, 0x0d, 0x01, 0xe9, 0xfe, 0x7c, 0x6a, 0xd7, 0xcb, 0xc8, 0x23,
                              0x78, 0x30, 0xe7, 0x73, 0x76, 0x63, 0x4b, 0x37, 0x31, 0x62};
  const std::string hash = base64_encode(std::string_view(reinterpret_cast<const char*>(dk), sizeof dk));
  const std::string encoded = "$scrypt$ln=10,r=8,p=16$" + salt + "$" + hash;
  EXPECT_TRUE(verify_password("password", encoded));
  EXPECT_FALSE(verify_password("Password", encoded));
}

TEST(VerifyPassword, ReturnsFalseForMalformedStrings) {
  const std::string good = hash_password("pw-pw-pw-pw-pw", kFast);
  for (const std::string& bad : {std::string(), std::string("$scrypt$"), std::string("plain text"),
                                 std::string("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"),
                                 std::string("$scrypt$ln=10,r=8$c2FsdA$aGFzaA"),
                                 std::string("$scrypt$ln=x,r=8,p=1$c2FsdA$aGFzaA"),
                                 good.substr(0, good.size() - 2), good + "!", good + "$extra"}) {
    EXPECT_FALSE(verify_password("pw-pw-pw-pw-pw", bad)) << bad;
  }
}

TEST(VerifyPassword, RefusesParametersThatWouldExhaustMemory) {
  std::string h = hash_password("pw", kFast);
  h.replace(0, std::string("$scrypt$ln=10").size(), "$scrypt$ln=30");
  EXPECT_FALSE(verify_password("pw", h));
}

TEST(Base64, RoundTripsEveryLengthRemainder) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg");
  EXPECT_EQ(base64_encode("fo"), "Zm8");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg");
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
}

TEST(Base64, RejectsForeignCharactersAndImpossibleLengths) {
  EXPECT_FALSE(base64_decode("Zm9v!"));
  EXPECT_FALSE(base64_decode("Z"));
  EXPECT_FALSE(base64_decode("Zm9v-_"));
}

}  // namespace
