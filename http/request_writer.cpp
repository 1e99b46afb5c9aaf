#include "http/request_writer.hpp"

#include <array>
#include <charconv>

namespace sluice::http {

namespace {

constexpr std::array<std::string_view, 8> hop_by_hop_fields = {
    "connection", "keep-alive", "proxy-connection",  "proxy-authorization",
    "te",         "trailer",    "transfer-encoding", "upgrade",
};

constexpr bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

// Calls f(token) for each element of a comma-separated list, OWS trimmed, empty ones skipped;
// stops early when f returns true and says so.
template <typename F>
bool any_token(std::string_view list, F f) noexcept {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        std::string_view token = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        while (!token.empty() && is_ows(token.front()))
            token.remove_prefix(1);
        while (!token.empty() && is_ows(token.back()))
            token.remove_suffix(1);
        if (!token.empty() && f(token)) return true;
    }
    return false;
}

bool lists_token(std::span<const header> fields, std::string_view name,
                 std::string_view token) noexcept {
    for (const header& h : fields) {
        if (!iequals(h.name, name)) continue;
        if (any_token(h.value, [&](std::string_view t) { return iequals(t, token); })) return true;
    }
    return false;
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

void append_number(std::string& out, std::uint64_t n, int base = 10) {
    std::array<char, 24> digits;
    const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), n, base);
    (void)ec;
    out.append(digits.data(), end);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

void append_framing(std::string& out, body_length body, std::uint64_t content_length) {
    switch (body) {
        case body_length::none:
            break;
        case body_length::known:
            out.append("Content-Length: ");
            append_number(out, content_length);
            out.append("\r\n");
            break;
        case body_length::chunked:
            out.append("Transfer-Encoding: chunked\r\n");
            break;
    }
}

bool in_fixed_list(std::string_view name) noexcept {
    for (const std::string_view h : hop_by_hop_fields) {
        if (iequals(name, h)) return true;
    }
    return false;
}

// The hop-by-hop fields of one head: the fixed list and the names its Connection fields list,
// collected once, so that testing each of its n fields costs a few comparisons instead of a scan
// of all n fields for the Connection ones (n² per head).
class hop_by_hop_names {
  public:
    explicit hop_by_hop_names(std::span<const header> fields) noexcept : fields_(fields) {
        for (const header& h : fields) {
            if (!iequals(h.name, "connection")) continue;
            any_token(h.value, [&](std::string_view token) {
                // Dropped, or never dropped, anyway: no need to spend room on them.
                if (in_fixed_list(token) || iequals(token, "host")) return false;
                if (count_ == names_.size()) {
                    overflow_ = true;
                    return true;
                }
                names_[count_++] = token;
                return false;
            });
            if (overflow_) break;
        }
    }

    // is_hop_by_hop(name, fields), in a few comparisons.
    bool contains(std::string_view name) const noexcept {
        if (iequals(name, "host")) return false;
        if (in_fixed_list(name)) return true;
        // More names than room: the scan of every Connection field, as before, so the answer is
        // the same. Both other ways out are worse: forwarding a field the client named as
        // hop-by-hop (it may carry what was meant for this proxy alone, a credential), or
        // dropping every field of the head. Only a head written to cost more gets here, and it
        // costs what every head used to, bounded by the parsers' field limits (64 for a request,
        // 128 for a response).
        if (overflow_) return lists_token(fields_, "connection", name);
        for (std::size_t i = 0; i < count_; ++i) {
            if (iequals(name, names_[i])) return true;
        }
        return false;
    }

  private:
    // Connection lists a name or two in practice, besides `keep-alive` (in the fixed list, so not
    // kept here) and `close`.
    std::array<std::string_view, 16> names_{};
    std::size_t count_ = 0;
    bool overflow_ = false;
    std::span<const header> fields_;
};

// Fields a proxy never copies: hop-by-hop ones, and Content-Length, which we write ourselves.
bool dropped_in_transit(std::string_view name, const hop_by_hop_names& hop) noexcept {
    return iequals(name, "content-length") || hop.contains(name);
}

// Our rate-limit fields replace the upstream's fields of the same name: a client reading two
// X-RateLimit-Remaining values could not tell which limit applies.
bool named_in(std::string_view name, std::span<const header> fields) noexcept {
    for (const header& h : fields) {
        if (iequals(h.name, name)) return true;
    }
    return false;
}

}  // namespace

bool is_hop_by_hop(std::string_view name, std::span<const header> fields) noexcept {
    if (iequals(name, "host")) return false;
    return in_fixed_list(name) || lists_token(fields, "connection", name);
}

bool is_websocket_upgrade(std::span<const header> fields) noexcept {
    return lists_token(fields, "upgrade", "websocket") &&
           lists_token(fields, "connection", "upgrade");
}

