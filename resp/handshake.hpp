#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "resp/config.hpp"
#include "resp/node.hpp"
#include "resp/serializer.hpp"

namespace sluice::resp {

class script;

// What a new link sends before any request, and how its replies are judged. Pure: built from the
// configuration, fed the replies' nodes.
//
// HELLO 3 (with AUTH) or AUTH, then SELECT, then one SCRIPT LOAD per script the connection will
// run: all in one write, all read back before the link is ready, so every request afterwards runs
// authenticated, in the right database, with its scripts cached. Preloading turns the NOSCRIPT
// round trip that the first EVALSHA of every new link would pay (after a restart or failover)
// into part of the handshake.
//
// With require_primary, ROLE follows SELECT, and a server whose role is not `master` fails the
// handshake like a refused AUTH: it is a replica (or a Sentinel) where a primary was expected.
//
// A refused HELLO, AUTH or SELECT fails the handshake: nothing sent afterwards would run as
// configured. A refused SCRIPT LOAD (a script that does not compile) does not: the link works for
// everything else, and the script's own calls report script_load_failed.
class handshake {
  public:
    handshake(const connection_config& cfg, std::span<const script* const> scripts);

    const request& req() const noexcept { return req_; }
    bool done() const noexcept { return replies_ == req_.commands(); }

    // The nodes of the current reply, then one reply_done() per complete reply.
    void on_node(const node& n);
    void reply_done() noexcept { ++replies_; }

    // Empty while the server accepted everything that matters, else its first refusal.
    const std::string& error() const noexcept { return error_; }

  private:
    static constexpr std::size_t no_role = static_cast<std::size_t>(-1);

    request req_;
    std::size_t fatal_ = 0;  // the first `fatal_` commands must succeed (HELLO, AUTH, SELECT, ROLE)
    std::size_t role_ = no_role;  // ROLE's index among the replies
    bool role_checked_ = false;   // its first element (the role's name) was seen
    std::size_t replies_ = 0;
    std::string error_;
};

}  // namespace sluice::resp
