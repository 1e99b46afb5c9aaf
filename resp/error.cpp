#include "resp/error.hpp"

namespace sluice::resp {

namespace {

class category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "resp"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::invalid_type_byte:
                return "RESP: unknown type byte";
            case errc::invalid_length:
                return "RESP: invalid length (negative, non-numeric or over the limit)";
            case errc::nesting_too_deep:
                return "RESP: aggregates nested too deep";
            case errc::line_too_long:
                return "RESP: no CRLF within the line length limit";
            case errc::missing_crlf:
                return "RESP: expected CRLF";
            case errc::invalid_integer:
                return "RESP: invalid integer";
            case errc::invalid_double:
                return "RESP: invalid double";
            case errc::invalid_boolean:
                return "RESP: invalid boolean (expected #t or #f)";
            case errc::invalid_verbatim:
                return "RESP: verbatim string without a three-letter format and ':'";
            case errc::invalid_attribute:
                return "RESP: attribute not followed by a value";
            case errc::not_connected:
                return "not connected to Redis";
            case errc::disconnected:
                return "connection to Redis lost with the request in flight";
            case errc::timeout:
                return "Redis did not reply in time";
            case errc::connect_timeout:
                return "connecting to Redis timed out";
            case errc::handshake_failed:
                return "Redis rejected the handshake (HELLO, AUTH or SELECT)";
            case errc::stopped:
                return "connection stopped";
            case errc::script_load_failed:
                return "script not cached and SCRIPT LOAD failed";
            case errc::unexpected_reply:
                return "Redis sent a reply no request was waiting for";
            case errc::health_check_failed:
                return "Redis did not answer the health check's PING in time";
            case errc::invalid_url:
                return "invalid Redis URL";
            case errc::unsupported_scheme:
                return "unsupported Redis URL scheme (only redis://)";
            case errc::topology_error_reply:
                return "cluster topology: the node answered with an error";
            case errc::topology_not_array:
                return "cluster topology: the reply is not an array";
            case errc::topology_bad_shape:
                return "cluster topology: unexpected element type or nesting";
            case errc::topology_empty:
                return "cluster topology: the reply lists no shard";
            case errc::topology_bad_slot:
                return "cluster topology: invalid slot range (not in 0..16383, start after end, "
                       "or unpaired)";
            case errc::topology_slot_conflict:
                return "cluster topology: a slot is claimed by two shards";
            case errc::topology_no_primary:
                return "cluster topology: a shard that owns slots has no primary";
            case errc::topology_bad_port:
                return "cluster topology: a node's port is missing or not in 1..65535";
            case errc::topology_incomplete:
                return "cluster topology: the reply was cut short";
            case errc::retargeted:
                return "the connection was pointed at another server";
            case errc::not_primary:
                return "the server is a replica, not the primary (ROLE)";
            case errc::sentinel_unknown_master:
                return "Sentinel monitors no primary of that name";
            case errc::sentinel_error_reply:
                return "Sentinel answered with an error";
            case errc::sentinel_bad_reply:
                return "Sentinel's reply is not a host and a port in 1..65535";
            case errc::cluster_unavailable:
                return "no node of the Redis Cluster serves this slot (CLUSTERDOWN, or no "
                       "primary owns it)";
        }
        return "resp error " + std::to_string(ev);
    }
};

}  // namespace

const std::error_category& resp_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace sluice::resp
