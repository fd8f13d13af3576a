#include "bitbucket/errors.hpp"

#include <gtest/gtest.h>

namespace {

using namespace bbreview::bitbucket;

TEST(DecodeError, ReadsTheStandardJsonEnvelopeWithFieldsAndId) {
    auto e = decode_error(400, "application/json",
                          R"({"type":"error","error":{"message":"Bad request","detail":"You must specify a valid source branch",
                              "fields":{"src":["This field is required."]},"id":"d23a1c","data":{"extra":"x"}}})");
    EXPECT_EQ(e.kind, ErrorKind::client);
    EXPECT_EQ(e.message, "Bad request");
    EXPECT_EQ(e.detail, "You must specify a valid source branch");
    EXPECT_EQ(e.fields, R"({"src":["This field is required."]})");
    EXPECT_EQ(e.id, "d23a1c");
}

TEST(DecodeError, AcceptsFieldsWhoseValuesAreStrings) {
    auto e = decode_error(400, "application/json",
                          R"({"type":"error","error":{"message":"Bad request","fields":{"pending":"extra keys not allowed"}}})");
    EXPECT_EQ(e.fields, R"({"pending":"extra keys not allowed"})");
}

TEST(DecodeError, TurnsA403WithRequiredScopesIntoAScopeError) {
    auto e = decode_error(403, "application/json; charset=utf-8",
                          R"({"type":"error","error":{"message":"Your credentials lack one or more required privilege scopes.",
                              "detail":{"required":["read:user:bitbucket"],"granted":["read:repository:bitbucket"]}}})");
    EXPECT_EQ(e.kind, ErrorKind::scope);
    EXPECT_EQ(e.required, std::vector<std::string>{"read:user:bitbucket"});
    EXPECT_EQ(e.granted, std::vector<std::string>{"read:repository:bitbucket"});
    EXPECT_TRUE(e.detail.empty());
}

TEST(DecodeError, FallsBackToTheScopeHeaderWhenGrantedIsAbsent) {
    auto e = decode_error(403, "application/json",
                          R"({"type":"error","error":{"message":"m","detail":{"required":["a"]}}})", " b ,c,, ");
    EXPECT_EQ(e.kind, ErrorKind::scope);
    EXPECT_EQ(e.granted, (std::vector<std::string>{"b", "c"}));
}

TEST(DecodeError, TreatsOther403sAsPermissionDenied) {
    auto e = decode_error(403, "application/json", R"({"type":"error","error":{"message":"Forbidden"}})");
    EXPECT_EQ(e.kind, ErrorKind::permission_denied);
    EXPECT_EQ(e.message, "Forbidden");
}

TEST(DecodeError, ReadsThePlainText401OfBadBasicCredentials) {
    auto e = decode_error(401, "text/plain",
                          "\nLogin failed due to incorrect login credentials or method.\n\nSee https://support.atlassian.com/...\n");
    EXPECT_EQ(e.kind, ErrorKind::auth);
    EXPECT_EQ(e.message, "Login failed due to incorrect login credentials or method.");
}

TEST(DecodeError, ReadsTheJson401OfAnUnsupportedToken) {
    auto e = decode_error(401, "application/json",
                          R"({"type":"error","error":{"message":"Token is invalid, expired, or not supported for this endpoint."}})");
    EXPECT_EQ(e.kind, ErrorKind::auth);
    EXPECT_EQ(e.message, "Token is invalid, expired, or not supported for this endpoint.");
}

TEST(DecodeError, ReadsThePlainText429) {
    auto e = decode_error(429, "text/plain", "Rate limit for this resource has been exceeded");
    EXPECT_EQ(e.kind, ErrorKind::rate_limited);
    EXPECT_EQ(e.message, "Rate limit for this resource has been exceeded");
}

TEST(DecodeError, ReadsTheTitleOfAnHtmlPage) {
    auto e = decode_error(400, "text/html",
                          "<!DOCTYPE html><html><head><title>Bad Request (400)</title></head><body><h1>Bad Request</h1></body></html>");
    EXPECT_EQ(e.kind, ErrorKind::client);
    EXPECT_EQ(e.message, "Bad Request (400)");
}

TEST(DecodeError, SniffsHtmlWithoutAContentType) {
    auto e = decode_error(502, "", "<html><body><h1>  Bad\n Gateway </h1></body></html>");
    EXPECT_EQ(e.kind, ErrorKind::server);
    EXPECT_EQ(e.message, "Bad Gateway");
}

TEST(DecodeError, Maps555ToServerErrorWithItsJsonMessage) {
    auto e = decode_error(555, "application/json", R"({"type":"error","error":{"message":"Diff too large"}})");
    EXPECT_EQ(e.kind, ErrorKind::server);
    EXPECT_EQ(e.message, "Diff too large");
}

TEST(DecodeError, NeverFailsOnEmptyOrBrokenBodies) {
    EXPECT_EQ(decode_error(404, "application/json", "").message, "HTTP 404 with an empty or unreadable body");
    EXPECT_EQ(decode_error(404, "application/json", "").kind, ErrorKind::not_found);
    EXPECT_EQ(decode_error(500, "application/json", "{not json").message, "{not json");
    auto big = decode_error(500, "text/plain", std::string(5000, 'x'));
    EXPECT_LE(big.message.size(), 503u);
}

TEST(DecodeError, KeepsANonStandardDetailObjectAsText) {
    auto e = decode_error(400, "application/json", R"({"type":"error","error":{"message":"m","detail":{"why":1}}})");
    EXPECT_EQ(e.detail, R"({"why":1})");
}

TEST(SplitScopes, TrimsOddWhitespace) {
    EXPECT_EQ(split_scopes(" read:a ,\twrite:b,,"), (std::vector<std::string>{"read:a", "write:b"}));
    EXPECT_TRUE(split_scopes("").empty());
}

}  // namespace
