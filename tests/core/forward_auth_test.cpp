#include "core/forward_auth.hpp"

#include <gtest/gtest.h>

#include <initializer_list>

namespace sluice::core {
namespace {

using origin = original_request::origin;

http::request call(std::string_view method, std::string_view target,
                   std::initializer_list<http::header> fields) {
    http::request r;
    r.method = method;
    r.target = target;
    for (const auto& f : fields)
        r.headers[r.header_count++] = f;
    return r;
}

TEST(ForwardAuth, TraefikSendsXForwarded) {
    const auto r = call("GET", "/",
                        {{"Host", "sluice:8080"},
                         {"X-Forwarded-Method", "POST"},
                         {"X-Forwarded-Proto", "https"},
                         {"X-Forwarded-Host", "api.example.com"},
                         {"X-Forwarded-Uri", "/login?next=%2F"},
                         {"X-Forwarded-For", "203.0.113.7"}});
    EXPECT_EQ(original_request_of(r),
              (original_request{"POST", "api.example.com", "/login?next=%2F", origin::forwarded}));
}

TEST(ForwardAuth, NginxSendsXOriginal) {
    const auto r = call("GET", "/",
                        {{"Host", "127.0.0.1:8080"},
                         {"X-Original-URI", "/orders/42"},
                         {"X-Original-Method", "DELETE"}});
    EXPECT_EQ(original_request_of(r),
              (original_request{"DELETE", "127.0.0.1:8080", "/orders/42", origin::original}));
}

TEST(ForwardAuth, EnvoySendsTheRequestItself) {
    const auto r = call("PUT", "/v1/items?x=1", {{"host", "shop.example"}});
    EXPECT_EQ(original_request_of(r),
              (original_request{"PUT", "shop.example", "/v1/items?x=1", origin::request}));
}

TEST(ForwardAuth, XForwardedWinsOverXOriginalFieldByField) {
    const auto both = call("GET", "/",
                           {{"X-Original-Method", "DELETE"},
                            {"X-Original-URI", "/original"},
                            {"X-Forwarded-Uri", "/forwarded"},
                            {"X-Forwarded-Method", "PATCH"}});
    EXPECT_EQ(original_request_of(both),
              (original_request{"PATCH", "", "/forwarded", origin::forwarded}));
    // Each part on its own: a method from one convention and the URI from the other.
    const auto mixed =
        call("GET", "/", {{"X-Original-URI", "/original"}, {"X-Forwarded-Method", "PATCH"}});
    EXPECT_EQ(original_request_of(mixed),
              (original_request{"PATCH", "", "/original", origin::original}));
}

TEST(ForwardAuth, MissingOrEmptyFieldsFallBackToTheRequest) {
    const auto none = call("HEAD", "/auth", {});
    EXPECT_EQ(original_request_of(none), (original_request{"HEAD", "", "/auth", origin::request}));
    const auto empty = call("GET", "/auth",
                            {{"Host", "gw"},
                             {"X-Forwarded-Uri", ""},
                             {"X-Forwarded-Host", ""},
                             {"X-Original-Method", ""},
                             {"X-Original-URI", "/kept"}});
    EXPECT_EQ(original_request_of(empty),
              (original_request{"GET", "gw", "/kept", origin::original}));
}

TEST(ForwardAuth, NamesAreCaseInsensitiveAndTheFirstFieldCounts) {
    const auto r = call("GET", "/",
                        {{"x-forwarded-uri", "/first"},
                         {"X-FORWARDED-URI", "/second"},
                         {"x-forwarded-host", "a"},
                         {"X-Forwarded-Host", "b"}});
    EXPECT_EQ(original_request_of(r), (original_request{"GET", "a", "/first", origin::forwarded}));
}

}  // namespace
}  // namespace sluice::core
