#include "webhook/signature.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace {

using namespace bbreview::webhook;

// Reference §7.2, verified against Bitbucket's documentation.
constexpr const char* kSecret = "It's a Secret to Everybody";
constexpr const char* kBody = "Hello World!";
constexpr const char* kExpected = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9";

TEST(Signature, MatchesTheReferenceTestVector) { EXPECT_EQ(sign(kSecret, kBody), kExpected); }

TEST(Signature, VerifiesTheReferenceTestVector) { EXPECT_TRUE(verify(kSecret, kBody, kExpected)); }

TEST(Signature, RejectsWrongSecret) { EXPECT_FALSE(verify("another secret", kBody, kExpected)); }

TEST(Signature, RejectsAlteredBody) { EXPECT_FALSE(verify(kSecret, "Hello World?", kExpected)); }

TEST(Signature, RejectsADigestDifferingInAnyOneByte) {
    std::string good = kExpected;
    // Every position, first and last included, takes the same comparison path.
    for (std::size_t i = kSignaturePrefix.size(); i < good.size(); ++i) {
        std::string bad = good;
        bad[i] = bad[i] == '0' ? '1' : '0';
        EXPECT_FALSE(verify(kSecret, kBody, bad)) << "position " << i;
    }
}

TEST(Signature, AcceptsUppercaseHexAndPrefixAndSurroundingSpace) {
    std::string upper = kExpected;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); });
    EXPECT_TRUE(verify(kSecret, kBody, upper));
    EXPECT_TRUE(verify(kSecret, kBody, std::string("  ") + kExpected + "\t"));
}

TEST(Signature, RejectsMalformedHeaders) {
    std::string digest = std::string(kExpected).substr(kSignaturePrefix.size());
    EXPECT_FALSE(verify(kSecret, kBody, ""));
    EXPECT_FALSE(verify(kSecret, kBody, digest));                        // no prefix
    EXPECT_FALSE(verify(kSecret, kBody, "sha1=" + digest));              // another scheme
    EXPECT_FALSE(verify(kSecret, kBody, "sha256="));                     // no digest
    EXPECT_FALSE(verify(kSecret, kBody, "sha256=" + digest.substr(1)));  // too short
    EXPECT_FALSE(verify(kSecret, kBody, "sha256=" + digest + "00"));     // too long
    EXPECT_FALSE(verify(kSecret, kBody, "sha256=" + digest.substr(2) + "zz"));  // not hex
    EXPECT_FALSE(verify(kSecret, kBody, "sha256 =" + digest));
}

TEST(Signature, SignsEmptyBodiesAndEmptySecrets) {
    auto s = sign("", "");
    EXPECT_EQ(s.size(), kSignaturePrefix.size() + kSignatureHexDigits);
    EXPECT_TRUE(verify("", "", s));
    EXPECT_FALSE(verify("x", "", s));
}

}  // namespace
