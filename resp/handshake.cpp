#include "resp/handshake.hpp"

#include "resp/script.hpp"

namespace sluice::resp {

handshake::handshake(const connection_config& cfg, std::span<const script* const> scripts) {
    if (cfg.protocol == 3) {
        if (!cfg.password.empty()) {
            req_.push("HELLO", "3", "AUTH", cfg.user.empty() ? "default" : cfg.user, cfg.password);
        } else {
            req_.push("HELLO", "3");
        }
    } else if (!cfg.password.empty()) {
        if (cfg.user.empty())
            req_.push("AUTH", cfg.password);
        else
            req_.push("AUTH", cfg.user, cfg.password);
    }
    if (cfg.db != 0) req_.push("SELECT", cfg.db);
    if (cfg.require_primary) {
        role_ = req_.commands();
        req_.push("ROLE");
    }
    fatal_ = req_.commands();
    for (const script* s : scripts)
        s->push_load(req_);
}

void handshake::on_node(const node& n) {
    if (replies_ == role_) {
        // ROLE's reply: an array whose first element names the role.
        if (n.depth == 0 && !is_error(n.data_type) && n.data_type != type::array &&
            error_.empty()) {
            error_ = "ROLE: unexpected reply";
        }
        if (n.depth == 1 && !role_checked_) {
            role_checked_ = true;
            if (n.value != "master" && error_.empty()) {
                error_ = "ROLE: the server is a ";
                for (const char c : n.value.substr(0, 16))
                    error_ += (c >= 0x20 && c < 0x7f) ? c : '?';
                error_ += ", not the primary";
            }
        }
    }
    if (n.depth != 0 || !is_error(n.data_type)) return;
    if (replies_ < fatal_ && error_.empty()) error_ = std::string(n.value);
}

}  // namespace sluice::resp