upstream_request upstream_request_for(const request& r, std::string_view prefix,
                                      std::string_view peer, bool peer_trusted) noexcept {
    upstream_request u;
    u.method = r.method;
    u.target = r.target;
    u.fields = r.fields();
    u.prefix = prefix;
    if (r.chunked) {
        u.body = body_length::chunked;
    } else if (r.content_length) {
        u.body = body_length::known;
        u.content_length = *r.content_length;
    }
    u.peer = peer;
    u.peer_trusted = peer_trusted;
    return u;
}

void append_target(std::string& out, std::string_view prefix, std::string_view target) {
    if (target.empty() || target.front() != '/') {
        // `*` or absolute-form: nothing to join a path prefix to.
        out.append(target);
        return;
    }
    while (!prefix.empty() && prefix.back() == '/')
        prefix.remove_suffix(1);
    if (!prefix.empty() && prefix.front() != '/') out.push_back('/');
    out.append(prefix);
    out.append(target);
}

std::size_t write_request_head(std::string& out, const upstream_request& r) {
    const std::size_t start = out.size();
    const bool websocket = r.method == "GET" && is_websocket_upgrade(r.fields);
    out.append(r.method);
    out.push_back(' ');
    append_target(out, r.prefix, r.target);
    out.append(" HTTP/1.1\r\n");

    const hop_by_hop_names hop_fields{r.fields};
    std::string_view host;
    bool sent_proto = false;
    bool sent_host = false;
    for (const header& h : r.fields) {
        if (iequals(h.name, "host") && host.empty()) host = h.value;
        if (dropped_in_transit(h.name, hop_fields)) continue;
        if (istarts_with(h.name, "x-forwarded-")) {
            // A client can write anything there; only a proxy we trust vouches for it.
            if (!r.peer_trusted) continue;
            if (iequals(h.name, "x-forwarded-for")) continue;  // rewritten below, peer appended
            if (iequals(h.name, "x-forwarded-proto")) sent_proto = true;
            if (iequals(h.name, "x-forwarded-host")) sent_host = true;
        }
        append_field(out, h.name, h.value);
    }
    if (websocket) out.append("Connection: upgrade\r\nUpgrade: websocket\r\n");

    // Several X-Forwarded-For fields are one list (RFC 9110 section 5.3); written as one field.
    out.append("X-Forwarded-For: ");
    if (r.peer_trusted) {
        for (const header& h : r.fields) {
            if (!iequals(h.name, "x-forwarded-for") || hop_fields.contains(h.name)) continue;
            any_token(h.value, [&](std::string_view hop) {
                out.append(hop);
                out.append(", ");
                return false;
            });
        }
    }
    out.append(r.peer);
    out.append("\r\n");
    if (!sent_proto) out.append("X-Forwarded-Proto: http\r\n");
    if (!sent_host && !host.empty()) append_field(out, "X-Forwarded-Host", host);

    append_framing(out, r.body, r.content_length);
    out.append("\r\n");
    return out.size() - start;
}

std::size_t write_response_head(std::string& out, const relayed_response& r) {
    const std::size_t start = out.size();
    const unsigned status = r.status >= 100 && r.status <= 599 ? r.status : 502;
    out.append("HTTP/1.1 ");
    append_number(out, status);
    out.push_back(' ');
    out.append(r.reason.empty() ? reason_phrase(status) : r.reason);
    out.append("\r\n");
    const hop_by_hop_names hop_fields{r.fields};
    for (const header& h : r.fields) {
        if (dropped_in_transit(h.name, hop_fields) || named_in(h.name, r.extra)) continue;
        append_field(out, h.name, h.value);
    }
    for (const header& h : r.extra)
        append_field(out, h.name, h.value);
    append_framing(out, r.body, r.content_length);
    if (status == 101 && is_websocket_upgrade(r.fields)) {
        out.append("Connection: upgrade\r\nUpgrade: websocket\r\n");
    } else if (r.connection == connection_header::close) {
        out.append("Connection: close\r\n");
    } else if (r.connection == connection_header::keep_alive) {
        out.append("Connection: keep-alive\r\n");
    }
    out.append("\r\n");
    return out.size() - start;
}

void write_chunk_header(std::string& out, std::size_t size) {
    append_number(out, size, 16);
    out.append("\r\n");
}

void write_chunk(std::string& out, std::string_view data) {
    if (data.empty()) return;
    write_chunk_header(out, data.size());
    out.append(data);
    out.append(chunk_end);
}

void write_last_chunk(std::string& out) {
    out.append("0\r\n\r\n");
}

}  // namespace sluice::http
