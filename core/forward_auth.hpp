#pragma once

#include <cstdint>
#include <string_view>

#include "http/request.hpp"

namespace sluice::core {

// The request a forward-auth call asks about (--forward-auth). Every view points into the
// call's own request.
struct original_request {
    // Which fields described it: Traefik's X-Forwarded-Method/-Host/-Uri, nginx's
    // X-Original-Method/-URI (as the usual auth_request configurations set them), or none, as
    // with Envoy's ext_authz, which sends the original method and path as its own.
    enum class origin : std::uint8_t { forwarded, original, request };

    std::string_view method;
    std::string_view host;
    std::string_view uri;
    origin source = origin::request;

    friend bool operator==(const original_request&, const original_request&) = default;
};

// Each of method, host and URI is taken on its own from the first non-empty field among
// X-Forwarded-*, then X-Original-* (there is no X-Original-Host), then the call itself (its
// method, Host field, target). `source` names where the URI came from: the field that rules will
// match on, and the one a misconfigured proxy forgets.
original_request original_request_of(const http::request& call) noexcept;

}  // namespace sluice::core
