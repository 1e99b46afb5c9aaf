#include "core/forward_auth.hpp"

namespace sluice::core {

original_request original_request_of(const http::request& call) noexcept {
    std::string_view forwarded_method;
    std::string_view forwarded_host;
    std::string_view forwarded_uri;
    std::string_view original_method;
    std::string_view original_uri;
    std::string_view host;
    // One pass over the fields; the first non-empty value of each name counts, as
    // http::request::header() would return it.
    auto take = [](std::string_view& slot, std::string_view value) {
        if (slot.empty()) slot = value;
    };
    for (const auto& f : call.fields()) {
        if (http::iequals(f.name, "x-forwarded-method")) {
            take(forwarded_method, f.value);
        } else if (http::iequals(f.name, "x-forwarded-host")) {
            take(forwarded_host, f.value);
        } else if (http::iequals(f.name, "x-forwarded-uri")) {
            take(forwarded_uri, f.value);
        } else if (http::iequals(f.name, "x-original-method")) {
            take(original_method, f.value);
        } else if (http::iequals(f.name, "x-original-uri")) {
            take(original_uri, f.value);
        } else if (http::iequals(f.name, "host")) {
            take(host, f.value);
        }
    }
    original_request out;
    out.method = !forwarded_method.empty()  ? forwarded_method
                 : !original_method.empty() ? original_method
                                            : call.method;
    out.host = !forwarded_host.empty() ? forwarded_host : host;
    if (!forwarded_uri.empty()) {
        out.uri = forwarded_uri;
        out.source = original_request::origin::forwarded;
    } else if (!original_uri.empty()) {
        out.uri = original_uri;
        out.source = original_request::origin::original;
    } else {
        out.uri = call.target;
        out.source = original_request::origin::request;
    }
    return out;
}

}  // namespace sluice::core
