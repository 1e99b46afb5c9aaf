#pragma once

#include <string>
#include <string_view>

#include "resp/serializer.hpp"

namespace sluice::resp {

// A Lua script, known to Redis by the SHA-1 of its source. Registered once per process; run with
// EVALSHA, which sends 40 bytes instead of the source. connection::exec(script, ...) reloads it
// when a server has forgotten it.
class script {
  public:
    explicit script(std::string source);

    const std::string& source() const noexcept { return source_; }
    const std::string& sha() const noexcept { return sha_; }

    // Appends `EVALSHA <sha> <numkeys> keys... args...` to `req`. Every key the script touches is
    // in KEYS, so Redis Cluster can route the call to the node that owns them.
    template <class... Args>
    void push(request& req, std::initializer_list<std::string_view> keys,
              const Args&... args) const {
        req.write_array_header(3 + keys.size() + sizeof...(Args));
        req.write_bulk("EVALSHA");
        req.write_bulk(sha_);
        req.write_arg(keys.size());
        for (auto k : keys)
            req.write_bulk(k);
        (req.write_arg(args), ...);
        req.end_command();
    }

    // Appends `SCRIPT LOAD <source>`.
    void push_load(request& req) const { req.push("SCRIPT", "LOAD", source_); }

  private:
    std::string source_;
    std::string sha_;
};

}  // namespace sluice::resp
